"""The vocabulary of queued messages, shared by ticketing (which queues them in the same
transaction as the ticket event) and notify (which delivers them): values only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
    """What the metrics show: messages waiting, and when the oldest of them was queued."""

    waiting: int
    oldest_waiting_at: datetime | None
