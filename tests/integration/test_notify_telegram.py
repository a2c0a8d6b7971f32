"""The Telegram channel: escaping and cutting HTML, the rate limiter on a FakeClock, and
sendMessage against a Bot API server on 127.0.0.1 that keeps the documented contract."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.model import Secret
from notify.channel import MAX_RETRY_AFTER_SECONDS, Channel, Failed, Message, Retry, Sent
from notify.channels.telegram import (
    ELLIPSIS,
    MAX_TEXT,
    RateLimiter,
    TelegramChannel,
    TelegramSettings,
    cut_html,
    cut_text,
    escape,
    utf16_len,
)
from tests.fakes import FakeClock
from tests.notify_telegram_support import BotApi, EntityError, parse_html, serve, utf16_units
from tests.notify_webhook_support import closed_port

TOKEN = "123456789:AAE-secret_Token-value"


def message(
    address: str = "42", text: str = "Tiket #7 menunggu Anda", html: str | None = None
) -> Message:
    return Message(key="k1", address=address, subject="s", text=text, html=html)


class TestEscape:
    """escape() makes any text safe in Telegram's HTML mode."""

    def test_escapes_markup_and_quotes(self) -> None:
        """&, <, > and both quotes become entities Telegram knows."""
        assert escape("""a<b>&"c'""") == "a&lt;b&gt;&amp;&quot;c&#39;"

    @given(st.text())
    def test_round_trips_through_telegram_parsing(self, text: str) -> None:
        """Telegram shows exactly the escaped text, also inside an attribute."""
        assert parse_html(escape(text)) == text
        assert parse_html(f'<a href="{escape(text)}">x</a>') == "x"

    def test_unescaped_text_is_refused_by_the_server_parser(self) -> None:
        """The test server's parser is strict, so the escaping tests can fail."""
        with pytest.raises(EntityError):
            parse_html("a < b & c")


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_TAGS = st.sampled_from(
    ["b", "i", "u", "s", "code", "tg-spoiler", 'a href="https://x.example/?a=1&amp;b=2"']
)


def _html(max_leaves: int = 12) -> st.SearchStrategy[str]:
    leaf = _TEXT.map(escape)

    def wrap(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        node = st.tuples(_TAGS, st.lists(children, max_size=3))
        return node.map(lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0].split()[0]}>")

    return st.lists(st.recursive(leaf, wrap, max_leaves=max_leaves), max_size=4).map("".join)


class TestCut:
    """cut_html keeps the shown text under the limit without breaking a tag or an entity."""

    def test_short_html_is_unchanged(self) -> None:
        """HTML that fits comes back as it was."""
        html = "<b>Tiket #7</b> &amp; " + "x" * 100
        assert cut_html(html) == html

    def test_long_bold_text_is_cut_to_the_limit_and_closed(self) -> None:
        """The cut keeps 4,096 shown units, ends with the ellipsis and closes <b>."""
        out = cut_html("<b>" + "x" * 5000 + "</b>")
        assert out.endswith(ELLIPSIS + "</b>")
        assert utf16_units(parse_html(out)) == MAX_TEXT

    def test_entities_are_never_split(self) -> None:
        """A run of &amp; is cut between entities, each counted as one character."""
        out = cut_html("&amp;" * 5000)
        assert out == "&amp;" * (MAX_TEXT - 1) + ELLIPSIS
        assert parse_html(out) == "&" * (MAX_TEXT - 1) + ELLIPSIS

    def test_astral_characters_count_as_two_units(self) -> None:
        """An emoji outside the BMP counts 2, as Telegram's UTF-16 count does."""
        out = cut_html("😀" * 3000)
        assert out == "😀" * ((MAX_TEXT - 1) // 2) + ELLIPSIS
        assert utf16_units(out) <= MAX_TEXT

    def test_tags_left_empty_by_the_cut_are_dropped(self) -> None:
        """No empty <b></b> is left where the cut falls just after an opening tag."""
        out = cut_html("x" * 4095 + '<b><a href="https://x.example">yy</a></b>')
        assert out == "x" * 4095 + ELLIPSIS

    def test_nested_tags_are_closed_innermost_first(self) -> None:
        """Open <b><i> are closed as </i></b>."""
        assert cut_html("<b>ab<i>cdef</i></b>", limit=5) == "<b>ab<i>cd…</i></b>"

    @settings(max_examples=300, deadline=None)
    @given(_html(), st.integers(min_value=1, max_value=40))
    def test_any_cut_parses_and_fits(self, html: str, limit: int) -> None:
        """Whatever the HTML and the limit, the cut parses, fits and shows a prefix."""
        out = cut_html(html, limit)
        shown, original = parse_html(out), parse_html(html)
        assert utf16_units(shown) <= limit
        if utf16_units(original) <= limit:
            assert out == html
        else:
            assert shown.endswith(ELLIPSIS)
            assert original.startswith(shown[: -len(ELLIPSIS)])

    @settings(max_examples=300, deadline=None)
    @given(st.text("<>&#x;/ab1 ", max_size=30), st.integers(min_value=1, max_value=20))
    def test_malformed_html_never_raises(self, html: str, limit: int) -> None:
        """HTML we got wrong (Telegram will refuse it) still cuts without an exception."""
        out = cut_html(html, limit)
        assert out == html or out.count(ELLIPSIS) == 1

    def test_plain_text_is_cut_between_characters(self) -> None:
        """cut_text never splits a surrogate pair and keeps the limit."""
        out = cut_text("a" + "😀" * 3000)
        assert utf16_len(out) <= MAX_TEXT
        assert out == "a" + "😀" * ((MAX_TEXT - 2) // 2) + ELLIPSIS
        assert cut_text("short") == "short"


class TestLimiter:
    """The limiter answers how long to wait, on the injected clock."""

    def test_one_message_per_second_per_chat(self) -> None:
        """A second send to one chat waits out the second; other chats do not wait."""
        clock = FakeClock()
        limiter = RateLimiter(clock)
        assert limiter.acquire("42") == (0.0, "")
        assert limiter.acquire("42") == (1.0, "1 message/s per chat")
        assert limiter.acquire("43") == (0.0, "")
        clock.advance(0.4)
        assert limiter.acquire("42")[0] == pytest.approx(0.6)
        clock.advance(0.6)
        assert limiter.acquire("42") == (0.0, "")

    def test_twenty_messages_per_minute_per_group(self) -> None:
        """The 21st message to a group within a minute waits for the first to age out."""
        clock = FakeClock()
        limiter = RateLimiter(clock)
        for _ in range(20):
            assert limiter.acquire("-1001")[0] == 0.0
            clock.advance(1.0)
        wait, why = limiter.acquire("-1001")
        assert wait == pytest.approx(40.0)
        assert why == "20 messages/min per group"
        assert limiter.acquire("1001")[0] == 0.0  # a private chat is not a group
        clock.advance(40.0)
        assert limiter.acquire("-1001")[0] == 0.0

    def test_thirty_messages_per_second_overall(self) -> None:
        """The 31st message within a second waits, whatever its chat."""
        clock = FakeClock()
        limiter = RateLimiter(clock)
        for chat in range(30):
            assert limiter.acquire(str(chat))[0] == 0.0
        assert limiter.acquire("99") == (1.0, "30 messages/s overall")
        clock.advance(1.0)
        assert limiter.acquire("99")[0] == 0.0

    def test_a_hold_for_a_recent_chat_holds_only_it(self) -> None:
        """A 429 for a chat this limiter just sent to holds that chat alone."""
        clock = FakeClock()
        limiter = RateLimiter(clock)
        limiter.acquire("42")
        clock.advance(30.0)
        limiter.acquire("42")
        limiter.hold("42", 7.0)
        assert limiter.acquire("42") == (7.0, "flood control holds this chat")
        assert limiter.acquire("43")[0] == 0.0

    def test_a_hold_its_pacing_cannot_explain_holds_every_chat(self) -> None:
        """A 429 for a chat this limiter sent nothing to lately holds every chat."""
        clock = FakeClock()
        limiter = RateLimiter(clock)
        limiter.acquire("42")  # the send the 429 answers: the chat's first
        limiter.hold("42", 7.0)
        assert limiter.acquire("43") == (7.0, "flood control holds every chat")
        clock.advance(7.0)
        assert limiter.acquire("43")[0] == 0.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> BotApi:
    return BotApi(token=TOKEN, now=clock.monotonic, chats={"42", "7", "-1001"}, blocked={"13"})


@pytest.fixture
def url(api: BotApi) -> Iterator[str]:
    with serve(api) as base:
        yield base


@contextlib.asynccontextmanager
async def two_senders(url: str, clock: FakeClock
                      ) -> AsyncIterator[tuple[TelegramChannel, TelegramChannel]]:
    """Two channels with the same bot token: one floods a chat, the other meets the 429."""
    settings_ = TelegramSettings(Secret(TOKEN), api_url=url)
    first, second = TelegramChannel(settings_, clock), TelegramChannel(settings_, clock)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


@pytest.fixture
async def channel(url: str, clock: FakeClock) -> AsyncIterator[TelegramChannel]:
    ch = TelegramChannel(TelegramSettings(Secret(TOKEN), api_url=url, timeout_seconds=5), clock)
    yield ch
    await ch.aclose()


class TestSend:
    """send() over HTTP to a Bot API server on loopback."""

    async def test_html_is_sent_with_its_parse_mode(
        self, channel: TelegramChannel, api: BotApi
    ) -> None:
        """The HTML goes out in HTML mode without a link preview, and is Sent."""
        as_channel: Channel = channel
        assert as_channel.name == "telegram"
        outcome = await channel.send(message(html="<b>Tiket #7</b> &amp; langkah 2"))
        assert outcome == Sent()
        (body,) = api.received
        assert body == {"chat_id": "42", "text": "<b>Tiket #7</b> &amp; langkah 2",
                        "parse_mode": "HTML", "disable_web_page_preview": True}  # fmt: skip
        assert api.delivered[0]["shown"] == "Tiket #7 & langkah 2"

    async def test_text_without_html_is_escaped(
        self, channel: TelegramChannel, api: BotApi
    ) -> None:
        """Plain text with <, & and quotes arrives as written."""
        assert await channel.send(message(address="-1001", text='a<b & "c"')) == Sent()
        assert api.delivered[0]["shown"] == 'a<b & "c"'

    async def test_long_html_is_cut_and_accepted(
        self, channel: TelegramChannel, api: BotApi
    ) -> None:
        """A 5,000-character message is cut so the server accepts it."""
        assert await channel.send(message(html="<i>" + "&lt;x" * 2500 + "</i>")) == Sent()
        assert utf16_units(api.delivered[0]["shown"]) == MAX_TEXT

    async def test_a_second_message_to_a_chat_waits_its_second(
        self, channel: TelegramChannel, api: BotApi, clock: FakeClock
    ) -> None:
        """A second message to a chat within a second waits for it (no try spent), and
        reaches the API only then; another chat is not held meanwhile."""
        assert await channel.send(message()) == Sent()
        second = asyncio.create_task(channel.send(message()))
        await clock.wait_sleepers(1)
        assert len(api.received) == 1
        assert await channel.send(message(address="7")) == Sent()
        clock.advance(1.0)
        assert await second == Sent()
        assert len(api.received) == 3

    async def test_a_longer_limit_answers_retry_without_calling(
        self, url: str, api: BotApi, clock: FakeClock
    ) -> None:
        """A group past 20 messages a minute: Retry for the rest of the minute, no call."""
        channel = TelegramChannel(TelegramSettings(Secret(TOKEN), api_url=url), clock)
        try:
            for _ in range(20):
                assert await channel.send(message(address="-1001")) == Sent()
                clock.advance(1.0)
            outcome = await channel.send(message(address="-1001"))
            assert outcome == Retry(40.0, "telegram: rate limit (20 messages/min per group)")
            assert len(api.received) == 20
        finally:
            await channel.aclose()

    async def test_429_retry_after_is_obeyed(self, url: str, api: BotApi, clock: FakeClock) -> None:
        """Another sender floods chat 42: the 429's retry_after is answered and held."""
        async with two_senders(url, clock) as (first, second):
            assert await first.send(message()) == Sent()
            outcome = await second.send(message())
            assert isinstance(outcome, Retry)
            assert outcome.after_seconds == 5.0
            assert "retry after 5" in outcome.reason
            calls = len(api.received)
            clock.advance(2.0)
            assert await second.send(message()) == Retry(
                3.0, "telegram: rate limit (flood control holds every chat)"
            )
            assert await second.send(message(address="7")) == Retry(
                3.0, "telegram: rate limit (flood control holds every chat)"
            )
            assert len(api.received) == calls
            clock.advance(3.0)
            assert await second.send(message()) == Sent()

    async def test_a_huge_retry_after_is_capped(
        self, url: str, api: BotApi, clock: FakeClock
    ) -> None:
        """A 429 asking for ~32 years holds the chats for an hour, not until a restart."""
        api.penalty = 10**9
        async with two_senders(url, clock) as (first, second):
            assert await first.send(message()) == Sent()
            outcome = await second.send(message())
            assert isinstance(outcome, Retry)
            assert outcome.after_seconds == MAX_RETRY_AFTER_SECONDS
            clock.advance(MAX_RETRY_AFTER_SECONDS)
            assert await second.send(message(address="7")) == Sent()

    @pytest.mark.parametrize(
        ("address", "expected"),
        [("13", "HTTP 403 (Forbidden: bot was blocked by the user)"),
         ("99", "HTTP 400 (Bad Request: chat not found)")],
    )  # fmt: skip
    async def test_permanent_refusals_fail(
        self, channel: TelegramChannel, address: str, expected: str
    ) -> None:
        """A blocked bot and an unknown chat are Failed, not retried."""
        assert await channel.send(message(address=address)) == Failed(f"telegram: {expected}")

    async def test_address_that_is_no_chat_id_fails_without_calling(
        self, channel: TelegramChannel, api: BotApi
    ) -> None:
        """An e-mail address given as a chat id is Failed before any request."""
        assert await channel.send(message(address="kadis@kotabogor.example")) == Failed(
            "telegram: the address is not a chat id"
        )
        assert api.received == []

    async def test_broken_html_is_resent_as_plain_text(
        self, channel: TelegramChannel, api: BotApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Our HTML refused: the same message goes once more as plain text, and is logged."""
        caplog.set_level(logging.WARNING)
        outcome = await channel.send(message(text="Tiket <7>", html="<b>Tiket <7>"))
        assert outcome == Sent()
        assert [b.get("parse_mode") for b in api.received] == ["HTML", None]
        assert api.delivered[0]["text"] == "Tiket <7>"
        assert "telegram refused the HTML" in caplog.text

    async def test_plain_text_refused_too_fails(
        self, channel: TelegramChannel, api: BotApi
    ) -> None:
        """When the plain-text resend is refused as well, the message is Failed with both."""
        outcome = await channel.send(message(text="   ", html="<b>x"))
        assert isinstance(outcome, Failed)
        assert "HTML refused (Bad Request: can't parse entities" in outcome.reason
        assert outcome.reason.endswith(
            "plain text: telegram: HTTP 400 (Bad Request: message text is empty)"
        )
        assert len(api.received) == 2

    async def test_server_error_is_retried_later(
        self, channel: TelegramChannel, api: BotApi
    ) -> None:
        """A 502 with an HTML page is Retry with the backoff hint."""
        api.outage = 502
        assert await channel.send(message()) == Retry(
            5.0, "telegram: HTTP 502 without a JSON answer"
        )

    async def test_wrong_token_fails_without_showing_it(self, url: str, clock: FakeClock) -> None:
        """401 for a wrong token is Failed, naming the setting but not the token."""
        wrong = "999:wrong-token"
        ch = TelegramChannel(TelegramSettings(Secret(wrong), api_url=url), clock)
        try:
            outcome = await ch.send(message())
        finally:
            await ch.aclose()
        assert outcome == Failed("telegram: HTTP 401 (Unauthorized); check bot_token and api_url")

    async def test_a_description_naming_the_token_is_scrubbed(
        self, url: str, api: BotApi, clock: FakeClock
    ) -> None:
        """A server that echoes the requested path into its error: the reason hides it."""
        api.echo_path = True
        api.token = "another:token"
        ch = TelegramChannel(TelegramSettings(Secret(TOKEN), api_url=url), clock)
        try:
            outcome = await ch.send(message())
        finally:
            await ch.aclose()
        assert outcome == Failed(
            "telegram: HTTP 401 (Unauthorized: /bot<secret>/sendMessage); "
            "check bot_token and api_url"
        )

    async def test_unreachable_server_never_shows_the_token(
        self, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Connection refused is Retry; neither the reason nor any log line has the token."""
        caplog.set_level(logging.DEBUG)
        base = f"http://127.0.0.1:{closed_port()}"
        ch = TelegramChannel(TelegramSettings(Secret(TOKEN), api_url=base), clock)
        try:
            outcome = await ch.send(message())
        finally:
            await ch.aclose()
        assert isinstance(outcome, Retry)
        assert outcome.after_seconds == 5.0
        assert outcome.reason.startswith("telegram: no connection (ConnectError")
        assert TOKEN not in outcome.reason
        assert TOKEN.split(":")[1] not in caplog.text
        assert caplog.records  # httpx/httpcore did log, so the check above means something

    async def test_token_in_httpx_request_log_is_a_placeholder(
        self, channel: TelegramChannel, caplog: pytest.LogCaptureFixture
    ) -> None:
        """httpx logs every request's URL at INFO: the token is not in it."""
        caplog.set_level(logging.INFO, logger="httpx")
        assert await channel.send(message()) == Sent()
        assert "/botTOKEN/sendMessage" in caplog.text
        assert TOKEN not in caplog.text

    async def test_timeout_is_retried(self, clock: FakeClock) -> None:
        """A server that accepts but never answers is Retry after the timeout."""
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            base = f"http://127.0.0.1:{silent.getsockname()[1]}"
            settings_ = TelegramSettings(Secret(TOKEN), api_url=base, timeout_seconds=0.2)
            ch = TelegramChannel(settings_, clock)
            try:
                outcome = await ch.send(message())
            finally:
                await ch.aclose()
        assert outcome == Retry(5.0, "telegram: timed out after 0.2s")
