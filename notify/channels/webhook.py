"""Signed JSON webhooks: each message is one POST to a configured URL (a WhatsApp gateway, a
chat tool, anything that takes JSON), signed with HMAC-SHA256 so the receiver can trust it.

The request (payload version ``pantau.notification/1``)::

    POST <url>
    Content-Type: application/json
    User-Agent: pantau/<version>
    X-Pantau-Event: <kind>
    X-Pantau-Delivery: <key>
    X-Pantau-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>

    {"data": {...}, "html": "<b>...</b>" | null, "key": "...", "kind": "...",
     "subject": "...", "text": "...", "version": "pantau.notification/1"}

- ``version``: always ``"pantau.notification/1"``; a change that breaks receivers gets a new one.
- ``key``: the message's idempotency key. Delivery is at least once: a receiver deduplicates
  on it (it is also the ``X-Pantau-Delivery`` header, percent-encoded there where it is not
  printable ASCII).
- ``kind``: what happened (the document's ``kind``, ``"notification"`` when it has none); also
  the ``X-Pantau-Event`` header.
- ``subject``, ``text``: a one-line subject and the plain-text message, ready to forward.
- ``html``: the same message as HTML, or ``null``.
- ``data``: the machine-readable document (ticket number, step, due time, link...), as given.

The body is compact UTF-8 JSON with sorted keys (non-ASCII text is not escaped), so the same
message always gives the same bytes. Verify the signature over the bytes as received, before
parsing them: ``verify(secret, body, request.headers["X-Pantau-Signature"])``.

Answers: 2xx is delivered; 408, 425, 429 and 5xx are retried (after ``Retry-After``, in
seconds or as an HTTP date, when given), and so are network errors and timeouts; any other
status (400, 401, 403, 404, 410, 422, a redirect) fails for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote

import httpx

from agent.core.clock import Clock
from agent.core.model import Secret
from notify.channel import Failed, Message, Outcome, Retry, Sent, asked_wait

PAYLOAD_VERSION = "pantau.notification/1"
SIGNATURE_HEADER = "X-Pantau-Signature"
EVENT_HEADER = "X-Pantau-Event"
DELIVERY_HEADER = "X-Pantau-Delivery"
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True, repr=False)
class WebhookSettings:
    """One `[[notify.webhook]]`: where to POST and the HMAC secret to sign with.

    `url` may carry a token in its query or userinfo (gateways often do): it is never shown
    whole, only as scheme://host[:port]/path (see `public_url`)."""

    name: str
    url: str
    secret: Secret
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:
        return (f"WebhookSettings(name={self.name!r}, url={public_url(self.url)!r}, "
                f"secret={self.secret!r}, timeout_seconds={self.timeout_seconds!r})")


def public_url(url: str) -> str:
    """The URL as reasons and logs may show it: scheme://host[:port]/path, without userinfo,
    query or fragment (where gateways put their tokens)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def encode_body(message: Message) -> bytes:
    """The exact bytes posted for `message` (see the module docstring for the shape).

    Raises TypeError for a document value JSON cannot hold (a bug in its maker); datetimes
    and dates become ISO-8601 text."""
    payload = {
        "version": PAYLOAD_VERSION,
        "key": message.key,
        "kind": kind_of(message),
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "data": dict(message.document),
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False, default=_json_default)
    return text.encode("utf-8")


def kind_of(message: Message) -> str:
    """The message's kind: its document's "kind", or "notification" when it has none."""
    kind = message.document.get("kind")
    return str(kind) if kind else "notification"


def _json_default(value: object) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"a webhook document holds a {type(value).__name__}, which is not JSON")


def _key_bytes(secret: Secret | str | bytes) -> bytes:
    if isinstance(secret, Secret):
        secret = secret.reveal()
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: Secret | str | bytes, body: bytes) -> str:
    """The X-Pantau-Signature value for `body`: "sha256=" + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(_key_bytes(secret), body, hashlib.sha256).hexdigest()


def verify(secret: Secret | str | bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` (X-Pantau-Signature, None when absent) signs exactly `body` with
    `secret`. The comparison takes constant time; the hex may be in either case."""
    if header is None or not header.isascii():
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256":
        return False
    expected = hmac.new(_key_bytes(secret), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())


def _header_value(text: str) -> str:
    """Printable ASCII as is; anything else percent-encoded (a header holds no UTF-8)."""
    return quote(text, safe="".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%"))


class WebhookChannel:
    """Posts each message, signed, to one webhook URL. Never raises for a delivery problem.

    `version` is pantau's version, for the User-Agent (notify may not import `agent`). Pass
    `client` to share one httpx.AsyncClient (it is then not closed here), or `transport` to
    give the channel's own client a transport (tests). `retry_seconds` is the wait suggested
    when the receiver names none (a network error, a 5xx without Retry-After); the clock
    dates an HTTP-date Retry-After."""

    def __init__(self, settings: WebhookSettings, *, version: str, clock: Clock,
                 client: httpx.AsyncClient | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry_seconds: float = 30.0) -> None:
        try:
            url = httpx.URL(settings.url)
        except httpx.InvalidURL:  # its text may quote the URL, token and all
            raise ValueError(f"webhook {settings.name}: url is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"webhook {settings.name}: url must be http(s)://host/...,"
                             f" not {public_url(settings.url)}")
        self._settings = settings
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._shown = f"webhook {settings.name} at {public_url(settings.url)}"
        self._hidden = _sensitive_parts(settings)
        self._user_agent = f"pantau/{version}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            transport=transport, timeout=settings.timeout_seconds, follow_redirects=False)

    @property
    def name(self) -> str:
        return f"webhook:{self._settings.name}"

    async def send(self, message: Message) -> Outcome:
        """POST the message: Sent on 2xx, Retry on 408/425/429/5xx, a network error or a
        timeout (whole request within `timeout_seconds`), Failed on any other status."""
        body = encode_body(message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            EVENT_HEADER: _header_value(kind_of(message)),
            DELIVERY_HEADER: _header_value(message.key),
            SIGNATURE_HEADER: sign(self._settings.secret, body),
        }
        timeout = self._settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                # Only the status and headers matter: the body is never read, so a
                # receiver's error page (which may echo the URL) is never shown.
                request = self._client.build_request("POST", self._settings.url, content=body,
                                                     headers=headers, timeout=timeout)
                response = await self._client.send(request, stream=True,
                                                   follow_redirects=False)
                await response.aclose()
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return Failed(f"{self._shown}: {self._scrub(exc)}")
        except (httpx.TimeoutException, TimeoutError):
            return Retry(self._retry_seconds, f"{self._shown}: no answer within {timeout:g}s")
        except httpx.HTTPError as exc:  # connection refused or reset, DNS, TLS, a bad answer
            return Retry(self._retry_seconds, f"{self._shown}: {self._scrub(exc)}")
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        if 200 <= status < 300:
            return Sent()
        # The standard phrase, not the server's: a status line is free text too.
        try:
            said = f"answered {status} {HTTPStatus(status).phrase}"
        except ValueError:
            said = f"answered {status}"
        if status in RETRY_STATUSES or status >= 500:
            after = self._retry_after(response.headers.get("Retry-After"))
            return Retry(self._retry_seconds if after is None else after,
                         f"{self._shown} {said}")
        if 300 <= status < 400:
            return Failed(f"{self._shown} {said}; redirects are not followed, give the final URL")
        return Failed(f"{self._shown} {said}")

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds from a Retry-After header (delay-seconds or an HTTP date), capped at an
        hour; None when absent or unreadable."""
        if value is None:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:  # an HTTP date is GMT
                return None
            seconds = (when - self._clock.now()).total_seconds()
        if not math.isfinite(seconds):
            return None
        return asked_wait(seconds)

    def _scrub(self, exc: Exception) -> str:
        """The exception's class and text with the secret and the URL's hidden parts cut."""
        text = str(exc) or "no detail"
        for part in self._hidden:
            text = text.replace(part, "<hidden>")
        return f"{type(exc).__name__}: {text}"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _sensitive_parts(settings: WebhookSettings) -> tuple[str, ...]:
    """What an error text must never show: the secret, the whole URL and its userinfo, query
    and fragment (raw and decoded), and each query value. Longest first, so a part inside
    another is cut with it."""
    url = httpx.URL(settings.url)
    parts = {settings.url, str(url)}
    userinfo = url.userinfo.decode("ascii", "replace")
    query = url.query.decode("ascii", "replace")
    for raw in (userinfo, query, url.fragment):
        parts.update((raw, unquote(raw)))
    parts.update((url.username, url.password))
    for _, value in url.params.multi_items():
        parts.update((value, quote(value)))
    # A value of one or two characters would cut ordinary words out of every message; the
    # secret and the password are cut whatever their length.
    cut = {p for p in parts if len(p) >= 3}
    cut.update(p for p in (settings.secret.reveal(), url.password) if p)
    return tuple(sorted(cut, key=len, reverse=True))
