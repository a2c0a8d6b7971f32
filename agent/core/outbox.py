"""The vocabulary of queued messages, shared by ticketing (which queues them in the same
transaction as the ticket event) and notify (which delivers them): values only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """One message for one address on one channel.

    `key` is the message's idempotency key (event × recipient × channel): a receiver that can
    deduplicate (a webhook) gets it. `address` is what the channel needs to reach the
    recipient: a Telegram chat id, an e-mail address; unused by a webhook, which has one URL.
    `text` is plain text and always set; `html` is the same message as HTML where the channel
    can show it (Telegram's HTML subset, an e-mail alternative part). `document` is the
    machine-readable form a webhook posts (kind, ticket, step, due time, link...).
    """

    key: str
    address: str
    subject: str
    text: str
    html: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict)


class Delivery(StrEnum):
    """Where a queued message stands."""

    WAITING = "waiting"  # not delivered yet (never tried, or to be tried again at `next_at`)
    SENT = "sent"
    FAILED = "failed"  # given up: a permanent refusal, or too many tries (an admin may retry)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message to queue: for `recipient` (a user's or a group's name, as the admin page
    shows it) on `channel` ("telegram", "email", "webhook:<name>"), about `ticket_id`.

    `message.key` is unique in the outbox (event × recipient × channel): queuing the same key
    twice keeps the first. `kind` names what happened ("ticket_opened", "step_ready",
    "sla_warning", "sla_breached", ...): a metric label. `not_before` holds a non-urgent
    message until the next working morning."""

    channel: str
    recipient: str
    kind: str
    ticket_id: str
    message: Message
    created_at: datetime
    not_before: datetime


@dataclass(frozen=True, slots=True)
class Queued:
    """A stored message: its envelope, where delivery stands, and its tries so far."""

    id: int
    envelope: Envelope
    status: Delivery
    tries: int
    next_at: datetime  # when it may be tried (again)
    last_error: str  # the reason of the last Retry or Failed ("" before any)
    done_at: datetime | None  # when it was sent or given up


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the metrics show: messages waiting, when the oldest of them was queued, and the
    earliest `not_before` among them (when the longest-sendable one became sendable: in the
    future when every waiting message is held for the working morning). None when nothing
    waits; `oldest_due_at` None also from an outbox that does not tell."""

    waiting: int
    oldest_waiting_at: datetime | None
    oldest_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    """One test message ("kirim pesan uji"): on `channel` to `address`, sent or why not
    (`detail` is a reason a person can act on; never a secret)."""

    channel: str
    address: str
    sent: bool
    detail: str = ""


class NotificationDesk(Protocol):
    """What the admin page, `GET /api/v1/notifications` and a user's own page see of
    notifications. agent/app.py builds it over the outbox, the channels and the deliverer."""

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        """Stored messages, newest first; only those of `status` when given."""
        ...

    async def stats(self) -> OutboxStats: ...

    async def retry(self, message_id: int) -> bool:
        """Queue a failed (or waiting) message again, due now, and wake delivery. False when
        there is no such message or it was sent."""
        ...

    def channels(self, user: str) -> Sequence[tuple[str, str]]:
        """The (channel, address) pairs `user` is reached on (empty for an unknown user)."""
        ...

    async def send_test(self, user: str) -> Sequence[TrialOutcome]:
        """Send a test message to each of `user`'s channels now (not through the outbox)."""
        ...
