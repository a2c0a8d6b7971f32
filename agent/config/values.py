"""The frozen Config: the configuration the rest of pantau sees, section by section."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.core.model import Device
from agent.core.settings import (
    AgentSettings,
    AlertmanagerSettings,
    FlappingSettings,
    IcmpSettings,
    MaintenanceWindow,
    PollingSettings,
    SlaSettings,
    SnmpSettings,
    TicketSettings,
    User,
    WebSettings,
)
from ticketing.sop import SOP_006, Sop


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

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)
