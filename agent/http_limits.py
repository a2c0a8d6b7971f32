"""What keeps the HTTP server up under a flood of strangers: a cap on connections, a deadline
for a request's headers, the open-file limit, and accept errors logged once per interval
instead of once per attempt. (The cap on a request's body is FastAPI's `max_body_size`.)
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.core.clock import Clock

log = logging.getLogger(__name__)

#: asyncio's message when `accept()` fails for lack of file descriptors or memory
ACCEPT_ERROR = "socket.accept() out of system resource"
#: the listen queue, and how many accept() calls asyncio makes per wake-up
BACKLOG = 128


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The server's limits. Connections beyond `limit_concurrency` get a 503; beyond
    `max_connections` they are closed unanswered. A connection whose request headers are not
    all in after `header_timeout_seconds` is closed, as is one idle for
    `keep_alive_seconds` after a response."""

    limit_concurrency: int = 1000
    max_connections: int = 2000
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: int = 5
    max_header_bytes: int = 16 * 1024
    backlog: int = BACKLOG
    accept_log_interval_seconds: float = 60.0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers and a hard cap on
    open connections (`HttpLimits`; the protocol reads them from `config.pantau_limits`).

    uvicorn (0.55, h11) offers `limit_concurrency`, `timeout_keep_alive` and
    `h11_max_incomplete_event_size`, but no deadline for reading a request's headers: its
    keep-alive timer starts only after a response, so a request that never ends its
    headers held its connection forever. The deadline runs on the loop's clock, as
    uvicorn's own keep-alive timer does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits: HttpLimits = getattr(self.config, "pantau_limits", HttpLimits())
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if len(self.connections) > self._limits.max_connections:
            self.transport.abort()  # no file descriptor is held for a stranger past the cap
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        # IDLE: no complete request head yet (a new connection, or between two requests)
        if self.conn.their_state is h11.IDLE:
            self._arm()
        else:
            self._disarm()

    def _arm(self) -> None:
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(
                self._limits.header_timeout_seconds, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class AcceptErrorLog:
    """An event-loop exception handler: asyncio reports a failed `accept()` (EMFILE and the
    like) once per attempt, many times a second; this logs it once per interval with the
    count since, and hands every other report to the handler it replaced."""

    def __init__(self, clock: Clock, interval_seconds: float,
                 previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
                 ) -> None:
        self.clock = clock
        self.interval = interval_seconds
        self.previous = previous
        self._last: float | None = None
        self._since = 0  # failures not yet logged

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._since += 1
        now = self.clock.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return
        exc = context.get("exception")
        log.error("cannot accept connections", extra={
            "error": exc.strerror if isinstance(exc, OSError) else type(exc).__name__,
            "failures": self._since, "next_report_seconds": self.interval})
        self._last, self._since = now, 0


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the (before, after) soft limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, hard
