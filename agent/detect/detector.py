"""Turns check results into hard state transitions and the current state of every device.

Root-cause suppression through `Device.parent` with on-demand parent re-checks, holds,
flap states and maintenance windows over each subject's soft/hard state (`soft_hard`).
Pure: no I/O and no clock reads; every instant comes from a result or a `tick(now)` argument.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import MappingProxyType

from agent.config import FlappingSettings, MaintenanceWindow, PollingSettings
from agent.core import topology
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.detect.events import ICMP, Event, Key, Recheck, Transition
from agent.detect.maintenance import covers, matches
from agent.detect.snapshots import DetectorSnapshot, DeviceSnapshot, SubjectSnapshot
from agent.detect.soft_hard import StepSettings, SubjectState, step

log = logging.getLogger(__name__)

_UP = DeviceState.UP
_DOWN = DeviceState.DOWN
_UNKNOWN = DeviceState.UNKNOWN
_UNREACHABLE = DeviceState.UNREACHABLE
_FLAPPING = DeviceState.FLAPPING
_PROBLEMS = frozenset({_DOWN, _FLAPPING})  # states a parent's re-check may hold back


class Detector:
    """Holds every subject's state and derives device states from results.

    A device's state comes from its "icmp" subject: FLAPPING while that flaps, otherwise its
    hard state; a failing device (hard DOWN or flapping) is UNREACHABLE while its parent is
    failing, i.e. the parent's latest result failed (soft or hard) or the parent is itself
    UNREACHABLE. Other subjects of a device ("snmp", interfaces) work the same way with the
    device's "icmp" subject as their parent. States are re-evaluated for the whole subtree
    whenever a subject gets a result.

    On-demand parent check: a failed result of a subject that is not yet shown failing,
    whose parent's latest result is OK (or missing) and older than this one, yields one
    `Recheck` of the parent (deduplicated while it is pending, for at most one polling
    interval). A change to DOWN or FLAPPING is held back while the parent's latest result is
    older than the subject's, for at most one polling interval, so a child is never shown
    DOWN before its parent had a chance to be checked again; a result arriving as a hold ends
    is folded in before the held change is decided. A child shown UNREACHABLE turns
    DOWN only on a failure observed after its parent was seen OK again; until then (or until
    it recovers) it stays UNREACHABLE, so a parent's recovery does not flash children DOWN.

    Maintenance: while a window is open for a device the exported state is MAINTENANCE and
    transitions are emitted with `maintenance=True`. When the window closes (`tick(now)`,
    or the device's next result), every subject whose state differs from the one last
    emitted outside maintenance gets a transition from that state with `maintenance=False`
    and reason "maintenance ended": a device still DOWN is reported, a recovered one closes.
    A window is closed after the changes of the instant that finds it closed (those are still
    flagged), so the catch-up reports the state they lead to, never one that lasted 0 s.
    """

    def __init__(
        self,
        devices: Sequence[Device],
        polling: PollingSettings,
        flapping: FlappingSettings,
        maintenance: Sequence[MaintenanceWindow],
    ) -> None:
        self._devices: dict[str, Device] = {d.name: d for d in devices}
        self._parent = self._acyclic_parents(devices)
        self._children: dict[str, list[str]] = {name: [] for name in self._devices}
        for name, parent in self._parent.items():
            if parent is not None:
                self._children[parent].append(name)
        self._settings = StepSettings.from_config(polling, flapping)
        self._hold = timedelta(seconds=polling.interval_seconds)
        self._windows: dict[str, tuple[MaintenanceWindow, ...]] = {
            d.name: tuple(w for w in maintenance if matches(w, d)) for d in devices
        }
        self._subjects: dict[Key, SubjectState] = {}
        self._others: dict[str, list[Key]] = {name: [] for name in self._devices}
        self._shown: dict[Key, DeviceState] = {}  # detected state, without maintenance
        self._since: dict[Key, datetime] = {}
        self._reported: dict[Key, DeviceState] = {}  # last emitted outside maintenance
        self._hold_until: dict[Key, datetime] = {}
        self._pending: dict[Key, datetime] = {}  # rechecked subject -> deadline
        self._maintenance: dict[str, tuple[str, ...]] = {}
        self._maintenance_at: dict[str, datetime] = {}
        self._counts: dict[tuple[str, str], int] = {}

    @staticmethod
    def _acyclic_parents(devices: Sequence[Device]) -> dict[str, str | None]:
        parent, cut = topology.without_cycles({d.name: d.parent for d in devices})
        for name in cut:
            # The config loader rejects cycles; a hand-built inventory must not hang us.
            log.warning("parent cycle ignored", extra={"device": name})
        return parent

    # -- public API -----------------------------------------------------------------------

    def observe(self, result: CheckResult, item: str = "") -> list[Event]:
        """Fold `result` in (for subject `item` of its check, "" for the whole device) and
        return the transitions and parent re-check requests it causes, parents first.

        Results for devices outside the inventory are logged and ignored.
        """
        if result.device not in self._devices:
            log.warning(
                "result for unknown device ignored",
                extra={"device": result.device, "check": result.check},
            )
            return []
        at = result.observed_at
        key: Key = (result.device, result.check, item)
        events: list[Event] = []
        events += self._sync_maintenance(result.device, at, close=False)
        if key not in self._subjects and key != _icmp(result.device):
            self._others[result.device].append(key)
        state, _ = step(self._state(key), result, self._settings)
        self._subjects[key] = state
        self._pending.pop(key, None)  # any fresh result answers a pending re-check
        # Holds due by now are decided only after this result is folded in: it may be the
        # very answer a held child waits for (its parent's re-check arriving at the deadline).
        subtree = [key, *self._descendants(key)]
        events += self._reevaluate([*self._expired_holds(at, exclude=subtree), *subtree], at)
        events += self._sync_maintenance(result.device, at)
        if result.status is Status.DOWN and self._shown.get(key, _UNKNOWN) in (_UP, _UNKNOWN):
            parent = self._parent_key(key)
            if (
                parent is not None
                and self._state(parent).last_failed is not True
                and self._parent_stale(key, parent)
            ):
                events += self._request_recheck(parent, key, at)
        return events

    def tick(self, now: datetime) -> list[Transition]:
        """Close maintenance windows and release holds whose parent never answered.

        Call every few seconds with the current time; returns the transitions this causes.
        """
        out: list[Transition] = []
        for name in self._devices:
            out += self._sync_maintenance(name, now, close=False)
        out += [e for e in self._release_holds(now) if isinstance(e, Transition)]
        for name in self._devices:  # closed after the holds, as in `_reevaluate`
            out += self._sync_maintenance(name, now)
        for key, deadline in list(self._pending.items()):
            if deadline <= now:
                del self._pending[key]
        return out

    def device_state(self, name: str) -> DeviceState:
        """The exported state of device `name`; KeyError when it is not in the inventory."""
        if name not in self._devices:
            raise KeyError(name)
        if self._maintenance.get(name):
            return DeviceState.MAINTENANCE
        return self._shown.get(_icmp(name), _UNKNOWN)

    def is_retrying(self, device: str, check: str, item: str = "") -> bool:
        """True while the subject is soft: a change is seen but not yet confirmed, so the
        scheduler re-checks it at the retry interval (failing, or recovering, or the first
        results after start)."""
        return self._state((device, check, item)).soft

    def snapshot(self) -> DetectorSnapshot:
        """A frozen picture of every device and subject, for /metrics and the API."""
        devices: dict[str, DeviceSnapshot] = {}
        for name, device in self._devices.items():
            in_window = self._maintenance.get(name, ())
            icmp = self._subject_snapshot(_icmp(name), bool(in_window))
            results: dict[str, CheckResult] = {}
            for key in (_icmp(name), *self._others[name]):
                last = self._state(key).last
                if key[2] == "" and last is not None:
                    results[key[1]] = last
            affected = self._affected(name) if icmp.detected in _PROBLEMS else ()
            devices[name] = DeviceSnapshot(
                name=name,
                owner=device.owner,
                site=device.site,
                state=icmp.state,
                detected=icmp.detected,
                hard=icmp.hard,
                since=icmp.since,
                attempts=icmp.attempts,
                retrying=icmp.retrying,
                flapping=icmp.flapping,
                flap_percent=icmp.flap_percent,
                maintenance=in_window,
                affected=affected,
                results=MappingProxyType(results),
                subjects=tuple(
                    self._subject_snapshot(k, bool(in_window)) for k in self._others[name]
                ),
            )
        return DetectorSnapshot(
            devices=MappingProxyType(devices),
            transitions_total=MappingProxyType(dict(self._counts)),
        )

    # -- state derivation -------------------------------------------------------------------

    def _state(self, key: Key) -> SubjectState:
        return self._subjects.get(key) or _NEVER

    def _parent_key(self, key: Key) -> Key | None:
        device, check, item = key
        if check != ICMP or item:
            return _icmp(device)
        parent = self._parent.get(device)
        return None if parent is None else _icmp(parent)

    def _descendants(self, key: Key) -> list[Key]:
        """Subjects whose state depends on `key`, parents before children."""
        if key != _icmp(key[0]):
            return []
        out: list[Key] = []
        queue = [key[0]]
        while queue:
            name = queue.pop(0)
            if name != key[0]:
                out.append(_icmp(name))
            out += self._others[name]
            queue += self._children[name]
        return out

    def _parent_failing(self, key: Key) -> bool:
        """The parent's latest result failed, or the parent is itself unreachable."""
        for parent in topology.ancestors(key, self._parent_key):
            state = self._state(parent)
            if state.last_failed:
                return True
            if not (state.flapping or state.hard is _DOWN):
                return False
        return False

    def _upstream(self, key: Key) -> str:
        """How reasons name what `key` depends on: "parent NAME" or "device NAME"."""
        parent = self._parent_key(key)
        if parent is None:
            return "parent"
        return f"parent {parent[0]}" if key == _icmp(key[0]) else f"device {parent[0]}"

    def _failed_since_parent_ok(self, key: Key) -> bool:
        """The subject's latest known result failed after its parent was last seen recovering.

        A child shown UNREACHABLE becomes DOWN only on such fresh evidence: when a parent
        recovers, its children's older failures were its own, and the children need one
        result to show whether they still fail (else every child would flap through DOWN).
        """
        mine = self._state(key)
        parent = self._parent_key(key)
        theirs = self._state(parent) if parent is not None else _NEVER
        if mine.trend is not _DOWN or mine.known_at is None:
            return False
        return theirs.trend_since is None or mine.known_at > theirs.trend_since

    def _parent_stale(self, key: Key, parent: Key) -> bool:
        """The parent has no result newer than (or as new as) the subject's latest one."""
        mine, theirs = self._state(key).last, self._state(parent).last
        if theirs is None:
            return True
        return mine is not None and theirs.observed_at < mine.observed_at

    def _raw(self, key: Key) -> DeviceState:
        state = self._state(key)
        if (state.flapping or state.hard is _DOWN) and self._parent_failing(key):
            return _UNREACHABLE
        if state.flapping:
            return _FLAPPING
        return state.hard

    def _decide(self, key: Key, at: datetime) -> tuple[DeviceState, str, list[Recheck]]:
        """The state to show for `key` now, a note on why a hold ended, and re-checks."""
        raw = self._raw(key)
        shown = self._shown.get(key, _UNKNOWN)
        if raw is shown:
            self._hold_until.pop(key, None)
            return shown, "", []
        parent = self._parent_key(key)
        if raw is _DOWN and shown is _UNREACHABLE and not self._failed_since_parent_ok(key):
            return shown, "", []  # failures its parent explains: wait for a newer result
        if raw in _PROBLEMS and parent is not None and self._parent_stale(key, parent):
            until = self._hold_until.setdefault(key, at + self._hold)
            if at < until:
                return shown, "", self._request_recheck(parent, key, at)
            del self._hold_until[key]
            seconds = self._hold.total_seconds()
            return raw, f"{self._upstream(key)} not re-checked within {seconds:g}s", []
        self._hold_until.pop(key, None)
        return raw, "", []

    def _request_recheck(self, parent: Key, by: Key, at: datetime) -> list[Recheck]:
        deadline = self._pending.get(parent)
        if deadline is not None and at < deadline:
            return []
        self._pending[parent] = at + self._hold
        reason = f"{_label(by)} failed"
        log.debug(
            "parent re-check requested",
            extra={"device": parent[0], "check": parent[1], "reason": reason},
        )
        return [Recheck(device=parent[0], check=parent[1], reason=reason)]

    def _reevaluate(self, keys: list[Key], at: datetime) -> list[Event]:
        events: list[Event] = []
        changes: list[tuple[Key, DeviceState, DeviceState, str]] = []
        for key in keys:
            new, note, rechecks = self._decide(key, at)
            events += rechecks
            old = self._shown.get(key, _UNKNOWN)
            if new is not old:
                changes.append((key, old, new, note))
        if not changes:
            return events
        # A window opening now flags these changes; one found closed now is closed after
        # them, so its catch-up carries the state they lead to (never one that lasted 0 s).
        names = list(dict.fromkeys(key[0] for key, *_ in changes))
        transitions: list[Event] = []
        for name in names:
            transitions += self._sync_maintenance(name, at, close=False)
        for key, _, new, _ in changes:
            self._shown[key] = new
            self._since[key] = at
        for key, old, new, note in changes:
            transitions.append(self._emit(key, old, new, at, self._reason(key, old, new, note)))
        for name in names:
            transitions += self._sync_maintenance(name, at)
        return transitions + events

    def _expired_holds(self, at: datetime, exclude: Sequence[Key] = ()) -> list[Key]:
        """Held subjects whose hold ends by `at`, parents before children."""
        skip = set(exclude)
        expired = [k for k, until in self._hold_until.items() if until <= at and k not in skip]
        return sorted(expired, key=self._depth)

    def _depth(self, key: Key) -> int:
        parent = self._parent_key(key)
        return 0 if parent is None else 1 + self._depth(parent)

    def _release_holds(self, at: datetime) -> list[Event]:
        expired = self._expired_holds(at)
        return self._reevaluate(expired, at) if expired else []

    def _sync_maintenance(self, name: str, at: datetime, *, close: bool = True) -> list[Transition]:
        """Bring `name`'s open windows up to `at`; on closing, report what they covered.

        With `close=False` a window found closed stays open for now (the caller closes it
        after the changes of this instant, which are then still flagged as maintenance).
        """
        windows = self._windows[name]
        if not windows:
            return []
        checked = self._maintenance_at.get(name)
        if checked is not None and at < checked:
            return []  # a late result must not reopen a window already closed
        device = self._devices[name]
        before = self._maintenance.get(name, ())
        now_open = tuple(w.name for w in windows if covers(w, device, at))
        if before and not now_open and not close:
            return []
        self._maintenance_at[name] = at
        self._maintenance[name] = now_open
        if now_open and not before:
            log.info("maintenance started", extra={"device": name, "windows": now_open})
        if not before or now_open:
            return []
        log.info("maintenance ended", extra={"device": name, "windows": before})
        out: list[Transition] = []
        for key in (_icmp(name), *self._others[name]):
            shown = self._shown.get(key, _UNKNOWN)
            reported = self._reported.get(key, _UNKNOWN)
            if shown is not reported and self._state(key).last is not None:
                out.append(self._emit(key, reported, shown, at, "maintenance ended"))
        return out

    def _affected(self, name: str) -> tuple[str, ...]:
        return tuple(sorted(
            child for child in topology.descendants(name, self._children.__getitem__)
            if self._shown.get(_icmp(child)) is _UNREACHABLE))

    def _reason(self, key: Key, old: DeviceState, new: DeviceState, note: str) -> str:
        state = self._state(key)
        flap = self._settings.flapping
        if new is _FLAPPING:
            return (
                f"flapping: {state.flap_percent:.1f}% state changes over the last "
                f"{flap.window} results (above {flap.high_percent:g}%)"
            )
        if new is _UNREACHABLE:
            return f"{self._upstream(key)} failing"
        if old is _FLAPPING:
            text = f"stopped flapping: {state.flap_percent:.1f}% (below {flap.low_percent:g}%)"
        elif old is _UNREACHABLE and new is _DOWN:
            text = f"{self._upstream(key)} no longer failing"
        elif new is _UNKNOWN:
            text = "no result yet"
        else:
            kind = "failed" if state.trend is _DOWN else "good"
            if state.attempts == 1:
                text = f"1 {kind} result"
            else:
                text = f"{state.attempts} consecutive {kind} results"
        if note:
            text = f"{text}; {note}"
        last = state.last
        if last is not None and last.reason and new is _DOWN:
            text = f"{text} (last: {last.reason})"
        return text

    def _emit(
        self, key: Key, old: DeviceState, new: DeviceState, at: datetime, reason: str
    ) -> Transition:
        device, check, item = key
        state = self._state(key)
        assert state.last is not None  # a subject changes state only after a result
        in_window = bool(self._maintenance.get(device))
        affected = self._affected(device) if key == _icmp(device) and new is _DOWN else ()
        transition = Transition(
            device=device,
            check=check,
            item=item,
            old=old,
            new=new,
            at=at,
            reason=reason,
            evidence=state.last,
            maintenance=in_window,
            flapping=state.flapping,
            affected=affected,
        )
        if not in_window:
            self._reported[key] = new
        count_key = (check, new.value)
        self._counts[count_key] = self._counts.get(count_key, 0) + 1
        log.info(
            "device state changed" if key == _icmp(device) else "check state changed",
            extra={
                "device": device,
                "check": check,
                "item": item,
                "old": old.value,
                "new": new.value,
                "reason": reason,
                "maintenance": in_window,
            },
        )
        return transition

    def _subject_snapshot(self, key: Key, in_window: bool) -> SubjectSnapshot:
        state = self._state(key)
        detected = self._shown.get(key, _UNKNOWN)
        return SubjectSnapshot(
            device=key[0],
            check=key[1],
            item=key[2],
            state=DeviceState.MAINTENANCE if in_window else detected,
            detected=detected,
            hard=state.hard,
            since=self._since.get(key),
            attempts=state.attempts,
            retrying=state.soft,
            flapping=state.flapping,
            flap_percent=state.flap_percent,
            last=state.last,
        )


_NEVER = SubjectState()


def _icmp(device: str) -> Key:
    return (device, ICMP, "")


def _label(key: Key) -> str:
    device, check, item = key
    return f"{check} {item} of {device}" if item else f"{check} of {device}"
