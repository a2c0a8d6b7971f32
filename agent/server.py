"""The agent's one HTTP server: an ASGI app (Starlette) on the agent's own event loop.

Serves `/metrics` (the last render, kept fresh off the loop; gzip), `/healthz`, the JSON API of
`agent.api` under `/api/v1` with its OpenAPI document at `/openapi.json`, and the pages of
`agent.web`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import math
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.api import ApiContext, install
from agent.core.clock import Clock, SystemClock
from agent.core.model import Secret
from agent.exposition import Exposition
from agent.http_limits import BACKLOG, AcceptErrorLog, GuardedH11Protocol, HttpLimits
from agent.metrics import Metrics, Snapshot
from agent.throttle import RefusalThrottle
from agent.web.pages import WebContext
from agent.web.pages import install as install_pages

if TYPE_CHECKING:
    from agent.status import DevicesJson

log = logging.getLogger(__name__)

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"
# /metrics: a body is re-rendered after 1 s (longer when renders are slow, at most 10 s; see
# Exposition); a scrape waits up to 0.1 s for a render only when the last one was that quick.
METRICS_MAX_AGE_S = 1.0
METRICS_WAIT_S = 0.1
#: a request body above this gets a 413 unless [agent] max_body_bytes says otherwise
MAX_BODY_BYTES = 1024 * 1024


def build_app(
    metrics: Metrics,
    snapshot: Callable[[], Snapshot],
    devices_json: DevicesJson,
    healthy: Callable[[], bool],
    api: ApiContext | None = None,
    web: WebContext | None = None,
    clock: Clock | None = None,
    *,
    metrics_token: Secret | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_unauthorized: Callable[[], None] | None = None,
    store: Callable[[], str] | None = None,
) -> FastAPI:
    """The ASGI app. `snapshot()` is called on the loop; the body is rendered again when the
    snapshot changed, on the loop in short slices, joined and gzipped in a thread (see
    `Exposition`; `clock` times its cache).

    With `api`, the authenticated /api/v1 routes; without (no ticket service), only an
    unauthenticated /api/v1/devices. With `web`, the pages (sign-in, boards, tickets).
    With `metrics_token`, /metrics asks for it (bearer, or basic auth with any user name).
    A request body above `max_body_bytes` gets a 413; `on_unauthorized` counts each 401.

    `store()` says how the ticket store is: "ready", or "joining" with the class of the last
    failure ("joining (BackendUnavailable)"); /healthz shows it, and while it is not ready
    everything but /metrics, /healthz and /api/v1/devices answers 503 with a generic text."""

    clock = clock or SystemClock()
    exposition = Exposition(metrics, snapshot, clock,
                            max_age_seconds=METRICS_MAX_AGE_S, wait_seconds=METRICS_WAIT_S)
    scraper = ScrapeToken(metrics_token)
    throttle = RefusalThrottle(clock)  # refused tokens per client address: API and /metrics

    async def get_metrics(request: Request) -> Response:
        if metrics_token is not None:
            address = request.client.host if request.client else "unknown"
            wait = throttle.wait_seconds(address)
            if wait > 0:
                return PlainTextResponse("too many failed authentications; try later\n",
                                         status_code=429,
                                         headers={"Retry-After": str(math.ceil(wait))})
            if not scraper.allows(request.headers.get("authorization")):
                throttle.refused(address)
                if on_unauthorized is not None:
                    on_unauthorized()
                return PlainTextResponse("metrics token required\n", status_code=401, headers={
                    "WWW-Authenticate": 'Bearer, Basic realm="pantau metrics"'})
        body = await exposition.scrape()
        if body.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
            return Response(body.gzipped, media_type=CONTENT_TYPE_LATEST,
                            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(body.plain, media_type=CONTENT_TYPE_LATEST,
                        headers={"Vary": "Accept-Encoding"})

    async def get_healthz(request: Request) -> Response:
        if not healthy():
            return PlainTextResponse("not running\n", status_code=503)
        # monitoring runs: 200, whatever the ticket store does (it joins in the background)
        return PlainTextResponse("ok\n" if store is None else f"ok\nstore: {store()}\n")

    async def get_devices(request: Request) -> Response:
        return JSONResponse({"devices": devices_json()})

    app = FastAPI(
        title="pantau", version="1", docs_url=None, redoc_url=None,
        # Starlette's limit: a 413 when Content-Length says more, or as soon as more was read
        max_body_size=max_body_bytes,
        routes=[
            Route("/metrics", get_metrics, include_in_schema=False),
            Route("/healthz", get_healthz, include_in_schema=False),
        ],
    )
    if api is not None:
        install(app, api, throttle=throttle, on_unauthorized=on_unauthorized)
    else:
        app.add_route("/api/v1/devices", get_devices, include_in_schema=False)
    if web is not None:
        install_pages(app, web)
    if store is not None:
        app.add_middleware(StoreGuard, ready=lambda: store() == "ready")
    app.state.exposition = exposition  # the app runs `exposition.run()` beside the server
    return app


class ScrapeToken:
    """The [agent] metrics_token, if any: Prometheus sends it as a bearer token
    (`authorization`) or as the password of basic auth (`basic_auth`, any user name).
    Only its SHA-256 is kept, compared in constant time."""

    def __init__(self, token: Secret | None) -> None:
        self._digest = None if token is None else _sha(token.reveal())

    def allows(self, header: str | None) -> bool:
        if self._digest is None:
            return True
        scheme, _, value = (header or "").partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value, validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return False
        elif scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(self._digest, _sha(value))


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


#: What answers while the ticket store has not joined (no host, path or error in it).
STORE_JOINING_TEXT = "ticket store not available yet; monitoring runs\n"
OPEN_PATHS = frozenset({"/metrics", "/healthz", "/api/v1/devices"})  # monitoring only
OPEN_PREFIX = "/api/v1/devices/"  # one device (monitoring state and its traps): no store


class StoreGuard:
    """ASGI middleware: 503 for everything but OPEN_PATHS and one device's document
    (OPEN_PREFIX) while `ready()` is false (the API and the pages need the ticket store)."""

    def __init__(self, app: ASGIApp, ready: Callable[[], bool]) -> None:
        self.app = app
        self.ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and path not in OPEN_PATHS
                and not path.startswith(OPEN_PREFIX) and not self.ready()):
            response = PlainTextResponse(STORE_JOINING_TEXT, status_code=503,
                                         headers={"Retry-After": "30"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header takes gzip (`gzip` or `*`, with q > 0)."""
    for part in (header or "").split(","):
        coding, *params = (p.strip().lower() for p in part.split(";"))
        if coding in ("gzip", "*"):
            q = next((p[2:] for p in params if p.startswith("q=")), "1")
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


class GuardedConfig(uvicorn.Config):
    """uvicorn's Config, carrying the `HttpLimits` that `GuardedH11Protocol` reads."""

    def __init__(self, app: Starlette, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.pantau_limits = limits


class EmbeddedServer(uvicorn.Server):
    """uvicorn on an existing loop; the agent, not uvicorn, owns SIGTERM/SIGINT. While it
    serves, failed accepts are logged once per interval (`AcceptErrorLog`)."""

    def __init__(self, config: GuardedConfig, clock: Clock) -> None:
        super().__init__(config)
        self.limits = config.pantau_limits
        self.clock = clock

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(AcceptErrorLog(
            self.clock, self.limits.accept_log_interval_seconds, previous))
        try:
            await super().serve(sockets)
        finally:
            loop.set_exception_handler(previous)


def bind(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """Bind the listening socket up front, so a busy port is a clear start-up error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def make_server(app: Starlette, clock: Clock | None = None,
                limits: HttpLimits | None = None) -> EmbeddedServer:
    """The server for `app`, with `limits` (default `HttpLimits()`) against connection floods."""
    limits = limits or HttpLimits()
    config = GuardedConfig(
        app,
        limits,
        http=GuardedH11Protocol,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        limit_concurrency=limits.limit_concurrency,
        timeout_keep_alive=limits.keep_alive_seconds,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        backlog=limits.backlog,
    )
    return EmbeddedServer(config, clock or SystemClock())
