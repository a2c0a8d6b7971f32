"""E-mail over SMTP (aiosmtplib): one message, one connection, one Outcome.

STARTTLS, implicit TLS or a plain local relay; optional AUTH; plain text plus an HTML
alternative; a Message-ID derived from the message key, so a resend is recognisably the same.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

import aiosmtplib

from agent.core.clock import Clock
from agent.core.model import Secret, host_port
from notify.channel import Failed, Message, Outcome, Retry, Sent

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[Security, ...] = ("starttls", "tls", "none")
_REASON_TEXT_LIMIT = 200  # of a server's reply text kept in a reason


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """`[notify.email]` as plain values.

    `security`: "starttls" (submission, usually 587), "tls" (implicit TLS, usually 465) or
    "none" (a trusted local relay on 25; nothing is encrypted, not even AUTH). The server
    certificate is always verified, against the system store, or against `ca_file` alone
    (a city's own CA) when set. `tls_context` builds the context instead (tests trust their
    own CA with it); it never turns verification off. `username` needs `password` and the
    other way round. `timeout_seconds` bounds each step of the SMTP dialogue (connect,
    greeting, TLS handshake, each command), not the whole send.
    """

    host: str
    port: int
    from_address: str
    security: Security = "starttls"
    username: str | None = None
    password: Secret | None = None
    timeout_seconds: float = 30.0
    retry_after_seconds: float = 30.0
    ca_file: str | None = None
    tls_context: Callable[[], ssl.SSLContext] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}")
        if not 0 < self.port < 65536:
            raise ValueError("port must be 1..65535")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if _address(self.from_address, display_name=True) is None:
            raise ValueError("from_address is not an e-mail address")
        if self.timeout_seconds <= 0 or self.retry_after_seconds <= 0:
            raise ValueError("timeout_seconds and retry_after_seconds must be positive")
        if self.ca_file is not None and self.tls_context is not None:
            raise ValueError("give ca_file or tls_context, not both")


def message_id(key: str, domain: str) -> str:
    """The Message-ID for a message key: the same key always gives the same id, so a
    resend after a crash is the same message to the receiver (and to a person searching)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class EmailChannel:
    """Sends each Message to `message.address` over a fresh SMTP connection.

    One connection per send, on purpose: notifications come a few per ticket step, servers
    drop idle sessions after minutes (RFC 5321 §4.5.3.2), and a kept connection would need
    liveness checks, reconnects and a lock for concurrent sends. A fresh session per message
    maps one SMTP transaction to one Outcome and costs one handshake, nothing at this volume.
    """

    def __init__(self, settings: EmailSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._where = host_port(settings.host, settings.port)
        # Built once at start-up: loading a CA store reads files.
        self._tls: ssl.SSLContext | None = None
        if settings.security != "none":
            make = settings.tls_context
            self._tls = make() if make else ssl.create_default_context(cafile=settings.ca_file)
        self._sender = parseaddr(settings.from_address)[1]
        self._domain = self._sender.rpartition("@")[2]

    @property
    def name(self) -> str:
        return "email"

    def compose(self, message: Message, address: str) -> EmailMessage:
        """The mail as sent: UTF-8 text, with an HTML alternative when `message.html` is set."""
        mail = EmailMessage()
        mail["Subject"] = " ".join(message.subject.split())  # one line: no header injection
        mail["From"] = self._settings.from_address
        mail["To"] = address
        mail["Date"] = format_datetime(self._clock.now())
        mail["Message-ID"] = message_id(message.key, self._domain)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to pantau
        # Quoted-printable: 7-bit clean for a relay without 8BITMIME, no 998-octet line
        # limit for long HTML, and still readable in a raw mail.
        mail.set_content(message.text, cte="quoted-printable")
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html", cte="quoted-printable")
        return mail

    async def send(self, message: Message) -> Outcome:
        """Sent once the server accepted the DATA; Retry for what may heal (network,
        timeouts, 4xx, a dropped connection); Failed for what will not (5xx, refused
        credentials, a certificate that does not verify, a server lacking STARTTLS)."""
        address = _address(message.address, display_name=False)
        if address is None:
            return Failed("not an e-mail address")
        mail = self.compose(message, address)
        s = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=self._tls,
            timeout=s.timeout_seconds,
        )
        try:
            try:
                await smtp.connect()
                if s.username is not None and s.password is not None:
                    await smtp.login(s.username, s.password.reveal())
                refused, _ = await smtp.send_message(
                    mail, sender=self._sender, recipients=[address]
                )
            except (aiosmtplib.SMTPException, OSError) as exc:
                return self._outcome(exc)
            if refused:  # not reached with one recipient (all refused raises), kept for safety
                reply = next(iter(refused.values()))
                return self._by_code(reply.code, reply.message, "recipient refused")
            # The server has accepted the message: a failed QUIT changes nothing.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
            return Sent()
        finally:
            smtp.close()

    async def aclose(self) -> None:
        """Nothing to release: no connection outlives a send."""

    def _outcome(self, exc: BaseException) -> Outcome:
        tls = _ssl_error(exc)
        if isinstance(tls, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return self._retry("connection closed during the TLS handshake")
        if tls is not None:  # an unverifiable certificate, a TLS/plain mismatch: won't heal
            detail = getattr(tls, "verify_message", None) or tls.reason or type(tls).__name__
            return Failed(self._reason(f"TLS failed ({detail}); check the certificate and ca_file"))
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return self._by_code(exc.code, exc.message, "authentication failed")
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            first = exc.recipients[0]
            return self._by_code(first.code, first.message, "recipient refused")
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            return self._by_code(exc.code, exc.message, "recipient refused")
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return self._by_code(exc.code, exc.message, "sender refused")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return self._by_code(exc.code, exc.message, "server refused")
        if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
            return self._retry(f"timed out after {self._settings.timeout_seconds:g}s")
        if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
            return self._retry(f"connection failed ({_short(str(exc))})")
        if isinstance(exc, OSError):
            return self._retry(f"network error ({type(exc).__name__}: {_short(str(exc))})")
        # What is left is a feature the configuration needs and the server lacks
        # (STARTTLS, an AUTH mechanism, SMTPUTF8): waiting will not bring it.
        return Failed(self._reason(f"server cannot do what the settings ask ({_short(str(exc))})"))

    def _by_code(self, code: int, text: str, what: str) -> Outcome:
        reason = f"{what} ({code} {_short(text)})"
        if 500 <= code < 600:
            return Failed(self._reason(reason))
        return self._retry(reason)  # 4xx: temporary by definition (RFC 5321 §4.2.1)

    def _retry(self, reason: str) -> Retry:
        return Retry(self._settings.retry_after_seconds, self._reason(reason))

    def _reason(self, text: str) -> str:
        """`host:port: text`, with the password (and its AUTH encodings) blanked out, in
        case a server echoes what it was sent."""
        reason = f"{self._where}: {text}"
        s = self._settings
        if s.password is not None and s.password.reveal():
            for form in _secret_forms(s.username or "", s.password.reveal()):
                reason = reason.replace(form, "<secret>")
        return reason


def _secret_forms(username: str, password: str) -> tuple[str, ...]:
    plain = f"\0{username}\0{password}".encode()
    return (
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(plain).decode(),
    )


def _address(text: str, *, display_name: bool) -> str | None:
    """The bare addr-spec in `text`, or None when it is not one address (or could smuggle
    a header or SMTP command in: control characters, spaces)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return None
    name, addr = parseaddr(text)
    if not display_name and (name or addr != text.strip()):
        return None
    local, at, domain = addr.rpartition("@")
    if not (local and at and domain) or " " in addr:
        return None
    return addr


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError behind `exc` (aiosmtplib wraps an implicit-TLS handshake failure in
    SMTPConnectError, and lets a STARTTLS one through as it is)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _short(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line[:_REASON_TEXT_LIMIT]
