"""Telegram Bot API `sendMessage`: HTML made safe and cut below 4,096 characters, the
documented rate limits kept by a limiter on the injected clock, and answers mapped to outcomes.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from agent.core.clock import Clock
from agent.core.model import Secret

from ..channel import Failed, Message, Outcome, Retry, Sent, asked_wait

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # sendMessage: "1-4096 characters after entities parsing" (UTF-16 units)
ELLIPSIS = "…"
NETWORK_RETRY_SECONDS = 5.0  # a 5xx, timeout or refused connection: try again in a while
# A wait of the limiter's up to this long is waited out in `send` (the next message to a chat a
# second later); a longer one (a group's 20/min, a 429's hold) is a Retry for the delivery loop.
PACE_SECONDS = 2.0
_PLACEHOLDER = "TOKEN"  # what httpx sees in the URL; the transport puts the token in
_CHAT_ID = re.compile(r"-?\d{1,20}|@[A-Za-z]\w{4,31}")
_TOKENS = re.compile(r"(</?[A-Za-z][^<>]*>|&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]+);)")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}  # the only named ones Telegram knows
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """`[notify.telegram]`: the bot's token, the Bot API server, a request timeout."""

    bot_token: Secret
    api_url: str = "https://api.telegram.org"
    timeout_seconds: float = 10.0


def escape(text: str) -> str:
    """`text` as Telegram HTML: &, <, > as entities, and quotes too, so the result is also
    safe inside an attribute value (`<a href="...">`)."""
    return text.translate(_ESCAPES)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _visible(token: str) -> str:
    """The text one token of Telegram HTML shows: nothing for a tag, a character for an
    entity, itself for anything else."""
    if len(token) > 1 and token.startswith("<"):
        return ""
    if len(token) > 1 and token.startswith("&"):
        body = token[1:-1]
        if body.startswith("#"):
            code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
            return chr(code) if code <= 0x10FFFF else "?"
        return _NAMED.get(body, token)  # an unknown name counts long: a safe overestimate
    return token


def _tokens(html: str) -> list[str]:
    """Tags and entities as single tokens, every other character on its own."""
    parts = _TOKENS.split(html)  # text, token, text, ..., text
    return [t for i, part in enumerate(parts) for t in ((part,) if i % 2 else part)]


def cut_html(html: str, limit: int = MAX_TEXT) -> str:
    """`html` unchanged when its shown text fits in `limit` UTF-16 units; otherwise its
    longest prefix that fits with an ellipsis, cut between tokens (never inside a tag or an
    entity), with every tag still open closed and tags left empty by the cut dropped."""
    tokens = _tokens(html)
    if sum(utf16_len(_visible(t)) for t in tokens) <= limit:
        return html
    budget = limit - utf16_len(ELLIPSIS)
    kept: list[str] = []
    stack: list[tuple[str, int]] = []  # (tag name, index of its opening tag in kept)
    used = 0
    for token in tokens:
        shown = utf16_len(_visible(token))
        if used + shown > budget:
            break
        used += shown
        if token.startswith("</") and len(token) > 2:
            name = token[2:-1].strip().lower()
            while stack and stack.pop()[0] != name:
                pass
        elif len(token) > 1 and token.startswith("<") and not token.endswith("/>"):
            stack.append((token[1:-1].split(None, 1)[0].lower(), len(kept)))
        kept.append(token)
    # Opening tags with nothing after them would make empty entities: drop them.
    while stack and stack[-1][1] == len(kept) - 1:
        kept.pop()
        stack.pop()
    return "".join(kept) + ELLIPSIS + "".join(f"</{name}>" for name, _ in reversed(stack))


def cut_text(text: str, limit: int = MAX_TEXT) -> str:
    """Plain `text` cut to `limit` UTF-16 units with an ellipsis, never inside a character."""
    if utf16_len(text) <= limit:
        return text
    budget, used = limit - utf16_len(ELLIPSIS), 0
    for end, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            return text[:end] + ELLIPSIS
    return text  # not reached: the whole text is longer than the limit


class RateLimiter:
    """Telegram's documented limits on an injected clock: one message a second per chat,
    `group_per_minute` per group (a chat id starting with "-"), `global_per_second` overall,
    and holds a 429 asked for. `acquire` either books a send now (answers 0) or answers how
    long to wait and why; booking at once keeps two concurrent sends from both passing."""

    def __init__(
        self,
        clock: Clock,
        *,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        global_per_second: int = 30,
    ) -> None:
        self._clock = clock
        self._chat_interval = chat_interval
        self._group_per_minute = group_per_minute
        self._global_per_second = global_per_second
        self._last: dict[str, float] = {}
        self._before: dict[str, float] = {}  # the send before the last, which a 429 answers
        self._groups: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._held: dict[str, float] = {}
        self._held_all = -math.inf

    def acquire(self, chat: str) -> tuple[float, str]:
        now = self._clock.monotonic()
        self._forget(now)
        group = self._groups.get(chat, deque()) if chat.startswith("-") else deque()
        per_group, overall = self._group_per_minute, self._global_per_second
        waits = [
            (self._held_all - now, "flood control holds every chat"),
            (self._held.get(chat, -math.inf) - now, "flood control holds this chat"),
            (self._last.get(chat, -math.inf) + self._chat_interval - now, "1 message/s per chat"),
        ]
        if len(group) >= per_group:
            waits.append((group[0] + 60.0 - now, f"{per_group} messages/min per group"))
        if len(self._all) >= overall:
            waits.append((self._all[0] + 1.0 - now, f"{overall} messages/s overall"))
        wait, why = max(waits, key=lambda w: w[0])  # the first, broadest, among equals
        if wait > 0:
            return wait, why
        self._before[chat] = self._last.get(chat, -math.inf)
        self._last[chat] = now
        self._all.append(now)
        if chat.startswith("-"):
            self._groups.setdefault(chat, deque()).append(now)
        return 0.0, ""

    def hold(self, chat: str, seconds: float) -> None:
        """A 429 for the send to `chat` just booked: hold the chat for `seconds`. When this
        limiter sent `chat` nothing in the minute before, its own pacing cannot explain the
        429, so it is taken as a global flood (another sender, or the 30/s limit) and every
        chat is held."""
        now = self._clock.monotonic()
        self._held[chat] = max(self._held.get(chat, -math.inf), now + seconds)
        if self._before.get(chat, -math.inf) < now - 60.0:
            self._held_all = max(self._held_all, now + seconds)

    def _forget(self, now: float) -> None:
        while self._all and self._all[0] <= now - 1.0:
            self._all.popleft()
        if len(self._last) > 256:  # bounded memory over many chats; the rest is cheap
            self._last = {c: t for c, t in self._last.items() if t > now - 60.0}
            self._before = {c: t for c, t in self._before.items() if c in self._last}
            self._held = {c: t for c, t in self._held.items() if t > now}
        for chat, times in list(self._groups.items()):
            while times and times[0] <= now - 60.0:
                times.popleft()
            if not times:
                del self._groups[chat]


class _TokenTransport(httpx.AsyncBaseTransport):
    """Puts the token into the URL only on the way to the wire, so httpx's own request log,
    its exceptions and any Request object the channel sees carry the placeholder instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport, token: Secret) -> None:
        self._inner = inner
        self._token = token

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.replace(
            b"/bot" + _PLACEHOLDER.encode(), b"/bot" + self._token.reveal().encode(), 1
        )
        # A new Request: the client logs the one it made, which must keep the placeholder.
        wire = httpx.Request(
            request.method,
            request.url.copy_with(raw_path=path),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(wire)

    async def aclose(self) -> None:
        await self._inner.aclose()


class TelegramChannel:
    """Sends `message.html` (else the escaped text) to the chat id in `message.address`.

    `transport` replaces the network for tests; the channel owns its client because the
    token is added by a wrapping transport (see `_TokenTransport`)."""

    def __init__(
        self,
        settings: TelegramSettings,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._limiter = limiter or RateLimiter(clock)
        inner = transport or httpx.AsyncHTTPTransport()
        self._client = httpx.AsyncClient(
            transport=_TokenTransport(inner, settings.bot_token),
            timeout=settings.timeout_seconds,
        )
        self._url = f"{settings.api_url.rstrip('/')}/bot{_PLACEHOLDER}/sendMessage"

    @property
    def name(self) -> str:
        return "telegram"

    async def send(self, message: Message) -> Outcome:
        chat = message.address.strip()
        if not _CHAT_ID.fullmatch(chat):
            return Failed("telegram: the address is not a chat id")
        wait, why = self._limiter.acquire(chat)
        while 0 < wait <= PACE_SECONDS:  # pacing, not a failure: no try is spent on it
            await self._clock.sleep(wait)
            wait, why = self._limiter.acquire(chat)
        if wait > 0:
            return Retry(wait, f"telegram: rate limit ({why})")
        html = cut_html(message.html if message.html is not None else escape(message.text))
        status, body = await self._post(chat, {"text": html, "parse_mode": "HTML"})
        if status == 400 and "can't parse entities" in _description(body).lower():
            first = self._scrub(_description(body))
            log.warning(
                "telegram refused the HTML, sending plain text",
                extra={"key": message.key, "description": first},
            )
            status, body = await self._post(chat, {"text": cut_text(message.text)})
            outcome = self._outcome(chat, status, body)
            if isinstance(outcome, Failed):
                return Failed(f"telegram: HTML refused ({first}); plain text: {outcome.reason}")
            return outcome
        return self._outcome(chat, status, body)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, chat: str, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST sendMessage; (status, JSON body), or (0, {"description": why}) when no answer
        came, with the exception text scrubbed of the token."""
        payload = {"chat_id": chat, "disable_web_page_preview": True, **fields}
        try:
            response = await self._client.post(self._url, json=payload)
        except httpx.TimeoutException:
            return 0, {"description": f"timed out after {self._settings.timeout_seconds:g}s"}
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return 0, {"description": self._scrub(f"no connection ({why})")}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"description": f"HTTP {response.status_code} without a JSON answer"}
        return response.status_code, body

    def _outcome(self, chat: str, status: int, body: dict[str, Any]) -> Outcome:
        if status == 200 and body.get("ok") is True:
            return Sent()
        why = self._scrub(_description(body))
        params = body.get("parameters")
        params = params if isinstance(params, dict) else {}
        if status == 429:
            after = params.get("retry_after")
            asked = float(after) if isinstance(after, int | float) else 0.0
            seconds = asked_wait(asked) if asked > 0 else 5.0
            self._limiter.hold(chat, seconds)
            return Retry(seconds, f"telegram: flood control ({why})")
        if status == 0 or status >= 500:
            return Retry(NETWORK_RETRY_SECONDS, f"telegram: {why}")
        if "migrate_to_chat_id" in params:
            return Failed(f"telegram: group moved to chat {params['migrate_to_chat_id']} ({why})")
        if status in (401, 404):
            return Failed(f"telegram: HTTP {status} ({why}); check bot_token and api_url")
        return Failed(f"telegram: HTTP {status} ({why})")

    def _scrub(self, text: str) -> str:
        token = self._settings.bot_token.reveal()
        return text.replace(token, "<secret>") if token else text


def _description(body: dict[str, Any]) -> str:
    text = body.get("description")
    return str(text) if text else "no description"
