"""Frozen pictures of the detector's state, for /metrics and the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from agent.core.model import CheckResult, DeviceState


@dataclass(frozen=True, slots=True)
class SubjectSnapshot:
    """One subject as seen now. `state` is MAINTENANCE while its device is in a window,
    otherwise `detected`, the state transitions track; `hard` comes from its own results."""

    device: str
    check: str
    item: str
    state: DeviceState
    detected: DeviceState
    hard: DeviceState
    since: datetime | None  # when `detected` last changed; None before any change
    attempts: int
    retrying: bool
    flapping: bool
    flap_percent: float
    last: CheckResult | None


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """A device as seen now: the state of its "icmp" subject plus maintenance and parents."""

    name: str
    owner: str
    site: str | None
    state: DeviceState  # exported: MAINTENANCE while a window is open, else `detected`
    detected: DeviceState
    hard: DeviceState
    since: datetime | None
    attempts: int
    retrying: bool
    flapping: bool
    flap_percent: float
    maintenance: tuple[str, ...]  # names of the open windows
    affected: tuple[str, ...]  # descendants shown UNREACHABLE (empty unless the device fails)
    results: Mapping[str, CheckResult]  # the latest result per whole-device check
    subjects: tuple[SubjectSnapshot, ...]  # every subject but "icmp": "snmp", interfaces...


@dataclass(frozen=True, slots=True)
class DetectorSnapshot:
    """Every device in inventory order, and transitions counted by (check, new state)."""

    devices: Mapping[str, DeviceSnapshot]
    transitions_total: Mapping[tuple[str, str], int]
