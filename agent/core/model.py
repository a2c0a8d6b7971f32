"""Domain values shared by every layer: devices, checks, results, states and secrets.

A leaf module: it imports nothing of pantau's. Every value is frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """The outcome of one check (Icinga's service states)."""

    OK = "ok"
    WARNING = "warning"  # partial data: some requests failed, others answered
    DOWN = "down"
    UNKNOWN = "unknown"  # we could not tell: auth failure, protocol error, probe error

    @property
    def answered(self) -> bool:
        """The device answered (OK, or WARNING with partial data): it is up."""
        return self in _ANSWERED


_ANSWERED = frozenset({Status.OK, Status.WARNING})


class DeviceState(StrEnum):
    """A device's hard state, as exported in `pantau_device_state{state}`."""

    UP = "up"
    DOWN = "down"
    UNREACHABLE = "unreachable"  # its parent is DOWN: no ticket of its own
    FLAPPING = "flapping"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"  # not checked yet, or checks cannot tell


class Secret:
    """A credential or token. `str()`/`repr()` never show it; `.reveal()` is called only
    where the value is sent on the wire or hashed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def host_port(host: str, port: int) -> str:
    """"host:port", with an IPv6 address in brackets ("[::1]:161"), as logs and errors show it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Device:
    """One monitored device from the inventory."""

    name: str  # unique, stable id; used in labels and tickets
    address: str  # IPv4, IPv6 or DNS name
    owner: str  # the perangkat daerah (agency) that owns it
    site: str | None = None
    timezone: str = "Asia/Jakarta"  # the site's zone, resolved at config load
    snmp_auth: str | None = None  # name of a [snmp.auth.NAME] set; ICMP only when None
    snmp_port: int = 161
    parent: str | None = None  # upstream device, for root-cause suppression
    interfaces: tuple[str, ...] = ()  # monitored interface name/alias patterns (SNMP)


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """How one kind of check is scheduled for a device."""

    check: str  # the collector that runs it: "icmp" or "snmp"
    interval_seconds: float
    timeout_seconds: float
    retry_interval_seconds: float  # quicker re-check after a failed result (Icinga)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement in base units (seconds, bytes, ratios)."""

    name: str  # e.g. "icmp_rtt_seconds"
    value: float
    labels: tuple[tuple[str, str], ...] = ()


# "late": the agent itself stalled during the check (UNKNOWN, "pantau was late"), never DOWN.
ERROR_KINDS = ("timeout", "unreachable", "auth", "protocol", "probe", "deadline", "internal",
               "late")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check of one device observed."""

    device: str
    check: str
    status: Status
    observed_at: datetime  # clock.now(), aware UTC
    duration_seconds: float  # from clock.monotonic()
    samples: tuple[Sample, ...] = ()
    reason: str = ""  # English text, as logs show it: never a metric label
    error: str = ""  # closed set for metrics: "" or one of ERROR_KINDS
    info: tuple[tuple[str, str], ...] = ()  # text facts, e.g. ("sysName", "sw-01")
    # The reason as a code of agent.core.reasons.CATALOG ("" when `reason` is empty) with its
    # parameters: what pages, letters and messages render in the reader's language.
    code: str = ""
    params: tuple[tuple[str, str | int | float], ...] = ()

    def sample(self, name: str) -> float | None:
        """The value of the first unlabelled sample called `name`, or None."""
        for s in self.samples:
            if s.name == name and not s.labels:
                return s.value
        return None
