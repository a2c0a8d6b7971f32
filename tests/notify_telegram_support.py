"""A Bot API server on 127.0.0.1 that keeps sendMessage's documented contract: Telegram's
HTML checked strictly, 4,096 UTF-16 units after parsing, 401/400/403 answers, and 429 with
`retry_after` past 1 message/s per chat, 20/min per group and 30/s overall."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
_PIECE = re.compile(
    r"<(/?)([a-z-]+)((?:\s+[a-z-]+=\"[^\"<>]*\")*)\s*>|&(#\d+|#x[0-9a-f]+|lt|gt|amp|quot);|[<>&]",
    re.I,
)


class EntityError(ValueError):
    """Telegram's "Bad Request: can't parse entities: ..."."""


def parse_html(text: str) -> str:
    """The text Telegram shows for `text` in HTML mode; EntityError where Telegram refuses it
    (an unknown or unclosed tag, a bare <, > or &, an unknown named entity)."""
    shown: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _PIECE.finditer(text):
        shown.append(text[pos : m.start()])
        pos = m.end()
        closing, name, entity = m.group(1), m.group(2), m.group(4)
        if name is not None:
            name = name.lower()
            if name not in TAGS:
                raise EntityError(f'unsupported start tag "{name}" at byte offset {m.start()}')
            if closing:
                if not stack or stack.pop() != name:
                    raise EntityError(f"unmatched end tag at byte offset {m.start()}")
            else:
                stack.append(name)
        elif entity is not None:
            named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
            low = entity.lower()
            shown.append(named.get(low) or chr(int(low[2:], 16) if low[1] == "x" else int(low[1:])))
        else:
            raise EntityError(f"unexpected {m.group()!r} at byte offset {m.start()}")
    if stack:
        raise EntityError(f'can\'t find end tag corresponding to start tag "{stack[-1]}"')
    shown.append(text[pos:])
    return "".join(shown)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class BotApi:
    """The server's state. `now` is the test's clock (FakeClock.monotonic); `blocked` chats
    answer 403, chats not in `chats` 400; a flood is held `penalty` seconds."""

    token: str
    now: Callable[[], float]
    chats: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    penalty: int = 5
    outage: int | None = None  # answer every request with this 5xx and an HTML page
    echo_path: bool = False  # a 401 names the path it was asked for, token and all
    received: list[dict[str, Any]] = field(default_factory=list)  # every request's JSON body
    delivered: list[dict[str, Any]] = field(default_factory=list)
    _held: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.received.append(body)
            return self._answer(path, body)

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.outage is not None:
            return self.outage, {}
        if path != f"/bot{self.token}/sendMessage":
            why = f"Unauthorized: {path}" if self.echo_path else "Unauthorized"
            return 401, {"ok": False, "error_code": 401, "description": why}
        chat = str(body.get("chat_id", ""))
        if chat in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat not in self.chats:
            return _error(400, "Bad Request: chat not found")
        text = str(body.get("text", ""))
        if body.get("parse_mode") == "HTML":
            try:
                text = parse_html(text)
            except EntityError as exc:
                return _error(400, f"Bad Request: can't parse entities: {exc}")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if utf16_units(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        now = self.now()
        if self._flooded(chat, now):
            self._held[chat] = now + self.penalty
            retry = {"retry_after": self.penalty}
            why = f"Too Many Requests: retry after {self.penalty}"
            return 429, {"ok": False, "error_code": 429, "parameters": retry, "description": why}
        self.delivered.append({**body, "at": now, "shown": text})
        return 200, {"ok": True, "result": {"message_id": len(self.delivered), "text": text}}

    def _flooded(self, chat: str, now: float) -> bool:
        if self._held.get(chat, -1.0) > now:
            return True
        mine = [d["at"] for d in self.delivered if str(d["chat_id"]) == chat]
        if mine and now - mine[-1] < 1.0:
            return True
        if chat.startswith("-") and sum(1 for t in mine if now - t < 60.0) >= 20:
            return True
        return sum(1 for d in self.delivered if now - d["at"] < 1.0) >= 30


def _error(code: int, description: str) -> tuple[int, dict[str, Any]]:
    return code, {"ok": False, "error_code": code, "description": description}


@contextmanager
def serve(api: BotApi) -> Iterator[str]:
    """Serve `api` on 127.0.0.1 in a thread; yields its base URL, stops it on exit."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            status, answer = api.answer(self.path, body if isinstance(body, dict) else {})
            data = json.dumps(answer).encode() if answer else b"<html>Bad Gateway</html>"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)
