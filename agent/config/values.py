"""The frozen Config: the configuration the rest of pantau sees, section by section.

`NotifySettings` lives here, not in `agent.core.settings`: it holds the channels' own
settings values from `notify.channels`, which agent.core may not import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.core.model import Device
from agent.core.settings import (
    AgentSettings,
    AlertmanagerSettings,
    ClusterSettings,
    FlappingSettings,
    IcmpSettings,
    MaintenanceWindow,
    PollingSettings,
    ReportSettings,
    SlaSettings,
    SnmpSettings,
    TicketSettings,
    TrapSettings,
    User,
    WebSettings,
)
from notify.channels.email import EmailSettings
from notify.channels.telegram import TelegramSettings
from notify.channels.webhook import WebhookSettings
from ticketing.audiences import Rule
from ticketing.notices import ESCALATION
from ticketing.sop import SOP_006, Sop

DEFAULT_ESCALATION = ESCALATION  # whom a breach reaches (ticketing.notices owns the rule)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """`[notify]`: the channels that are configured (None or empty: not configured), the
    roles whose messages each webhook receives too, and the rules' settings.

    `warn_at_percent`: a step's role is told when this share of its SLA has passed.
    `escalation`: a breached step also reaches the role after its own in this chain.
    `rules`: `[notify.rules.<kind>]`, message kind -> its override of who is told and when.
    """

    telegram: TelegramSettings | None = None
    email: EmailSettings | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    webhook_roles: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}))  # webhook name -> roles
    warn_at_percent: int = 80
    escalation: tuple[str, ...] = DEFAULT_ESCALATION
    rules: Mapping[str, Rule] = field(default_factory=lambda: MappingProxyType({}))

    def webhook(self, name: str) -> WebhookSettings:
        for hook in self.webhooks:
            if hook.name == name:
                return hook
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Config:
    source: str = "<defaults>"
    agent: AgentSettings = field(default_factory=AgentSettings)
    polling: PollingSettings = field(default_factory=PollingSettings)
    icmp: IcmpSettings = field(default_factory=IcmpSettings)
    flapping: FlappingSettings = field(default_factory=FlappingSettings)
    snmp: SnmpSettings = field(default_factory=SnmpSettings)
    devices: tuple[Device, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    users: tuple[User, ...] = ()
    tickets: TicketSettings = field(default_factory=TicketSettings)
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    sop: Sop = SOP_006  # the effective SOP: the built-in one with [sop] overrides applied
    notify: NotifySettings = field(default_factory=NotifySettings)
    traps: TrapSettings | None = None  # [traps]: the receiver runs only when configured
    cluster: ClusterSettings | None = None  # [cluster] enabled: one member of several
    reports: ReportSettings | None = None  # [reports]: monthly files written by the leader

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)
