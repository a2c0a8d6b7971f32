"""The delivery loop over an in-memory Outbox and scripted channels, on a FakeClock: order per
recipient, backoff, giving up, channel bugs, outbox outages, and waking the loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from agent.core.errors import BackendUnavailable
from agent.core.model import Secret
from agent.core.outbox import Delivery, Message
from notify.channel import Failed, Outcome, Retry, Sent
from notify.delivery import MAX_AFTER_SECONDS, DeliverySettings, backoff_seconds
from tests.notify_delivery_support import Rig, ScriptedChannel


class TestOrderPerRecipient:
    """A retried message holds those behind it for the same recipient; others proceed."""

    async def test_second_message_waits_behind_a_retried_first(self) -> None:
        rig = Rig(ScriptedChannel(script=[Retry(0, "busy")]))
        a1, a2 = rig.put("a1", "a"), rig.put("a2", "a")
        b1, b2 = rig.put("b1", "b"), rig.put("b2", "b")
        assert await rig.deliverer.deliver_once() == 2  # a1 and b1: one per recipient
        assert rig.channel.asked == ["a1", "b1"]
        assert await rig.deliverer.deliver_once() == 1  # b2 goes on; a2 waits behind a1
        assert rig.channel.asked == ["a1", "b1", "b2"]
        assert rig.status(a2) is Delivery.WAITING
        rig.clock.advance(9)
        assert await rig.deliverer.deliver_once() == 0
        rig.clock.advance(1)
        await rig.deliverer.deliver_once()
        await rig.deliverer.deliver_once()
        assert rig.channel.asked == ["a1", "b1", "b2", "a1", "a2"]
        assert rig.channel.accepted == ["b1", "b2", "a1", "a2"]
        assert all(rig.status(i) is Delivery.SENT for i in (a1, a2, b1, b2))
        assert rig.outbox.stale_marks == []

    async def test_sends_of_one_round_run_concurrently(self) -> None:
        both = asyncio.Event()
        rig = Rig()
        in_flight = 0

        async def send(message: Message) -> Outcome:
            nonlocal in_flight
            in_flight += 1
            if in_flight == 2:
                both.set()
            await both.wait()  # sequential sends would wait here for ever
            return Sent()

        rig.channel.send = send  # type: ignore[method-assign]
        rig.put("a1", "a")
        rig.put("b1", "b")
        async with asyncio.timeout(5.0):
            assert await rig.deliverer.deliver_once() == 2


class TestBackoff:
    """Retries wait longer each time, up to the cap, or as long as the channel asks."""

    def test_backoff_doubles_from_first_to_cap(self) -> None:
        assert [backoff_seconds(t, 10, 300) for t in (1, 2, 3, 5, 6, 7, 10_000)] == [
            10, 20, 40, 160, 300, 300, 300]

    async def test_the_wait_grows_and_is_capped(self) -> None:
        rig = Rig(ScriptedChannel(answer=lambda m: Retry(0, "down")))
        mid = rig.put("a1")
        waits = []
        for _ in range(7):
            assert await rig.deliverer.deliver_once() == 1
            waits.append(rig.wait_of(mid))
            rig.clock.advance(waits[-1])
        assert waits == [10, 20, 40, 80, 160, 300, 300]
        assert rig.outbox.get(mid).tries == 7
        assert rig.outbox.get(mid).last_error == "down"

    async def test_a_longer_retry_after_is_obeyed(self) -> None:
        rig = Rig(ScriptedChannel(script=[Retry(120, "429 retry_after=120")]))
        mid = rig.put("a1")
        await rig.deliverer.deliver_once()
        assert rig.wait_of(mid) == 120
        rig.clock.advance(119)
        assert await rig.deliverer.deliver_once() == 0
        rig.clock.advance(1)
        assert await rig.deliverer.deliver_once() == 1
        assert rig.status(mid) is Delivery.SENT

    async def test_a_shorter_retry_after_still_backs_off(self) -> None:
        rig = Rig(ScriptedChannel(script=[Retry(1, "slow down")]))
        mid = rig.put("a1")
        await rig.deliverer.deliver_once()
        assert rig.wait_of(mid) == 10

    async def test_an_absurd_retry_after_is_capped_at_a_day(self) -> None:
        rig = Rig(ScriptedChannel(script=[Retry(float("inf"), "bogus")]))
        mid = rig.put("a1")
        await rig.deliverer.deliver_once()
        assert rig.wait_of(mid) == MAX_AFTER_SECONDS


class TestGivingUp:
    """Permanent refusals, too many tries and unknown channels end FAILED with a reason."""

    async def test_gives_up_after_max_tries(self) -> None:
        rig = Rig(ScriptedChannel(answer=lambda m: Retry(0, "busy")), max_tries=3)
        mid = rig.put("a1")
        for _ in range(3):
            assert rig.status(mid) is Delivery.WAITING
            await rig.deliverer.deliver_once()
            rig.clock.advance(300)
        queued = rig.outbox.get(mid)
        assert queued.status is Delivery.FAILED
        assert queued.last_error == "gave up after 3 tries: busy"
        assert rig.channel.asked == ["a1"] * 3
        assert rig.hooks.failed == [("telegram", "step_ready")]
        assert rig.hooks.sent == []

    async def test_failed_is_final_at_once_and_frees_the_queue(self) -> None:
        rig = Rig(ScriptedChannel(script=[Failed("400 chat not found")]))
        a1, a2 = rig.put("a1"), rig.put("a2")
        await rig.deliverer.deliver_once()
        assert rig.status(a1) is Delivery.FAILED
        assert rig.outbox.get(a1).last_error == "400 chat not found"
        assert rig.outbox.get(a1).done_at == rig.clock.now()
        await rig.deliverer.deliver_once()
        assert rig.channel.asked == ["a1", "a2"]  # never asked again; the next one goes
        assert rig.status(a2) is Delivery.SENT
        assert rig.hooks.failed == [("telegram", "step_ready")]

    async def test_unknown_channel_fails_with_a_clear_reason(self) -> None:
        rig = Rig()
        mid = rig.put("w1", channel="webhook:old", kind="sla_breached")
        await rig.deliverer.deliver_once()
        queued = rig.outbox.get(mid)
        assert queued.status is Delivery.FAILED
        assert "'webhook:old' is not configured" in queued.last_error
        assert rig.channel.asked == []
        assert rig.hooks.failed == [("webhook:old", "sla_breached")]


class TestChannelBugs:
    """A channel that raises is a bug: logged with its traceback, the message kept."""

    async def test_raising_channel_counts_as_a_retry(self, caplog: pytest.LogCaptureFixture
                                                     ) -> None:
        token = Secret("123:SECRET-TOKEN")
        rig = Rig(ScriptedChannel(script=[RuntimeError(f"bug near {token.reveal()}")]))
        mid = rig.put("a1")
        with caplog.at_level(logging.ERROR, logger="notify.delivery"):
            assert await rig.deliverer.deliver_once() == 1
        queued = rig.outbox.get(mid)
        assert (queued.status, queued.tries, queued.last_error) == (
            Delivery.WAITING, 1, "internal error")  # never the exception's text
        [record] = [r for r in caplog.records if r.getMessage() == "channel raised"]
        assert record.exc_info is not None
        rig.clock.advance(10)
        await rig.deliverer.deliver_once()
        assert rig.channel.accepted == ["a1"]

    async def test_logs_name_the_recipient_never_address_or_text(
            self, caplog: pytest.LogCaptureFixture) -> None:
        rig = Rig(ScriptedChannel(script=[Retry(0, "busy"), Failed("blocked")]))
        rig.put("a1", "987654", recipient="noc")
        rig.put("b1", "kadis@kotabogor.example", recipient="kadis")
        with caplog.at_level(logging.DEBUG, logger="notify.delivery"):
            await rig.deliverer.deliver_once()
            rig.clock.advance(10)
            await rig.deliverer.deliver_once()
        logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        assert "'recipient': 'noc'" in logged
        assert "'recipient': 'kadis'" in logged
        for private in ("987654", "kadis@", "text a1", "text b1"):
            assert private not in logged


class TestOutboxOutage:
    """An outbox that raises does not stop delivery; nothing is lost or doubled."""

    async def test_deliver_once_raises_what_the_outbox_raises(self) -> None:
        rig = Rig()
        rig.put("a1")
        rig.outbox.fail_next(1)
        with pytest.raises(BackendUnavailable):
            await rig.deliverer.deliver_once()
        assert rig.channel.asked == []

    async def test_run_survives_an_outage_and_delivers_everything_once(
            self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING, logger="notify.delivery")
        rig = Rig()
        keys = [f"{r}{n}" for r in "abc" for n in range(3)]
        for key in keys:
            rig.put(key, key[0])
        rig.outbox.fail_next(4)
        task = asyncio.create_task(rig.deliverer.run())
        for _ in range(4):  # each failed round waits poll_seconds
            await rig.clock.wait_sleepers(1)
            assert rig.channel.asked == []
            rig.clock.advance(rig.settings.poll_seconds)
        for _ in range(3):  # then one message per recipient per round
            await rig.clock.wait_sleepers(1)
            rig.clock.advance(rig.settings.poll_seconds)
        await rig.clock.wait_sleepers(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(rig.channel.accepted) == keys
        assert rig.outbox.calls["due"] >= 7
        # A degraded backend is a WARNING, not a bug's ERROR with a traceback.
        assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
            ("WARNING", "outbox unavailable", None)] * 4

    async def test_a_lost_mark_resends_only_that_message(self) -> None:
        rig = Rig()
        a1 = rig.put("a1", "a")
        rig.outbox.fail_next(1, method="mark_sent")
        b1 = rig.put("b1", "b", channel="telegram")
        with pytest.raises(BackendUnavailable):
            await rig.deliverer.deliver_once()
        assert rig.status(a1) is Delivery.WAITING  # sent, but not recorded
        assert rig.status(b1) is Delivery.SENT  # the rest of the round was recorded
        await rig.deliverer.deliver_once()
        assert rig.channel.accepted == ["a1", "b1", "a1"]  # at least once
        assert rig.status(a1) is Delivery.SENT
        assert rig.outbox.stale_marks == []


class TestChannelOutage:
    """A channel down for an hour delivers everything once, in order, when it returns."""

    async def test_hour_long_outage_then_recovery(self) -> None:
        rig = Rig()
        back_at = rig.clock.now() + timedelta(hours=1)
        rig.channel.answer = lambda m: (
            Retry(0, "connection refused") if rig.clock.now() < back_at else Sent())
        keys = [f"{r}{n}" for r in "abc" for n in range(4)]
        ids = [rig.put(key, key[0]) for key in keys]
        for _ in range(3600):  # 2-second polls: two hours at most
            await rig.deliverer.deliver_once()
            if all(rig.status(i) is Delivery.SENT for i in ids):
                break
            rig.clock.advance(rig.settings.poll_seconds)
        assert all(rig.status(i) is Delivery.SENT for i in ids)
        assert rig.clock.now() <= back_at + timedelta(seconds=300 + 3 * 2 + 2)
        assert sorted(rig.channel.accepted) == sorted(keys)  # each once
        assert rig.outbox.stale_marks == []
        for r in "abc":
            assert [k for k in rig.channel.accepted if k[0] == r] == [f"{r}{n}" for n in range(4)]
            # During the outage only each recipient's first message was tried.
            assert {k for k in rig.channel.asked[:-12] if k[0] == r} == {f"{r}0"}


class TestWake:
    """`wake()` ends the pause between rounds at once; the poll finds messages without it."""

    async def test_wake_ends_the_sleep(self) -> None:
        rig = Rig()
        task = asyncio.create_task(rig.deliverer.run())
        await rig.clock.wait_sleepers(1)  # the first round found nothing
        started = rig.clock.monotonic()
        rig.put("a1")
        rig.deliverer.wake()
        await rig.channel.wait_asked(1)
        assert rig.clock.monotonic() == started
        await rig.clock.wait_sleepers(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rig.channel.accepted == ["a1"]

    async def test_without_wake_the_poll_finds_it(self) -> None:
        rig = Rig()
        task = asyncio.create_task(rig.deliverer.run())
        await rig.clock.wait_sleepers(1)
        rig.put("a1")
        rig.clock.advance(rig.settings.poll_seconds)
        await rig.channel.wait_asked(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_a_wake_during_a_round_is_not_lost(self) -> None:
        rig = Rig()

        def answer(message: Message) -> Outcome:
            if message.key == "a1":  # the ticket service queues another meanwhile
                rig.put("b1", "b")
                rig.deliverer.wake()
            return Sent()

        rig.channel.answer = answer
        rig.put("a1")
        task = asyncio.create_task(rig.deliverer.run())
        await rig.channel.wait_asked(2)
        assert rig.clock.monotonic() == 1000.0  # no time passed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_a_full_batch_goes_again_at_once(self) -> None:
        rig = Rig(batch=2)
        for r in "abcde":
            rig.put(f"{r}1", r)
        task = asyncio.create_task(rig.deliverer.run())
        await rig.channel.wait_asked(5)
        assert rig.clock.monotonic() == 1000.0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class TestHooks:
    """The metrics hooks are called with (channel, kind)."""

    async def test_hooks_get_channel_and_kind(self) -> None:
        mail = ScriptedChannel("email", script=[Failed("550 no such user")])
        rig = Rig(ScriptedChannel("telegram"), mail)
        rig.put("t1", channel="telegram", kind="ticket_opened")
        rig.put("e1", channel="email", kind="sla_breached")
        await rig.deliverer.deliver_once()
        assert rig.hooks.sent == [("telegram", "ticket_opened")]
        assert rig.hooks.failed == [("email", "sla_breached")]


class TestSettings:
    """Settings the loop cannot work with are refused, each named."""

    def test_bad_settings_are_named(self) -> None:
        with pytest.raises(ValueError, match=r"batch >= 1, backoff_max_seconds >= backoff_fir"):
            DeliverySettings(batch=0, backoff_first_seconds=10, backoff_max_seconds=5)
        with pytest.raises(ValueError, match="poll_seconds > 0"):
            DeliverySettings(poll_seconds=0)

