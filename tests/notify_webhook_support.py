"""A real HTTP receiver for the webhook channel's tests: a stdlib server on 127.0.0.1 in a
thread that records every request and answers as the test says."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived: the target (path and query), headers, and body bytes."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Answer:
    """What the receiver answers: a status and headers; `stall` holds the request unanswered
    until the receiver stops (a receiver that never answers)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False


class Receiver:
    """Records each request in `received` and answers with `answer`. Use as a context
    manager; `url` is its base URL; `reset()` between tests releases stalled requests and
    forgets what was received."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answer = Answer()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="webhook-receiver")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self._release.set()
        self._release = threading.Event()
        self.received = []
        self.answer = Answer()

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append(Received(self.command, self.path,
                                              dict(self.headers.items()), body))
            answer, release = receiver.answer, receiver._release
            if answer.stall:
                release.wait(10.0)
                self.close_connection = True
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
