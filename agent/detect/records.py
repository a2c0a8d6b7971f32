"""The detector's working state: one mutable record per subject and one per device, and the
reads that follow a subject's parent chain (is its parent failing, stale, recovered?)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agent.core import topology
from agent.core.model import CheckResult, Device, DeviceState
from agent.core.settings import MaintenanceWindow
from agent.detect.events import ICMP, Key
from agent.detect.maintenance import matches
from agent.detect.snapshots import SubjectSnapshot
from agent.detect.soft_hard import SubjectState

log = logging.getLogger(__name__)

_DOWN = DeviceState.DOWN
_UNKNOWN = DeviceState.UNKNOWN
_UNREACHABLE = DeviceState.UNREACHABLE
_FLAPPING = DeviceState.FLAPPING

NEVER = SubjectState()  # a subject without results


@dataclass(slots=True, eq=False)
class Subject:
    """One subject (device, check, item): the soft/hard state of its own results, and what
    the detector made of it (shown, reported, held, re-check pending).

    `parent` is the subject its state depends on: for a device's "icmp" subject the "icmp"
    subject of the parent device (None for a root), for any other subject its own device's
    "icmp" subject. Records compare by identity.
    """

    key: Key
    parent: Subject | None = field(default=None, repr=False)
    state: SubjectState = NEVER
    shown: DeviceState = _UNKNOWN  # the detected state, without maintenance
    since: datetime | None = None  # when `shown` last changed; None before any change
    reported: DeviceState = _UNKNOWN  # the state last emitted outside maintenance
    hold_until: datetime | None = None  # a change to a problem is held back until then
    recheck_until: datetime | None = None  # a re-check of this subject is pending until then
    order: int = 0  # its place among its device's subjects (first result order)

    @property
    def device(self) -> str:
        return self.key[0]

    @property
    def is_device(self) -> bool:
        """True for the "icmp" subject, the one that decides its device's own state."""
        return self.key[1] == ICMP and not self.key[2]

    def label(self) -> str:
        """How log lines and re-check reasons name the subject: "snmp of sw"."""
        device, check, item = self.key
        return f"{check} {item} of {device}" if item else f"{check} of {device}"

    def depth(self) -> int:
        """How many subjects are above this one (0 for a root device)."""
        n, parent = 0, self.parent
        while parent is not None:  # parent chains are acyclic: `device_records` cuts cycles
            n, parent = n + 1, parent.parent
        return n

    @property
    def failing(self) -> bool:
        """Hard DOWN or flapping: only then can its parents change what it shows."""
        state = self.state
        return state.flapping or state.hard is _DOWN

    def raw_state(self) -> DeviceState:
        """The state its results and its parents call for, before holds: UNREACHABLE when it
        fails (hard DOWN or flapping) while its parent is failing, else FLAPPING or hard."""
        state = self.state
        if (state.flapping or state.hard is _DOWN) and self.parent_failing():
            return _UNREACHABLE
        if state.flapping:
            return _FLAPPING
        return state.hard

    def parent_failing(self) -> bool:
        """The parent's latest result failed, or the parent is itself unreachable."""
        parent = self.parent
        while parent is not None:
            state = parent.state
            if state.last_failed:
                return True
            if not (state.flapping or state.hard is _DOWN):
                return False
            parent = parent.parent
        return False

    def parent_stale(self, parent: Subject) -> bool:
        """`parent` has no result newer than (or as new as) this subject's latest one."""
        mine, theirs = self.state.last, parent.state.last
        if theirs is None:
            return True
        return mine is not None and theirs.observed_at < mine.observed_at

    def failed_since_parent_ok(self) -> bool:
        """The subject's latest known result failed after its parent was last seen recovering.

        A child shown UNREACHABLE becomes DOWN only on such fresh evidence: when a parent
        recovers, its children's older failures were its own, and the children need one
        result to show whether they still fail (else every child would flap through DOWN).
        """
        mine = self.state
        theirs = self.parent.state if self.parent is not None else NEVER
        if mine.trend is not _DOWN or mine.known_at is None:
            return False
        return theirs.trend_since is None or mine.known_at > theirs.trend_since

    def upstream(self) -> str:
        """How reasons name what the subject depends on: "parent NAME" or "device NAME"."""
        if self.parent is None:
            return "parent"
        kind = "parent" if self.is_device else "device"
        return f"{kind} {self.parent.device}"

    def snapshot(self, in_window: bool) -> SubjectSnapshot:
        state = self.state
        device, check, item = self.key
        return SubjectSnapshot(
            device=device,
            check=check,
            item=item,
            state=DeviceState.MAINTENANCE if in_window else self.shown,
            detected=self.shown,
            hard=state.hard,
            since=self.since,
            attempts=state.attempts,
            retrying=state.soft,
            flapping=state.flapping,
            flap_percent=state.flap_percent,
            last=state.last,
        )


@dataclass(slots=True, eq=False)
class DeviceRecord:
    """One device: its subjects, the devices behind it and its maintenance windows."""

    device: Device
    icmp: Subject  # decides the device's own state
    windows: tuple[MaintenanceWindow, ...]  # the configured windows that match the device
    children: list[str] = field(default_factory=list)  # devices whose parent it is
    others: list[Subject] = field(default_factory=list)  # "snmp", interfaces: by first result
    failing: dict[Key, Subject] = field(default_factory=dict)  # the others that are `failing`
    # The latest result per whole-device check; replaced, never changed, on each result, so
    # a view holding it stays valid and an unchanged one is the same object.
    results: Mapping[str, CheckResult] = field(default_factory=dict)
    open_windows: tuple[str, ...] = ()  # names of the windows open at `windows_at`
    windows_at: datetime | None = None  # the instant the windows were last brought up to

    def subjects(self) -> list[Subject]:
        """The "icmp" subject, then the others in the order they got their first result."""
        return [self.icmp, *self.others]

    def failing_others(self) -> list[Subject]:
        """The failing others, in `others` order: the only ones a change of the device's
        state can move (any other shows its own hard state)."""
        if len(self.failing) < 2:
            return list(self.failing.values())
        return sorted(self.failing.values(), key=_order)

    def track(self, subject: Subject) -> None:
        """Keep `failing` up to date after a result of `subject` (one of `others`)."""
        if subject.failing:
            self.failing[subject.key] = subject
        else:
            self.failing.pop(subject.key, None)


def _order(subject: Subject) -> int:
    return subject.order


def device_records(
    devices: Sequence[Device], maintenance: Sequence[MaintenanceWindow]
) -> dict[str, DeviceRecord]:
    """A record per device in inventory order, with its "icmp" subject linked to its parent's,
    its children and the windows that match it. Parent cycles are cut (and logged)."""
    records: dict[str, DeviceRecord] = {}
    for d in devices:
        windows = tuple(w for w in maintenance if matches(w, d))
        records[d.name] = DeviceRecord(d, Subject((d.name, ICMP, "")), windows)
    parents, cut = topology.without_cycles({d.name: d.parent for d in devices})
    for name in cut:
        # The config loader rejects cycles; a hand-built inventory must not hang us.
        log.warning("parent cycle ignored", extra={"device": name})
    for name, parent in parents.items():
        if parent is not None:
            records[parent].children.append(name)
            records[name].icmp.parent = records[parent].icmp
    return records
