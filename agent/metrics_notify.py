"""The notification instruments (issue 12): messages sent and given up per channel and
kind, and the outbox's waiting messages; their names are in agent/metrics.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from agent.core.outbox import OutboxStats
from agent.metrics import (
    NOTIFY_CHANNELS,
    NOTIFY_FAILED,
    NOTIFY_OLDEST,
    NOTIFY_OLDEST_DUE,
    NOTIFY_QUEUED,
    NOTIFY_SENT,
)

_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")  # "sla_breached": a code name, never free text


def channel_label(channel: str) -> str:
    """The channel label of an Envelope's channel: "webhook:wa-gateway" -> "webhook"."""
    family = channel.partition(":")[0]
    return family if family in NOTIFY_CHANNELS else "other"


def kind_label(kind: str) -> str:
    """The kind label: the Envelope's kind when it is a code name, else "other"."""
    return kind if _KIND.fullmatch(kind) else "other"


class NotificationInstruments:
    """Messages sent and given up per (channel, kind), and the outbox's waiting messages.

    `sent` and `failed` are the Deliverer's hooks; `outbox` is fed an OutboxStats (by the
    agent's "outbox stats" job, every STATS_SECONDS). A (channel, kind) seen once gets both
    counters, so the first failure after sends is an increase, not a new series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._sent = Counter(
            NOTIFY_SENT, "Notifications delivered, by channel (telegram, email, webhook) and "
            "kind of message.", ["channel", "kind"], registry=registry)
        self._failed = Counter(
            NOTIFY_FAILED, "Notifications given up for good (a permanent refusal, or too many "
            "tries), by channel and kind: see the admin page's failed messages.",
            ["channel", "kind"], registry=registry)
        self._queued = Gauge(
            NOTIFY_QUEUED, "Notifications waiting in the outbox, including those held for the "
            "next working morning.", registry=registry)
        self._oldest = Gauge(
            NOTIFY_OLDEST, "Age of the oldest waiting notification (0 when none); held "
            "messages count, so it grows overnight.", registry=registry)
        self._oldest_due = Gauge(
            NOTIFY_OLDEST_DUE, "How long the oldest waiting notification that is not held "
            "has been sendable (0 when none): a stuck outbox.", registry=registry)

    def sent(self, channel: str, kind: str) -> None:
        """Count one message delivered on `channel` ("telegram", "webhook:<name>"...)."""
        sent, _ = self._pair(channel, kind)
        sent.inc()

    def failed(self, channel: str, kind: str) -> None:
        """Count one message given up on `channel`."""
        _, failed = self._pair(channel, kind)
        failed.inc()

    def _pair(self, channel: str, kind: str) -> tuple[Any, Any]:
        labels = (channel_label(channel), kind_label(kind))
        return self._sent.labels(*labels), self._failed.labels(*labels)

    def outbox(self, stats: OutboxStats, now: datetime) -> None:
        """Set the gauges from `stats` at `now` (ages in seconds, never negative)."""
        self._queued.set(stats.waiting)
        self._oldest.set(_age(stats.oldest_waiting_at, now))
        # an outbox that does not tell when its messages became sendable: the oldest's age
        due = stats.oldest_waiting_at if stats.oldest_due_at is None else stats.oldest_due_at
        self._oldest_due.set(_age(due, now))


def _age(since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())
