"""A real aiosmtpd server on 127.0.0.1 for the e-mail channel tests, and a throwaway PKI.

The server runs on the test's own loop (port 0, so no free-port race and no thread); its
handler records each accepted mail parsed, refuses chosen recipients, and can demand AUTH.
`SmtpThread` serves one from a thread instead, for tests that are not async (the lab's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True, slots=True)
class Pki:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Verifies as in production (CERT_REQUIRED, hostname checked), trusting only the CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_pki(directory: Path) -> Pki:
    """A fresh CA and server certificate in `directory` (EC keys: quick to make)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"pantau test CA {directory.name}")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def mail_text(message: EmailMessage) -> tuple[str, str]:
    """The plain and HTML parts as a person's client shows them (lines end in \\n)."""
    parts = [message.get_body(preferencelist=(kind,)) for kind in ("plain", "html")]
    plain, html = (p.get_content().replace("\r\n", "\n") if p is not None else ""
                   for p in parts)
    return plain, html


@dataclass(frozen=True, slots=True)
class Received:
    """One mail the server accepted, as the receiver sees it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class Recorder:
    """The aiosmtpd handler: `refuse` maps a recipient to the reply RCPT gets for it;
    `data_reply`, when set, answers the end of DATA instead of accepting the mail."""

    refuse: Mapping[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=parsed,
                tls=server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class Authenticator:
    """Accepts one login; `echo` makes the refusal repeat the password it got, as a careless
    server might, so the tests can see the channel blank it out; `refusal` replaces the
    default 535 reply (a 454 temporary failure, say)."""

    login: str
    password: str
    echo: bool = False
    refusal: str | None = None
    mechanisms: list[str] = field(default_factory=list)

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if (login, password) == (self.login, self.password):
                return AuthResult(success=True, auth_data=auth_data)
            if self.echo:
                return AuthResult(
                    success=False, handled=False, message=f"535 5.7.8 bad password {password}"
                )
        return AuthResult(success=False, handled=False, message=self.refusal)


@asynccontextmanager
async def smtp_server(
    handler: Recorder,
    *,
    implicit_tls: ssl.SSLContext | None = None,
    starttls: ssl.SSLContext | None = None,
    authenticator: Authenticator | None = None,
    auth_require_tls: bool = True,
    auth_exclude_mechanism: tuple[str, ...] = (),
) -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1; yields the port. STARTTLS is required when offered.
    aiosmtpd does not count implicit TLS as TLS for AUTH: pass auth_require_tls=False there."""

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="mail.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticator,
            # aiosmtpd warns about AUTH required without TLS; the tests' warnings are errors
            auth_required=authenticator is not None and auth_require_tls,
            auth_require_tls=auth_require_tls,
            auth_exclude_mechanism=list(auth_exclude_mechanism),
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=implicit_tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def raw_server(script: bytes | None) -> AsyncIterator[int]:
    """A broken "SMTP server": writes `script` and hangs up after the client's next line;
    with None it says nothing and holds the connection until the client gives up."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if script is None:
            await reader.read()  # until the client gives up and closes
        else:
            writer.write(script)
            await writer.drain()
            await reader.readline()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


class SmtpThread:
    """`Recorder` served by aiosmtpd on 127.0.0.1 from a loop in its own thread, for tests
    that are not async (the lab's: call `start()` inside the lab namespace so the thread and
    its sockets live there). `stop()` closes the listener and every open session, and
    `start()` serves again on the same port: an SMTP outage of any length."""

    def __init__(self, handler: Recorder) -> None:
        self.handler = handler
        self.port = 0  # the first start() picks a free port; later ones reuse it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sessions: list[SMTP] = []
        self._server: asyncio.Server | None = None

    def start(self) -> int:
        """Serve (again); returns the port once the server listens."""
        loop = asyncio.new_event_loop()
        ready = concurrent.futures.Future[int]()

        def factory() -> SMTP:
            session = SMTP(self.handler, hostname="mail.test")
            self._sessions.append(session)
            return session

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(factory, "127.0.0.1", self.port))
            except OSError as exc:
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(int(self._server.sockets[0].getsockname()[1]))
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="smtp-server", daemon=True)
        self._thread.start()
        self.port = ready.result(timeout=10)
        return self.port

    def stop(self) -> None:
        """Stop listening, drop open sessions, and end the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            server, self._server = self._server, None
            if server is not None:
                server.close()
            for session in self._sessions:
                if session.transport is not None:
                    session.transport.close()
            self._sessions.clear()
            if server is not None:
                await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None
