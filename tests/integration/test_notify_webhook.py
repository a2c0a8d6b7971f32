"""The webhook channel against a real HTTP receiver on 127.0.0.1: signature, headers,
payload, outcomes, and that no reason ever shows the secret or the URL's token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from agent.core.model import Secret
from notify.channel import Failed, Message, Retry, Sent
from notify.channels.webhook import (
    PAYLOAD_VERSION,
    WebhookChannel,
    WebhookSettings,
    encode_body,
    sign,
    verify,
)
from tests.fakes import FakeClock
from tests.notify_webhook_support import Answer, Receiver, closed_port

SECRET = "hmac-rahasia-7f3a"
TEXT = ("Tiket 2026/0042 — giliran Anda: Disposisi Kabid untuk perangkat sw-dinkes-01 "
        "(Dinas Kesehatan). Batas waktu Senin, 7 Des 2026 pukul 09.00 WIB.")
DUE = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
MESSAGE = Message(
    key="evt-17/kabid/webhook:wa-gateway",
    address="",
    subject="Tiket 2026/0042: giliran Anda",
    text=TEXT,
    html="<b>Tiket 2026/0042</b> — giliran Anda",
    document={"kind": "step.handoff", "ticket": "2026/0042", "step": 3, "due_at": DUE,
              "link": "https://pantau.kotabogor.example/tickets/2026-0042"},
)

MakeChannel = Callable[..., WebhookChannel]


@pytest.fixture(scope="module")
def running_receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def receiver(running_receiver: Receiver) -> Iterator[Receiver]:
    """The module's receiver, answering 200 and with nothing received yet."""
    running_receiver.reset()
    yield running_receiver
    running_receiver.reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 6, 1, 0, tzinfo=UTC))


@pytest.fixture
async def make(receiver: Receiver, clock: FakeClock) -> AsyncIterator[MakeChannel]:
    """Channels to the receiver's /hook (or to `url`), closed after the test."""
    made: list[WebhookChannel] = []

    def build(url: str | None = None, timeout: float = 5.0,
              transport: httpx.AsyncBaseTransport | None = None) -> WebhookChannel:
        settings = WebhookSettings("wa-gateway", url or f"{receiver.url}/hook",
                                   Secret(SECRET), timeout)
        channel = WebhookChannel(settings, version="0.1.0", clock=clock, transport=transport)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        await channel.aclose()


class TestRequest:
    """What the receiver gets."""

    async def test_signature_verifies_over_the_received_bytes(
            self, receiver: Receiver, make: MakeChannel) -> None:
        """The X-Pantau-Signature header verifies over the bytes as received."""
        assert await make().send(MESSAGE) == Sent()
        [got] = receiver.received
        assert verify(Secret(SECRET), got.body, got.headers["X-Pantau-Signature"])
        assert verify(SECRET, got.body, got.headers["X-Pantau-Signature"])
        assert not verify("another-secret", got.body, got.headers["X-Pantau-Signature"])

    async def test_headers(self, receiver: Receiver, make: MakeChannel) -> None:
        """The request is a POST to the URL with type, agent, event and delivery headers."""
        await make().send(MESSAGE)
        [got] = receiver.received
        assert (got.method, got.target) == ("POST", "/hook")
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["User-Agent"] == "pantau/0.1.0"
        assert got.headers["X-Pantau-Event"] == "step.handoff"
        assert got.headers["X-Pantau-Delivery"] == "evt-17/kabid/webhook:wa-gateway"
        assert got.headers["X-Pantau-Signature"] == sign(SECRET, got.body)
        assert got.headers["X-Pantau-Signature"].startswith("sha256=")

    async def test_payload_shape(self, receiver: Receiver, make: MakeChannel) -> None:
        """The body is the documented payload, with the document under "data"."""
        await make().send(MESSAGE)
        assert json.loads(receiver.received[0].body) == {
            "version": "pantau.notification/1",
            "key": "evt-17/kabid/webhook:wa-gateway",
            "kind": "step.handoff",
            "subject": "Tiket 2026/0042: giliran Anda",
            "text": TEXT,
            "html": "<b>Tiket 2026/0042</b> — giliran Anda",
            "data": {"kind": "step.handoff", "ticket": "2026/0042", "step": 3,
                     "due_at": "2026-12-07T02:00:00+00:00",
                     "link": "https://pantau.kotabogor.example/tickets/2026-0042"},
        }

    async def test_body_is_compact_sorted_utf8(self, receiver: Receiver,
                                               make: MakeChannel) -> None:
        """The body is compact UTF-8 JSON with sorted keys: the same message, the same bytes."""
        await make().send(MESSAGE)
        body = receiver.received[0].body
        assert body == encode_body(MESSAGE)
        assert TEXT.encode("utf-8") in body  # "—" raw, not \u2014
        assert body.startswith(b'{"data":{"due_at":')
        assert body.endswith(b'"version":"pantau.notification/1"}')
        assert body == json.dumps(json.loads(body), ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":")).encode("utf-8")
        assert PAYLOAD_VERSION == "pantau.notification/1"

    async def test_plain_message_without_kind(self, receiver: Receiver,
                                              make: MakeChannel) -> None:
        """Without html or a kind, html is null and the kind is "notification"."""
        await make().send(Message(key="k1", address="", subject="Uji", text="Pesan uji"))
        got = receiver.received[0]
        payload = json.loads(got.body)
        assert (payload["html"], payload["kind"], payload["data"]) == (None, "notification", {})
        assert got.headers["X-Pantau-Event"] == "notification"

    async def test_non_ascii_key_is_percent_encoded_in_the_header(
            self, receiver: Receiver, make: MakeChannel) -> None:
        """A key that is not printable ASCII is percent-encoded in the header, raw in the body."""
        await make().send(Message(key="evt 9/Pak Đức", address="", subject="s", text="t"))
        got = receiver.received[0]
        assert got.headers["X-Pantau-Delivery"] == "evt%209/Pak%20%C4%90%E1%BB%A9c"
        assert json.loads(got.body)["key"] == "evt 9/Pak Đức"


class TestVerify:
    """Checking a signature as a receiver does."""

    def test_tampered_body_fails(self) -> None:
        """A body changed after signing does not verify."""
        body = encode_body(MESSAGE)
        header = sign(SECRET, body)
        assert verify(SECRET, body, header)
        assert not verify(SECRET, body.replace(b"0042", b"0043"), header)
        assert not verify(SECRET, body + b" ", header)

    @pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=abcd", "sha256=zz",
                                        "sha256=é"])
    def test_malformed_headers_fail(self, header: str | None) -> None:
        """A missing, empty, non-SHA-256 or non-hex header does not verify."""
        assert not verify(SECRET, encode_body(MESSAGE), header)

    def test_hex_case_does_not_matter(self) -> None:
        """Upper-case hex verifies too."""
        body = encode_body(MESSAGE)
        assert verify(SECRET, body, "sha256=" + sign(SECRET, body)[7:].upper())


class TestOutcomes:
    """Statuses and failures become Sent, Retry or Failed."""

    @pytest.mark.parametrize("status", [200, 201, 202, 204])
    async def test_2xx_is_sent(self, receiver: Receiver, make: MakeChannel,
                               status: int) -> None:
        """Any 2xx is a delivery."""
        receiver.answer = Answer(status)
        assert await make().send(MESSAGE) == Sent()

    @pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425, 429])
    async def test_temporary_statuses_retry(self, receiver: Receiver, make: MakeChannel,
                                            status: int) -> None:
        """5xx, 408, 425 and 429 without Retry-After retry after the default wait."""
        receiver.answer = Answer(status)
        outcome = await make().send(MESSAGE)
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == 30.0
        assert f"answered {status} " in outcome.reason

    async def test_429_obeys_retry_after_seconds(self, receiver: Receiver,
                                                 make: MakeChannel) -> None:
        """A 429 with Retry-After: 7 retries after 7 seconds."""
        receiver.answer = Answer(429, {"Retry-After": "7"})
        outcome = await make().send(MESSAGE)
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == 7.0
        assert "answered 429 Too Many Requests" in outcome.reason

    async def test_retry_after_as_http_date(self, receiver: Receiver, make: MakeChannel,
                                            clock: FakeClock) -> None:
        """A Retry-After HTTP date is counted from the clock's now."""
        when = clock.now() + timedelta(seconds=120)
        receiver.answer = Answer(503, {"Retry-After": format_datetime(when, usegmt=True)})
        outcome = await make().send(MESSAGE)
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == 120.0

    @pytest.mark.parametrize(("value", "after"), [
        ("soon", 30.0), ("-5", 0.0), ("86400", 3600.0), ("nan", 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ])
    async def test_odd_retry_after(self, receiver: Receiver, make: MakeChannel,
                                   value: str, after: float) -> None:
        """An unreadable Retry-After gives the default; a past or huge one is clamped."""
        receiver.answer = Answer(429, {"Retry-After": value})
        outcome = await make().send(MESSAGE)
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == after

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
    async def test_other_4xx_fail(self, receiver: Receiver, make: MakeChannel,
                                  status: int) -> None:
        """A refusal is permanent."""
        receiver.answer = Answer(status)
        outcome = await make().send(MESSAGE)
        assert isinstance(outcome, Failed)
        assert f"answered {status} " in outcome.reason
        assert f"{receiver.url}/hook" in outcome.reason

    async def test_redirect_is_not_followed(self, receiver: Receiver, make: MakeChannel
                                            ) -> None:
        """A redirect fails: the body is not re-posted elsewhere."""
        receiver.answer = Answer(301, {"Location": f"{receiver.url}/elsewhere"})
        outcome = await make().send(MESSAGE)
        assert isinstance(outcome, Failed)
        assert "redirects are not followed" in outcome.reason
        assert [r.target for r in receiver.received] == ["/hook"]

    async def test_closed_port_retries(self, make: MakeChannel) -> None:
        """Nothing listening is a network error: retry."""
        outcome = await make(f"http://127.0.0.1:{closed_port()}/hook").send(MESSAGE)
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == 30.0
        assert "ConnectError" in outcome.reason

    async def test_silent_receiver_retries(self, receiver: Receiver, make: MakeChannel
                                           ) -> None:
        """A receiver that never answers is a timeout: retry."""
        receiver.answer = Answer(stall=True)
        outcome = await make(timeout=0.2).send(MESSAGE)
        assert isinstance(outcome, Retry)
        assert "no answer within 0.2s" in outcome.reason


class TestSecrecy:
    """No reason, repr or error shows the secret, the URL's query or its userinfo."""

    @staticmethod
    def assert_clean(text: str) -> None:
        for hidden in ("abc", SECRET, "pw-gateway", "tamu"):
            assert hidden not in text

    @pytest.mark.parametrize("answer", [Answer(500), Answer(404), Answer(429),
                                        Answer(301, {"Location": "/x?token=abc"}),
                                        Answer(stall=True)])
    async def test_reasons_from_the_receiver(self, receiver: Receiver, make: MakeChannel,
                                             answer: Answer) -> None:
        """Whatever the receiver answers, the reason shows only scheme://host:port/path."""
        receiver.answer = answer
        url = f"http://tamu:pw-gateway@127.0.0.1:{receiver.port}/hook?token=abc"
        outcome = await make(url, timeout=0.2).send(MESSAGE)
        assert isinstance(outcome, Retry | Failed)
        assert f"at http://127.0.0.1:{receiver.port}/hook" in outcome.reason
        self.assert_clean(outcome.reason)
        assert receiver.received[0].target == "/hook?token=abc"  # the token was still sent

    async def test_reason_for_a_closed_port(self, make: MakeChannel) -> None:
        """A connection error's reason carries no token."""
        outcome = await make(f"http://tamu:pw-gateway@127.0.0.1:{closed_port()}/h?token=abc"
                             ).send(MESSAGE)
        assert isinstance(outcome, Retry)
        self.assert_clean(outcome.reason)

    @pytest.mark.parametrize(("error", "kind"), [(httpx.ConnectError, Retry),
                                                 (httpx.ReadError, Retry),
                                                 (httpx.ReadTimeout, Retry),
                                                 (httpx.UnsupportedProtocol, Failed)])
    async def test_exception_text_carrying_the_url(self, make: MakeChannel,
                                                   error: type[httpx.TransportError],
                                                   kind: type[Retry | Failed]) -> None:
        """An exception whose text holds the URL (and even the secret) is scrubbed."""
        def fail(request: httpx.Request) -> httpx.Response:
            raise error(f"cannot reach {request.url} ({request.url.params['token']}, "
                        f"{SECRET}, tamu:pw-gateway)", request=request)

        url = "http://tamu:pw-gateway@127.0.0.1:9/hook?token=abc&lang=id"
        outcome = await make(url, transport=httpx.MockTransport(fail)).send(MESSAGE)
        assert isinstance(outcome, kind)
        self.assert_clean(outcome.reason)
        assert "127.0.0.1:9/hook" in outcome.reason

    def test_settings_repr(self) -> None:
        """The settings' repr shows the public URL and no secret."""
        settings = WebhookSettings("wa", "https://tamu:pw-gateway@wa.example/h?token=abc",
                                   Secret(SECRET))
        assert repr(settings) == ("WebhookSettings(name='wa', url='https://wa.example/h', "
                                  "secret=<secret>, timeout_seconds=10.0)")

    @pytest.mark.parametrize(("url", "problem"), [
        ("ftp://tamu:pw-gateway@wa.example/h?token=abc", "must be http"),
        ("https://tamu:pw-gateway@wa.example:abc/h?token=abc", "not a valid URL"),
    ])
    def test_bad_url_error(self, clock: FakeClock, url: str, problem: str) -> None:
        """A URL that is not http(s) or not a URL is refused at construction, without its
        token."""
        settings = WebhookSettings("wa", url, Secret(SECRET))
        with pytest.raises(ValueError, match=problem) as caught:
            WebhookChannel(settings, version="0.1.0", clock=clock)
        self.assert_clean(str(caught.value))


class TestLifecycle:
    """The channel's name and its client."""

    async def test_name(self, make: MakeChannel) -> None:
        """The name is webhook:<name>."""
        assert make().name == "webhook:wa-gateway"

    async def test_shared_client_stays_open(self, receiver: Receiver,
                                            clock: FakeClock) -> None:
        """An injected client is used and left open by aclose; an own client is closed."""
        settings = WebhookSettings("noc", f"{receiver.url}/hook", Secret(SECRET))
        async with httpx.AsyncClient() as client:
            channel = WebhookChannel(settings, version="9", clock=clock, client=client)
            assert await channel.send(MESSAGE) == Sent()
            await channel.aclose()
            assert not client.is_closed
            assert receiver.received[0].headers["User-Agent"] == "pantau/9"
        own = WebhookChannel(settings, version="9", clock=clock)
        await own.aclose()
        with pytest.raises(RuntimeError, match="client has been closed"):
            await own.send(MESSAGE)
