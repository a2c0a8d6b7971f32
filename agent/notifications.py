"""Notifications wired from the Config: the Directory and NoticeRules (who is told what), the
configured channels, the Deliverer over the ticket store's outbox, and its periodic jobs.

Envelopes are made only for configured channels: a user with an e-mail address but no
`[notify.email]` gets nothing by e-mail, and with no channel at all there are no rules, no
deliverer and nothing queued.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from agent import __version__
from agent.config import Config
from agent.core.clock import Clock
from agent.core.outbox import NotificationDesk
from agent.metrics import Metrics
from agent.notification_desk import Desk, Store
from notify.channel import Channel
from notify.channels.email import EmailChannel
from notify.channels.telegram import TelegramChannel
from notify.channels.webhook import WebhookChannel
from notify.delivery import Deliverer, DeliverySettings
from ticketing.calendar import Calendar
from ticketing.notices import Directory, Group, NoticeRules, Recipient
from ticketing.periodic import run_periodically

STATS_SECONDS = 15.0  # how often the outbox gauges are read

#: (task name, coroutine factory): the periodic work the agent runs in its TaskGroup
Job = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


def configured_channels(config: Config) -> frozenset[str]:
    """The channel names envelopes may use: "telegram", "email", "webhook:<name>"."""
    n = config.notify
    names = {f"webhook:{w.name}" for w in n.webhooks}
    if n.telegram is not None:
        names.add("telegram")
    if n.email is not None:
        names.add("email")
    return frozenset(names)


def build_directory(config: Config) -> Directory:
    """Every user with their addresses on the configured channels, and one group per
    webhook (named "webhook:<name>", so it never meets a user's name) for its roles."""
    usable = configured_channels(config)
    recipients = []
    for user in config.users:
        pairs = (("telegram", user.telegram_chat_id), ("email", user.email))
        recipients.append(Recipient(
            name=user.name, role=user.role, owner=user.owner, language=user.language,
            full_name=user.full_name or "",
            addresses=tuple((ch, a) for ch, a in pairs if a and ch in usable)))
    groups = tuple(
        Group(name=f"webhook:{w.name}", channel=f"webhook:{w.name}",
              roles=tuple(config.notify.webhook_roles.get(w.name, ())))
        for w in config.notify.webhooks)
    return Directory(tuple(recipients), groups)


def base_url(config: Config) -> str:
    """`[web] base_url`, or the agent's own listening address when it is not set."""
    if config.web.base_url:
        return config.web.base_url
    a = config.agent
    host = f"[{a.listen_host}]" if ":" in a.listen_host else a.listen_host
    return f"http://{host}:{a.listen_port}"


def build_rules(config: Config, calendar: Calendar) -> NoticeRules | None:
    """The notice rules with `[notify.rules]`'s overrides, or None when no channel is
    configured (nothing is queued)."""
    if not configured_channels(config):
        return None
    n = config.notify
    return NoticeRules(
        directory=build_directory(config), sop=config.sop, calendar=calendar,
        base_url=base_url(config), warn_at_percent=float(n.warn_at_percent),
        escalation=n.escalation, tz=config.sla.timezone,
        zones={d.name: d.timezone for d in config.devices}, rules=n.rules)


def build_channels(config: Config, clock: Clock) -> Iterator[Channel]:
    """The configured channels, one at a time (each owns a client to close with `aclose`;
    the caller takes each before the next is built, so none is lost to a failing one)."""
    n = config.notify
    if n.telegram is not None:
        yield TelegramChannel(n.telegram, clock)
    if n.email is not None:
        yield EmailChannel(n.email, clock)
    for hook in n.webhooks:
        yield WebhookChannel(hook, version=__version__, clock=clock)


@dataclass(slots=True)
class Notifications:
    """The running notification parts of one agent: `wake` after queuing, `desk` for the
    pages and the API, `jobs(service)` for the agent's TaskGroup (none without channels)."""

    store: Store
    clock: Clock
    metrics: Metrics
    channels: dict[str, Channel]
    deliverer: Deliverer | None
    directory: Directory
    desk: NotificationDesk | None = field(init=False)  # None: no channel configured

    def __post_init__(self) -> None:
        self.desk = (Desk(self.store, self.channels, self.clock, self.wake, self.directory)
                     if self.channels else None)

    def wake(self) -> None:
        if self.deliverer is not None:
            self.deliverer.wake()

    async def publish_stats(self) -> None:
        """Set the outbox gauges from the store (a store error is the caller's to log)."""
        stats = await self.store.stats()
        self.metrics.notifications.outbox(stats, self.clock.now())

    def delivery_jobs(self) -> list[Job]:
        """Delivery: in a cluster, a duty of the leader only (one sender of each message)."""
        return [] if self.deliverer is None else [("delivery", self.deliverer.run)]

    def stats_jobs(self) -> list[Job]:
        """The outbox gauges: a read of the shared outbox, on every member."""
        if self.deliverer is None:
            return []
        return [("outbox stats", lambda: run_periodically(STATS_SECONDS, self.clock,
                                                           self.publish_stats))]


@contextlib.asynccontextmanager
async def open_notifications(config: Config, clock: Clock, store: Store, metrics: Metrics,
                             settings: DeliverySettings | None = None
                             ) -> AsyncIterator[Notifications]:
    """The channels and the deliverer over `store` (the ticket store, which implements the
    Outbox); the channels are closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        channels: dict[str, Channel] = {}  # by the names envelopes use
        for channel in build_channels(config, clock):
            stack.push_async_callback(channel.aclose)
            channels[channel.name] = channel
        deliverer = None
        if channels:
            deliverer = Deliverer(store, channels, clock, settings or DeliverySettings(),
                                  on_sent=metrics.notifications.sent,
                                  on_failed=metrics.notifications.failed)
        yield Notifications(store, clock, metrics, channels, deliverer,
                            build_directory(config))
