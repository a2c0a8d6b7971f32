"""The e-mail channel against a real aiosmtpd server on 127.0.0.1: plain relay, STARTTLS,
implicit TLS, AUTH, refusals, and servers that are gone, silent or rude."""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.core.model import Secret
from notify.channel import Failed, Message, Outcome, Retry, Sent
from notify.channels.email import EmailChannel, EmailSettings, message_id
from tests.fakes import FakeClock
from tests.notify_email_support import (
    Authenticator,
    Pki,
    Recorder,
    mail_text,
    make_pki,
    raw_server,
    smtp_server,
)
from tests.notify_webhook_support import closed_port

PASSWORD = "rahasia-Sandi-42"
TEXT = (
    "Tiket 2026-0007: perangkat router-bogor-utara PADAM.\n"
    "Mohon segera ditindaklanjuti — terima kasih."
)
HTML = "<p>Tiket <b>2026-0007</b>: perangkat router-bogor-utara <i>PADAM</i>.</p>"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A second CA the server's certificate does not chain to."""
    return make_pki(tmp_path_factory.mktemp("other-pki"))


def settings(port: int = 25, **changes: Any) -> EmailSettings:
    base = EmailSettings(
        host="127.0.0.1",
        port=port,
        from_address="Pantau <pantau@kotabogor.example>",
        security="none",
        timeout_seconds=5.0,
    )
    return replace(base, **changes)


def message(
    key: str = "ev-1/kadis/email", address: str = "kadis@kotabogor.example", html: str | None = None
) -> Message:
    return Message(
        key=key,
        address=address,
        subject="Tiket baru: router-bogor-utara padam",
        text=TEXT,
        html=html,
    )


async def send(s: EmailSettings, m: Message | None = None) -> Outcome:
    channel = EmailChannel(s, FakeClock(datetime(2026, 12, 6, 1, 30, tzinfo=UTC)))
    try:
        return await channel.send(m or message())
    finally:
        await channel.aclose()


def assert_clean(outcome: Outcome) -> None:
    """No form of the password in a reason."""
    assert isinstance(outcome, Retry | Failed)
    for form in (PASSWORD, "cmFoYXNpYS1TYW5kaS00Mg=="):
        assert form not in outcome.reason


def login(port: int, pki: Pki, security: str, password: str = PASSWORD) -> EmailSettings:
    """Settings that log in as "pantau" over TLS trusting the test CA."""
    return settings(
        port,
        security=security,
        tls_context=pki.client_context,
        username="pantau",
        password=Secret(password),
    )


class TestPlainRelay:
    """A local relay without TLS receives the mail as composed."""

    async def test_text_mail(self) -> None:
        """The receiver parses subject, addresses, date and the UTF-8 Indonesian text."""
        rec = Recorder()
        async with smtp_server(rec) as port:
            assert await send(settings(port)) == Sent()
        [got] = rec.received
        assert got.mail_from == "pantau@kotabogor.example"
        assert got.rcpt_tos == ("kadis@kotabogor.example",)
        assert not got.tls
        mail = got.message
        assert mail["Subject"] == "Tiket baru: router-bogor-utara padam"
        assert mail["From"] == "Pantau <pantau@kotabogor.example>"
        assert mail["To"] == "kadis@kotabogor.example"
        assert mail["Date"].datetime == datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail.get_content_type() == "text/plain"
        assert mail.get_content_charset() == "utf-8"
        assert mail["Content-Transfer-Encoding"] == "quoted-printable"
        assert mail_text(mail)[0].rstrip("\n") == TEXT

    async def test_html_alternative(self) -> None:
        """With html set the mail is multipart/alternative: the text, then the HTML."""
        rec = Recorder()
        async with smtp_server(rec) as port:
            assert await send(settings(port), message(html=HTML)) == Sent()
        mail = rec.received[0].message
        assert mail.get_content_type() == "multipart/alternative"
        types = [p.get_content_type() for p in mail.iter_parts()]
        assert types == ["text/plain", "text/html"]
        plain, html = mail_text(mail)
        assert plain.rstrip("\n") == TEXT
        assert html.rstrip("\n") == HTML

    async def test_message_id_follows_the_key(self) -> None:
        """A resend of one key carries the same Message-ID; another key gets another."""
        rec = Recorder()
        async with smtp_server(rec) as port:
            for key in ("ev-1/kadis/email", "ev-1/kadis/email", "ev-2/kadis/email"):
                assert await send(settings(port), message(key=key)) == Sent()
        ids = [r.message["Message-ID"] for r in rec.received]
        assert ids[0] == ids[1] != ids[2]
        assert ids[0] == message_id("ev-1/kadis/email", "kotabogor.example")
        assert ids[0].startswith("<")
        assert ids[0].endswith("@kotabogor.example>")
        assert len(ids[0]) == len("<@kotabogor.example>") + 32

    async def test_multiline_subject_stays_one_header(self) -> None:
        """A newline in the subject cannot start a header of its own."""
        rec = Recorder()
        m = replace(message(), subject="Padam\r\nBcc: orang@luar.example")
        async with smtp_server(rec) as port:
            assert await send(settings(port), m) == Sent()
        mail = rec.received[0].message
        assert mail["Subject"] == "Padam Bcc: orang@luar.example"
        assert mail["Bcc"] is None
        assert rec.received[0].rcpt_tos == ("kadis@kotabogor.example",)


class TestTls:
    """TLS is verified against the configured trust, never switched off."""

    async def test_starttls(self, pki: Pki) -> None:
        """STARTTLS with a certificate from the trusted test CA delivers over TLS."""
        rec = Recorder()
        async with smtp_server(rec, starttls=pki.server_context()) as port:
            s = settings(port, security="starttls", tls_context=pki.client_context)
            assert await send(s) == Sent()
        assert rec.received[0].tls

    async def test_implicit_tls_with_ca_file(self, pki: Pki) -> None:
        """Implicit TLS trusting `ca_file` delivers."""
        rec = Recorder()
        async with smtp_server(rec, implicit_tls=pki.server_context()) as port:
            assert await send(settings(port, security="tls", ca_file=str(pki.ca_file))) == Sent()
        assert rec.received[0].tls

    @pytest.mark.parametrize("security", ["starttls", "tls"])
    async def test_untrusted_certificate_fails(
        self, pki: Pki, other_pki: Pki, security: str
    ) -> None:
        """A certificate from another CA is Failed (not retried), naming host and port."""
        rec = Recorder()
        ctx = pki.server_context()
        starttls, implicit = (ctx, None) if security == "starttls" else (None, ctx)
        async with smtp_server(rec, starttls=starttls, implicit_tls=implicit) as port:
            outcome = await send(settings(port, security=security, ca_file=str(other_pki.ca_file)))
        assert isinstance(outcome, Failed)
        assert f"127.0.0.1:{port}" in outcome.reason
        assert "unable to get local issuer certificate" in outcome.reason
        assert rec.received == []

    async def test_default_trust_refuses_a_private_ca(self, pki: Pki) -> None:
        """Without ca_file the system store is used, and a private CA is not in it."""
        async with smtp_server(Recorder(), implicit_tls=pki.server_context()) as port:
            outcome = await send(settings(port, security="tls"))
        assert isinstance(outcome, Failed)
        assert "TLS failed" in outcome.reason

    async def test_starttls_not_offered_fails(self) -> None:
        """security = "starttls" never falls back to plain text when the server lacks it."""
        rec = Recorder()
        async with smtp_server(rec) as port:
            outcome = await send(settings(port, security="starttls"))
        assert isinstance(outcome, Failed)
        assert "STARTTLS" in outcome.reason
        assert rec.received == []


class TestAuth:
    """AUTH PLAIN and LOGIN over TLS; refused credentials fail without showing the password."""

    @pytest.mark.parametrize(
        ("exclude", "mechanism"), [(("LOGIN",), "PLAIN"), (("PLAIN",), "LOGIN")]
    )
    async def test_login(self, pki: Pki, exclude: tuple[str, ...], mechanism: str) -> None:
        """The right credentials deliver, with the mechanism the server offers."""
        rec, auth = Recorder(), Authenticator("pantau", PASSWORD)
        async with smtp_server(
            rec, starttls=pki.server_context(), authenticator=auth, auth_exclude_mechanism=exclude
        ) as port:
            assert await send(login(port, pki, "starttls")) == Sent()
        assert auth.mechanisms == [mechanism]
        assert rec.received[0].login == "pantau"

    @pytest.mark.parametrize("echo", [False, True])
    async def test_wrong_password_fails(self, pki: Pki, echo: bool) -> None:
        """535 is Failed, says authentication failed, and never carries the password, even
        when the server repeats it in its reply."""
        rec, auth = Recorder(), Authenticator("pantau", "the-right-one", echo=echo)
        async with smtp_server(
            rec, implicit_tls=pki.server_context(), authenticator=auth, auth_require_tls=False
        ) as port:
            outcome = await send(login(port, pki, "tls"))
        assert isinstance(outcome, Failed)
        assert "authentication failed" in outcome.reason
        assert "535" in outcome.reason
        assert_clean(outcome)
        assert ("<secret>" in outcome.reason) == echo
        assert rec.received == []

    async def test_temporary_auth_failure_retries(self, pki: Pki) -> None:
        """454 (the server's credential store is down) is Retry, not Failed."""
        auth = Authenticator(
            "pantau", PASSWORD, refusal="454 4.7.0 Temporary authentication failure"
        )
        async with smtp_server(
            Recorder(), starttls=pki.server_context(), authenticator=auth
        ) as port:
            outcome = await send(login(port, pki, "starttls", "not-" + PASSWORD))
        assert isinstance(outcome, Retry)
        assert "454" in outcome.reason
        assert_clean(outcome)

    async def test_plain_relay_auth(self) -> None:
        """A relay without TLS may still take AUTH when it allows it (security = "none")."""
        rec, auth = Recorder(), Authenticator("pantau", PASSWORD)
        async with smtp_server(rec, authenticator=auth, auth_require_tls=False) as port:
            s = settings(port, username="pantau", password=Secret(PASSWORD))
            assert await send(s) == Sent()
        assert rec.received[0].login == "pantau"


class TestRefusals:
    """5xx is Failed, 4xx is Retry, as RFC 5321 means them."""

    async def test_unknown_user_fails_and_busy_mailbox_retries(self) -> None:
        """550 for one recipient is Failed; 451 for another is Retry after 30 s."""
        rec = Recorder(
            refuse={
                "hilang@kotabogor.example": "550 5.1.1 No such user",
                "sibuk@kotabogor.example": "451 4.3.0 Try again later",
            }
        )
        async with smtp_server(rec) as port:
            gone = await send(settings(port), message(address="hilang@kotabogor.example"))
            busy = await send(settings(port), message(address="sibuk@kotabogor.example"))
        assert isinstance(gone, Failed)
        assert "550 5.1.1 No such user" in gone.reason
        assert isinstance(busy, Retry)
        assert busy.after_seconds == 30.0
        assert "451" in busy.reason
        assert rec.received == []

    @pytest.mark.parametrize(
        ("reply", "kind"),
        [("552 5.3.4 Message too big", Failed), ("451 4.3.0 Queue full", Retry)],
    )
    async def test_refused_data(self, reply: str, kind: type[Failed | Retry]) -> None:
        """A refusal at the end of DATA follows the same rule."""
        async with smtp_server(Recorder(data_reply=reply)) as port:
            outcome = await send(settings(port))
        assert isinstance(outcome, kind)
        assert reply in outcome.reason

    async def test_bad_address_fails_without_a_connection(self) -> None:
        """An address that is not one plain address (or smuggles a line) is Failed at once."""
        for address in ("kadis", "a@b.example\r\nRCPT TO:<x@y.example>", "A <a@b.example>", ""):
            outcome = await send(settings(closed_port()), message(address=address))
            assert outcome == Failed("not an e-mail address")


class TestUnreachable:
    """A server that is gone, silent or hangs up is Retry, naming host and port."""

    async def test_closed_port_retries(self) -> None:
        port = closed_port()
        outcome = await send(settings(port))
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == 30.0
        assert f"127.0.0.1:{port}" in outcome.reason

    async def test_greeting_421_retries(self) -> None:
        async with raw_server(b"421 4.3.2 Service not available\r\n") as port:
            outcome = await send(settings(port))
        assert isinstance(outcome, Retry)
        assert "421" in outcome.reason

    async def test_hang_up_after_greeting_retries(self) -> None:
        async with raw_server(b"220 mail.test ESMTP\r\n") as port:
            outcome = await send(settings(port))
        assert isinstance(outcome, Retry)

    async def test_silent_server_times_out(self) -> None:
        """No greeting within timeout_seconds is Retry (a tiny real timeout)."""
        async with raw_server(None) as port:
            outcome = await send(settings(port, timeout_seconds=0.2))
        assert isinstance(outcome, Retry)
        assert "timed out" in outcome.reason


class TestSettings:
    """The settings refuse combinations that cannot work, and hide the password."""

    def test_repr_hides_password(self) -> None:
        s = settings(25, username="pantau", password=Secret(PASSWORD))
        assert PASSWORD not in repr(s)
        assert EmailChannel(s, FakeClock()).name == "email"

    @pytest.mark.parametrize(
        ("changes", "match"),
        [
            ({"username": "pantau"}, "go together"),
            ({"password": Secret(PASSWORD)}, "go together"),
            ({"security": "ssl"}, "security"),
            ({"port": 0}, "port"),
            ({"from_address": "pantau"}, "from_address"),
            ({"timeout_seconds": 0.0}, "positive"),
            ({"ca_file": "/etc/ca.pem", "tls_context": ssl.create_default_context}, "not both"),
        ],
    )
    def test_rejected(self, changes: dict[str, Any], match: str) -> None:
        with pytest.raises(ValueError, match=match) as info:
            replace(settings(), **changes)
        assert PASSWORD not in str(info.value)
