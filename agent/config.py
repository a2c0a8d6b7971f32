"""TOML → frozen Config: every key, every default, every cross-field rule.

The frozen dataclasses below are the configuration the rest of pantau sees. `load()` reads
the file with tomllib, validates it with the pydantic models in `agent/config_schema.py`
(unknown keys are errors), collects every problem with its dotted key path and line, and
raises one ConfigError, or returns a Config. `pantau check-config` runs exactly this path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from agent.model import Device, Secret


@dataclass(frozen=True, slots=True)
class AgentSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9806
    database: str = "sqlite:///pantau.db"
    timezone: str = "Asia/Jakarta"  # default zone for sites and maintenance windows
    log_level: str = "INFO"


@dataclass(frozen=True, slots=True)
class PollingSettings:
    interval_seconds: float = 30.0
    timeout_seconds: float = 2.0
    down_after: int = 3  # consecutive failed results before DOWN (hard)
    up_after: int = 2  # consecutive good results before UP again
    retry_interval_seconds: float = 10.0  # quick re-check while a state is soft
    max_in_flight: int = 1000  # checks running at once, all devices together


@dataclass(frozen=True, slots=True)
class IcmpSettings:
    count: int = 5  # echo requests per device per cycle
    spacing_seconds: float = 0.02  # between the echoes to one device
    privileged: str = "auto"  # "auto" | "yes" | "no"


@dataclass(frozen=True, slots=True)
class FlappingSettings:
    """Icinga's flap detection: weighted share of state changes over the last `window` results."""

    enabled: bool = True
    window: int = 21
    high_percent: float = 30.0  # start flapping above this
    low_percent: float = 25.0  # stop flapping below this


@dataclass(frozen=True, slots=True)
class SnmpAuth:
    name: str
    version: str  # "1" | "2c" | "3"
    community: Secret | None = None
    username: str | None = None
    auth_protocol: str = "none"  # none | md5 | sha | sha224 | sha256 | sha384 | sha512
    auth_key: Secret | None = None
    priv_protocol: str = "none"  # none | des | 3des | aes128 | aes192 | aes256
    priv_key: Secret | None = None
    context: str = ""


@dataclass(frozen=True, slots=True)
class SnmpSettings:
    timeout_seconds: float = 1.0  # per request; x (retries + 1) fits in polling.timeout_seconds
    retries: int = 0
    max_repetitions: int = 25
    max_oids_per_request: int = 10
    interfaces: tuple[str, ...] = ()  # default monitored interface patterns (fnmatch)
    auth: Mapping[str, SnmpAuth] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A period in which matching devices raise no ticket.

    One-off: `start`/`end` are aware datetimes. Weekly: `weekdays` (0=Monday), `start_time`
    and `duration`, evaluated in `timezone` (or, when None, each device's own zone).
    A window matches a device named in `devices`, owned by one of `owners`, or at one of
    `sites`.
    """

    name: str
    devices: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    weekdays: frozenset[int] = frozenset()
    start_time: time | None = None
    duration: timedelta | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str  # perangkat_daerah | kepala_dinas | kabid | kasi | teknisi | admin
    token: Secret
    owner: str | None = None  # only for perangkat_daerah


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

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)
