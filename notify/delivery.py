"""The delivery loop: takes due messages from the Outbox, sends each on its channel, and
records Sent, a retry with backoff, or a failure; at least once, in order per recipient."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from agent.core.clock import Clock
from agent.core.errors import BackendError
from agent.core.outbox import Queued

from .channel import Channel, Failed, Outcome, Retry, Sent
from .outbox import Outbox

__all__ = ["MAX_AFTER_SECONDS", "Deliverer", "DeliverySettings", "Hook", "backoff_seconds"]

log = logging.getLogger(__name__)

Hook = Callable[[str, str], None]  # (channel, kind): a metrics counter's inc
MAX_AFTER_SECONDS = 86_400.0  # a channel's Retry.after beyond a day is taken as a day


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the loop paces itself. `poll_seconds`: the pause between rounds (a `wake()` ends
    it early); `batch`: messages per round; `max_tries`: tries before a message is given up;
    the wait before a retry doubles from `backoff_first_seconds` up to `backoff_max_seconds`;
    `send_timeout_seconds`: how long one send may take before it counts as a Retry.
    Raises ValueError for values the loop cannot work with."""

    poll_seconds: float = 2.0
    batch: int = 50
    max_tries: int = 50
    backoff_first_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    send_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        problems = [
            name for name, ok in (
                ("poll_seconds > 0", self.poll_seconds > 0),
                ("batch >= 1", self.batch >= 1),
                ("max_tries >= 1", self.max_tries >= 1),
                ("backoff_first_seconds > 0", self.backoff_first_seconds > 0),
                ("backoff_max_seconds >= backoff_first_seconds",
                 self.backoff_max_seconds >= self.backoff_first_seconds),
                ("send_timeout_seconds > 0", self.send_timeout_seconds > 0),
            ) if not ok
        ]
        if problems:
            raise ValueError("delivery settings need " + ", ".join(problems))


def backoff_seconds(tries: int, first: float, cap: float) -> float:
    """The wait after the try that made `tries` tries in all (1 after the first try):
    `first`, then doubling each try, never above `cap`."""
    exponent = max(0, tries - 1)
    if exponent >= 64:  # 2**64 × first is past any sane cap; avoid float overflow
        return cap
    return float(min(cap, first * 2**exponent))


def _ignore(channel: str, kind: str) -> None:
    return None


class Deliverer:
    """The one delivery loop over an Outbox.

    Each round asks `outbox.due(now, batch)` and sends those messages concurrently. The
    Outbox offers at most one message per (channel, address), the oldest still waiting, so
    messages to one recipient on one channel go out in queue order: a message being retried
    holds the ones behind it, while other recipients proceed. A message held with
    `Envelope.not_before` is never offered before then: the Outbox sets `next_at =
    not_before` when it queues it, so the loop needs no check of its own.

    Per message: the channel named by the envelope (one no longer configured fails the
    message at once); `send` under `asyncio.timeout(send_timeout_seconds)`. Sent marks it
    sent; Failed marks it failed; Retry, a timeout, or an exception from the channel (a bug:
    logged with its traceback, reason "internal error") marks a retry at `now +
    max(Retry.after, backoff)`, or fails it with "gave up after N tries: <reason>" once it
    has had `max_tries` tries.

    At least once: a message is marked sent only after its channel accepted it, so a crash
    (or an outbox outage) between the send and `mark_sent` sends that message again, and
    only that one. Receivers that can deduplicate get `Message.key`.

    `run()` survives an outbox that raises (a database outage): it logs, waits
    `poll_seconds`, and tries again; nothing is lost, since the messages stay queued.
    `on_sent` / `on_failed` are called with (channel, kind) for each message sent or given up
    (the agent's Metrics counts them). The channels stay the caller's to close.
    """

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        clock: Clock,
        settings: DeliverySettings,
        *,
        on_sent: Hook = _ignore,
        on_failed: Hook = _ignore,
    ) -> None:
        self._outbox = outbox
        self._channels = dict(channels)
        self._clock = clock
        self._settings = settings
        self._on_sent = on_sent
        self._on_failed = on_failed
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Start the next round now (called after queuing messages). A wake during a round
        makes the loop go again right after it, so none is lost."""
        self._woken.set()

    async def run(self) -> None:
        """Deliver until cancelled. A full batch goes again at once; otherwise the loop
        pauses `poll_seconds`, or less when woken. Never raises but CancelledError."""
        poll = self._settings.poll_seconds
        while True:
            self._woken.clear()
            try:
                tried = await self.deliver_once()
            except BackendError as exc:
                log.warning("outbox unavailable", extra={"error": str(exc), "retry_in": poll})
                await self._clock.sleep(poll)
                continue
            except Exception:
                log.exception("delivery round failed", extra={"retry_in": poll})
                await self._clock.sleep(poll)
                continue
            if tried >= self._settings.batch:
                await self._clock.sleep(0)  # let others run before the next full batch
                continue
            await self._pause(poll)

    async def _pause(self, seconds: float) -> None:
        """Sleep on the Clock until `seconds` have passed or `wake()` is called."""
        if self._woken.is_set():
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def deliver_once(self) -> int:
        """One round: send every due message (up to `batch`) and record each outcome.
        Returns how many were tried. Raises what the Outbox raises (e.g. BackendUnavailable)
        once every send of the round has finished."""
        due = await self._outbox.due(self._clock.now(), self._settings.batch)
        log.debug("delivery round", extra={"due": len(due)})
        if not due:
            return 0
        results = await asyncio.gather(*(self._deliver(q) for q in due), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(due)

    async def _deliver(self, queued: Queued) -> None:
        envelope = queued.envelope
        channel = self._channels.get(envelope.channel)
        if channel is None:
            await self._fail(queued, f"channel {envelope.channel!r} is not configured "
                                     "(removed from the config?)")
            return
        outcome = await self._send(channel, queued)
        if isinstance(outcome, Sent):
            await self._outbox.mark_sent(queued.id, at=self._clock.now())
            log.info("notification sent", extra=self._fields(queued))
            self._on_sent(envelope.channel, envelope.kind)
        elif isinstance(outcome, Failed):
            await self._fail(queued, outcome.reason)
        else:
            await self._retry(queued, outcome)

    async def _send(self, channel: Channel, queued: Queued) -> Outcome:
        timeout = self._settings.send_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                return await channel.send(queued.envelope.message)
        except TimeoutError:
            return Retry(0.0, f"no answer within {timeout:g}s")
        except Exception:
            # A channel answers delivery problems with an Outcome; an exception is a bug.
            # The message stays queued; its text may hold anything, so the reason does not.
            log.exception("channel raised", extra=self._fields(queued))
            return Retry(0.0, "internal error")

    async def _retry(self, queued: Queued, outcome: Retry) -> None:
        tries = queued.tries + 1
        settings = self._settings
        if tries >= settings.max_tries:
            await self._fail(queued, f"gave up after {tries} tries: {outcome.reason}")
            return
        after = outcome.after_seconds
        if not math.isfinite(after):
            after = MAX_AFTER_SECONDS if after > 0 else 0.0
        after = min(max(after, 0.0), MAX_AFTER_SECONDS)
        wait = max(after, backoff_seconds(tries, settings.backoff_first_seconds,
                                          settings.backoff_max_seconds))
        next_at = self._clock.now() + timedelta(seconds=wait)
        await self._outbox.mark_retry(queued.id, next_at=next_at, reason=outcome.reason)
        log.info("notification retried",
                 extra={**self._fields(queued), "tries": tries, "reason": outcome.reason,
                        "retry_in": wait})

    async def _fail(self, queued: Queued, reason: str) -> None:
        await self._outbox.mark_failed(queued.id, at=self._clock.now(), reason=reason)
        log.warning("notification failed", extra={**self._fields(queued), "reason": reason})
        self._on_failed(queued.envelope.channel, queued.envelope.kind)

    @staticmethod
    def _fields(queued: Queued) -> dict[str, object]:
        # Names, not addresses or text: a log is no place for chat ids, e-mails or messages.
        envelope = queued.envelope
        return {"message_id": queued.id, "channel": envelope.channel,
                "recipient": envelope.recipient, "kind": envelope.kind,
                "ticket": envelope.ticket_id}
