"""agent.notifications builds who is told what from the Config (only on configured
channels), and agent.notification_desk's Desk serves the pages and the API."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from agent.config import Config, loads
from agent.core.outbox import Delivery, Message, OutboxStats
from agent.metrics import Metrics
from agent.notification_desk import Desk
from agent.notifications import (
    Notifications,
    build_directory,
    build_rules,
    configured_channels,
    open_notifications,
)
from notify.channel import Failed, Outcome, Retry, Sent
from tests.fakes import FakeClock, InMemoryBackend
from tests.notify_delivery_support import ScriptedChannel, envelope
from ticketing.calendar import CalendarTime
from ticketing.notices import Directory, Group, Recipient
from ticketing.periodic import run_periodically

TOKEN = "123456789:LEAK-telegram-token"
CONFIG = f"""\
[web]
base_url = "https://pantau.kotabogor.example"

[sla]
timezone = "Asia/Makassar"

[notify]
warn_at_percent = 70

[notify.telegram]
bot_token = "{TOKEN}"
api_url = "http://127.0.0.1:9"

[[notify.webhook]]
name = "wa-gateway"
url = "http://127.0.0.1:9/hook"
secret = "LEAK-webhook-secret-0123456789"
roles = ["kepala_dinas", "kabid"]

[[devices]]
name = "sw-1"
address = "127.0.0.1"
owner = "Dinas Kesehatan"

[[users]]
name = "kadis"
role = "kepala_dinas"
token = "tok-kadis-0123456789abcdef0123456789"
full_name = "Drs. Contoh, M.Si"
telegram_chat_id = "123456789"
email = "kadis@kotabogor.example"

[[users]]
name = "siti"
role = "perangkat_daerah"
owner = "Dinas Kesehatan"
token = "tok-siti-0123456789abcdef0123456789"
language = "en"
email = "siti@kotabogor.example"
"""

BARE = """\
[[users]]
name = "kadis"
role = "kepala_dinas"
token = "tok-kadis-0123456789abcdef0123456789"
telegram_chat_id = "123456789"
email = "kadis@kotabogor.example"
"""


@pytest.fixture
def config() -> Config:
    return loads(CONFIG)


def test_only_configured_channels_are_used(config: Config) -> None:
    assert configured_channels(config) == {"telegram", "webhook:wa-gateway"}


def test_the_directory_has_the_users_on_configured_channels_and_a_group_per_webhook(
        config: Config) -> None:
    directory = build_directory(config)
    assert directory.recipients == (
        Recipient("kadis", "kepala_dinas", None, "id", "Drs. Contoh, M.Si",
                  (("telegram", "123456789"),)),  # e-mail is not configured: not there
        Recipient("siti", "perangkat_daerah", "Dinas Kesehatan", "en", "", ()),
    )
    assert directory.groups == (
        Group("webhook:wa-gateway", "webhook:wa-gateway", ("kepala_dinas", "kabid")),)


def test_the_rules_follow_the_config(config: Config) -> None:
    rules = build_rules(config, CalendarTime())
    assert rules is not None
    assert rules.base_url == "https://pantau.kotabogor.example"
    assert rules.warn_at_percent == 70.0
    assert rules.tz == "Asia/Makassar"
    assert dict(rules.zones) == {"sw-1": config.device("sw-1").timezone}
    assert rules.escalation == config.notify.escalation
    assert rules.directory == build_directory(config)


def test_no_channel_means_no_rules_no_delivery_and_no_desk() -> None:
    bare = loads(BARE)
    assert build_rules(bare, CalendarTime()) is None
    assert build_directory(bare).recipients[0].addresses == ()


async def test_open_notifications_without_channels_runs_nothing() -> None:
    clock = FakeClock()
    async with open_notifications(loads(BARE), clock, InMemoryBackend(), Metrics()) as n:
        assert n.deliverer is None
        assert n.desk is None
        assert [*n.delivery_jobs(), *n.stats_jobs()] == []
        n.wake()  # harmless


async def test_open_notifications_builds_the_channels_and_closes_them(config: Config) -> None:
    clock = FakeClock()
    async with open_notifications(config, clock, InMemoryBackend(), Metrics()) as n:
        assert set(n.channels) == {"telegram", "webhook:wa-gateway"}
        assert n.deliverer is not None
        assert n.desk is not None
        assert n.desk.channels("kadis") == (("telegram", "123456789"),)
        assert TOKEN not in repr(n.channels) + repr(n.desk)
    closed = n.channels["telegram"]._client.is_closed  # type: ignore[attr-defined]
    assert closed


class Recorder:
    def __init__(self) -> None:
        self.outbox_calls: list[tuple[OutboxStats, datetime]] = []

    def sent(self, channel: str, kind: str) -> None: ...

    def failed(self, channel: str, kind: str) -> None: ...

    def outbox(self, stats: OutboxStats, now: datetime) -> None:
        self.outbox_calls.append((stats, now))


async def test_the_stats_job_sets_the_gauges_and_survives_a_store_outage(
        config: Config) -> None:
    clock = FakeClock()
    backend = InMemoryBackend()
    metrics = Metrics()
    recorder = Recorder()
    metrics.notifications = recorder  # type: ignore[assignment]
    await backend.enqueue([envelope("k1", at=clock.now())])
    n = Notifications(backend, clock, metrics, {"telegram": ScriptedChannel()}, None,
                      Directory())
    task = asyncio.create_task(run_periodically(15, clock, n.publish_stats))
    backend.unavailable = True
    await clock.wait_sleepers(1)
    clock.advance(15)
    await clock.wait_sleepers(1)
    assert recorder.outbox_calls == []  # the outage is logged, the loop goes on
    backend.unavailable = False
    clock.advance(15)
    await clock.wait_sleepers(1)
    task.cancel()
    stats, now = recorder.outbox_calls[0]
    assert stats.waiting == 1
    assert now == clock.now()


# -- the desk ------------------------------------------------------------------------------

PEOPLE = Directory((
    Recipient("kadis", "kepala_dinas", full_name="Drs. Contoh",
              addresses=(("telegram", "1001"), ("email", "kadis@kotabogor.example"))),
    Recipient("joe", "kabid", language="en", addresses=(("telegram", "1002"),)),
))


def desk(*channels: ScriptedChannel) -> tuple[Desk, InMemoryBackend, FakeClock, list[int]]:
    clock = FakeClock()
    backend = InMemoryBackend()
    wakes: list[int] = []
    made = Desk(backend, {c.name: c for c in channels}, clock, lambda: wakes.append(1),
                PEOPLE)
    return made, backend, clock, wakes


async def test_the_desk_lists_counts_and_retries_failed_messages() -> None:
    made, backend, clock, wakes = desk(ScriptedChannel())
    await backend.enqueue([envelope("k1", at=clock.now()), envelope("k2", "b", at=clock.now())])
    [second, first] = await made.messages(None, 10)
    await backend.mark_failed(first.id, at=clock.now(), reason="blocked")
    assert [q.id for q in await made.messages(Delivery.FAILED, 10)] == [first.id]
    assert (await made.stats()).waiting == 1
    clock.advance(30)
    assert await made.retry(first.id) is True
    again = (await made.messages(None, 10))[1]
    assert (again.status, again.tries, again.next_at) == (Delivery.WAITING, 0, clock.now())
    assert wakes == [1]
    await backend.mark_sent(second.id, at=clock.now())
    assert await made.retry(second.id) is False  # sent: nothing to retry
    assert await made.retry(999) is False
    assert wakes == [1]


async def test_the_desk_shows_a_users_configured_channels_only() -> None:
    made, *_ = desk(ScriptedChannel("telegram"))
    assert made.channels("kadis") == (("telegram", "1001"),)
    assert made.channels("nobody") == ()


async def test_a_test_message_goes_to_each_channel_and_reports_each_outcome() -> None:
    tg = ScriptedChannel("telegram", [Retry(5, "telegram: too many requests")])
    mail = ScriptedChannel("email")
    made, backend, _, _ = desk(tg, mail)
    outcomes = await made.send_test("kadis")
    assert [(o.channel, o.address, o.sent, o.detail) for o in outcomes] == [
        ("telegram", "1001", False, "telegram: too many requests"),
        ("email", "kadis@kotabogor.example", True, ""),
    ]
    assert await backend.messages(None, 10) == []  # not through the outbox
    tg.script = [Failed("telegram: chat not found")]
    [failed, sent] = await made.send_test("kadis")
    assert (failed.sent, failed.detail) == (False, "telegram: chat not found")
    assert sent.sent
    assert await made.send_test("nobody") == ()


async def test_a_test_message_goes_to_every_channel_at_once() -> None:
    mail = ScriptedChannel("email")

    class AfterMail(ScriptedChannel):
        """Answers only once the e-mail has been asked (5 s at most, then TimeoutError)."""

        async def send(self, message: Message) -> Outcome:
            await mail.wait_asked(1)
            return await super().send(message)

    made, *_ = desk(AfterMail("telegram"), mail)
    outcomes = await made.send_test("kadis")
    # one after the other, the telegram send would wait for an e-mail not yet asked for
    assert [(o.channel, o.sent) for o in outcomes] == [("telegram", True), ("email", True)]


async def test_a_test_message_speaks_the_users_language() -> None:
    seen: list[str] = []

    def answer(message: object) -> Sent:
        seen.append(message.text)  # type: ignore[attr-defined]
        return Sent()

    made, *_ = desk(ScriptedChannel("telegram", answer=answer))
    await made.send_test("kadis")
    await made.send_test("joe")
    assert "pesan uji" in seen[0]
    assert "Drs. Contoh" in seen[0]
    assert "test message" in seen[1]


async def test_a_channel_that_raises_is_reported_not_sent() -> None:
    made, *_ = desk(ScriptedChannel("telegram", [RuntimeError("boom " + TOKEN)]))
    [outcome] = await made.send_test("joe")
    assert (outcome.sent, outcome.detail) == (False, "internal error")
    assert TOKEN not in outcome.detail


async def test_the_deliverer_counts_into_the_metrics_and_runs_with_the_jobs(
        config: Config) -> None:
    metrics = Metrics()
    recorder = Recorder()
    metrics.notifications = recorder  # type: ignore[assignment]
    async with open_notifications(config, FakeClock(), InMemoryBackend(), metrics) as n:
        assert n.deliverer is not None
        assert n.deliverer._on_sent == recorder.sent
        assert n.deliverer._on_failed == recorder.failed
        assert [name for name, _ in [*n.delivery_jobs(), *n.stats_jobs()]] == [
            "delivery", "outbox stats"]
