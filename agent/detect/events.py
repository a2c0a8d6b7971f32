"""What the detector emits: a `Transition` of a subject's detected state, or a `Recheck`
request for a parent. A subject is (device, check, item); item "" for whole-device checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.core.model import CheckResult, DeviceState
from agent.core.reasons import Reason

ICMP = "icmp"  # the check whose subject decides a device's own state

Key = tuple[str, str, str]  # a subject: (device, check, item); item "" for whole-device checks


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a subject's detected state, for logs, counters and ticketing.

    States are always `DeviceState` values (a StrEnum, so they also compare equal to "up",
    "down", ...). For a device (check "icmp", item "") they are UP, DOWN, UNREACHABLE,
    FLAPPING or UNKNOWN; other subjects (check "snmp", or "interface" with an item) use the
    same values, UNREACHABLE meaning that their device is failing. `maintenance=True` means
    the device was inside a maintenance window: ticketing ignores such transitions, and when
    the window closes a transition with `maintenance=False` carries the state on from the one
    last reported outside maintenance. `flapping` is the subject's flap status after the
    change. `evidence` is the subject's own latest result (the reason names a parent when the
    parent's result caused the change). `affected` lists, on a device's change to DOWN, its
    descendants shown UNREACHABLE at that instant, i.e. once every change made by the same
    `observe`/`tick` call is applied (so it matches the snapshot taken right after).
    """

    device: str
    check: str
    item: str
    old: DeviceState
    new: DeviceState
    at: datetime
    reason: str  # English, for logs
    evidence: CheckResult
    cause: Reason | None = None  # the reason's code, for pages, letters and messages
    maintenance: bool = False
    flapping: bool = False
    affected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recheck:
    """A request to run `check` of `device` now (Icinga's on-demand parent check)."""

    device: str
    check: str = ICMP
    reason: str = ""


Event = Transition | Recheck
