"""The agent's one HTTP server: an ASGI app (Starlette) on the agent's own event loop.

Serves `/metrics` (the last render, kept fresh off the loop; gzip), `/healthz`, the JSON API of
`agent.api` under `/api/v1` with its OpenAPI document at `/openapi.json`, and the pages of
`agent.web`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.api import ApiContext, install
from agent.core.clock import Clock, SystemClock
from agent.exposition import Exposition
from agent.metrics import Metrics, Snapshot
from agent.web.pages import WebContext
from agent.web.pages import install as install_pages

log = logging.getLogger(__name__)

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"
# /metrics: a body is re-rendered after 1 s (longer when renders are slow, at most 10 s; see
# Exposition); a scrape waits up to 0.1 s for a render only when the last one was that quick.
METRICS_MAX_AGE_S = 1.0
METRICS_WAIT_S = 0.1


def build_app(
    metrics: Metrics,
    snapshot: Callable[[], Snapshot],
    devices_json: Callable[[], list[dict[str, Any]]],
    healthy: Callable[[], bool],
    api: ApiContext | None = None,
    web: WebContext | None = None,
    clock: Clock | None = None,
    store: Callable[[], str] | None = None,
) -> FastAPI:
    """The ASGI app. `snapshot()` is called on the loop; the body is rendered again when the
    snapshot changed, on the loop in short slices, joined and gzipped in a thread (see
    `Exposition`; `clock` times its cache).

    With `api`, the authenticated /api/v1 routes; without (no ticket service), only an
    unauthenticated /api/v1/devices. With `web`, the pages (sign-in, boards, tickets).

    `store()` says how the ticket store is: "ready", or "joining" with the class of the last
    failure ("joining (BackendUnavailable)"); /healthz shows it, and while it is not ready
    everything but /metrics and /healthz answers 503 with a generic text."""

    exposition = Exposition(metrics, snapshot, clock or SystemClock(),
                            max_age_seconds=METRICS_MAX_AGE_S, wait_seconds=METRICS_WAIT_S)

    async def get_metrics(request: Request) -> Response:
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
        routes=[
            Route("/metrics", get_metrics, include_in_schema=False),
            Route("/healthz", get_healthz, include_in_schema=False),
        ],
    )
    if api is not None:
        install(app, api)
    else:
        app.add_route("/api/v1/devices", get_devices, include_in_schema=False)
    if web is not None:
        install_pages(app, web)
    if store is not None:
        app.add_middleware(StoreGuard, ready=lambda: store() == "ready")
    app.state.exposition = exposition  # the app runs `exposition.run()` beside the server
    return app


#: What answers while the ticket store has not joined (no host, path or error in it).
STORE_JOINING_TEXT = "ticket store not available yet; monitoring runs\n"
OPEN_PATHS = frozenset({"/metrics", "/healthz"})


class StoreGuard:
    """ASGI middleware: 503 for everything but /metrics and /healthz while `ready()` is
    false (the API and the pages need the ticket store)."""

    def __init__(self, app: ASGIApp, ready: Callable[[], bool]) -> None:
        self.app = app
        self.ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self.ready():
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


class EmbeddedServer(uvicorn.Server):
    """uvicorn on an existing loop; the agent, not uvicorn, owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front, so a busy port is a clear start-up error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def make_server(app: Starlette) -> EmbeddedServer:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    return EmbeddedServer(config)
