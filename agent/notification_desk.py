"""The NotificationDesk the pages and the API use: the outbox's messages and counts, an
administrator's retry, a user's channels and their test message (sent directly, not queued).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from agent.core.clock import Clock
from agent.core.outbox import Delivery, Message, OutboxStats, Queued, TrialOutcome
from notify.channel import Channel, Sent
from notify.outbox import Outbox
from ticketing.notices import Directory

log = logging.getLogger(__name__)

Store = Outbox  # the ticket store, as far as notifications are concerned
TEST_TIMEOUT_SECONDS = 30.0  # a test message that takes longer is reported as not sent

_TEST = {
    "id": ("Pesan uji dari pantau",
           "Ini pesan uji dari pantau. Jika Anda membacanya, notifikasi ke {channel} "
           "untuk {name} berfungsi."),
    "en": ("Test message from pantau",
           "This is a test message from pantau. If you can read it, notifications on "
           "{channel} for {name} work."),
}
_CHANNEL_NAMES = {"telegram": "Telegram", "email": "e-mail"}


class Desk:
    """NotificationDesk over the store's outbox, the open channels and the directory.
    `wake` starts a delivery round (after a retry)."""

    def __init__(self, store: Store, channels: Mapping[str, Channel], clock: Clock,
                 wake: Callable[[], None], directory: Directory) -> None:
        self._store = store
        self._channels = dict(channels)
        self._clock = clock
        self._wake = wake
        self._people = {r.name: r for r in directory.recipients}

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        return await self._store.messages(status, limit)

    async def stats(self) -> OutboxStats:
        return await self._store.stats()

    async def retry(self, message_id: int) -> bool:
        """A failed message waits again, due now (a waiting one is brought forward to now),
        and delivery wakes. False for a sent or unknown message."""
        requeued = await self._store.requeue(message_id, self._clock.now())
        if requeued:
            log.info("notification requeued", extra={"message_id": message_id})
            self._wake()
        return requeued

    def channels(self, user: str) -> Sequence[tuple[str, str]]:
        person = self._people.get(user)
        if person is None:
            return ()
        return tuple((c, a) for c, a in person.addresses if c in self._channels)

    async def send_test(self, user: str) -> Sequence[TrialOutcome]:
        person = self._people.get(user)
        if person is None:
            return ()
        lang = "en" if person.language == "en" else "id"
        subject, body = _TEST[lang]
        stamp = self._clock.now().isoformat()
        trials = []
        for channel_name, address in self.channels(user):
            text = body.format(channel=_CHANNEL_NAMES.get(channel_name, channel_name),
                               name=person.full_name or person.name)
            message = Message(key=f"test/{user}/{channel_name}/{stamp}", address=address,
                              subject=subject, text=text,
                              document={"kind": "test", "recipient": user})
            trials.append(self._try(channel_name, message))
        # at once: the page waits for the slowest channel (TEST_TIMEOUT_SECONDS at most),
        # not for the sum of them; `_try` never raises, and the order is the channels'
        return await asyncio.gather(*trials)

    async def _try(self, channel_name: str, message: Message) -> TrialOutcome:
        channel = self._channels[channel_name]
        try:
            async with asyncio.timeout(TEST_TIMEOUT_SECONDS):
                outcome = await channel.send(message)
        except TimeoutError:
            return TrialOutcome(channel_name, message.address, False,
                                f"no answer within {TEST_TIMEOUT_SECONDS:g}s")
        except Exception:
            log.exception("test message: channel raised", extra={"channel": channel_name})
            return TrialOutcome(channel_name, message.address, False, "internal error")
        if isinstance(outcome, Sent):
            log.info("test message sent", extra={"channel": channel_name})
            return TrialOutcome(channel_name, message.address, True)
        log.info("test message not sent", extra={"channel": channel_name,
                                                 "reason": outcome.reason})
        return TrialOutcome(channel_name, message.address, False, outcome.reason)
