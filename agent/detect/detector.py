"""The Detector: check results in; transitions, parent re-checks and snapshots out. Decides
what each subject shows (parents, holds, flapping, maintenance windows) from its soft/hard
state. Pure: no I/O and no clock reads; every instant comes from a result or `tick(now)`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import MappingProxyType

from agent.core import topology
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.core.reasons import Reason, reason
from agent.core.settings import FlappingSettings, MaintenanceWindow, PollingSettings
from agent.detect.announced import Announcements
from agent.detect.deadlines import Entry, Holds, Rechecks
from agent.detect.events import Event, Key, Recheck, Transition
from agent.detect.interfaces import INTERFACE_CHECK
from agent.detect.maintenance import covers
from agent.detect.reasons import upstream, why
from agent.detect.records import DeviceRecord, Subject, device_records
from agent.detect.snapshots import DetectorSnapshot, DeviceSnapshot
from agent.detect.soft_hard import StepSettings, step

log = logging.getLogger(__name__)

_UP = DeviceState.UP
_ENDED = reason("maintenance_ended")
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

    Trap-announced interfaces (`announce`): a result of that interface observed within
    CONFIRM_WINDOW_SECONDS after the trap that agrees with it turns hard after
    `confirm_after` results in a row instead of `down_after` (`up_after` after a linkUp).
    """

    def __init__(
        self,
        devices: Sequence[Device],
        polling: PollingSettings,
        flapping: FlappingSettings,
        maintenance: Sequence[MaintenanceWindow],
        *,
        confirm_after: int = 1,
    ) -> None:
        self._settings = StepSettings.from_config(polling, flapping)
        self._announced = Announcements(self._settings, confirm_after)
        self._hold_for = timedelta(seconds=polling.interval_seconds)
        self._maintenance = tuple(maintenance)
        self._devices = device_records(devices, maintenance)
        # Every subject by key: each device's "icmp" one, the others from their first result.
        self._subjects: dict[Key, Subject] = {r.icmp.key: r.icmp for r in self._devices.values()}
        self._holds = Holds()  # subjects whose change is held back, by deadline
        self._rechecks = Rechecks()  # pending parent re-checks, by deadline
        self._order = 0  # numbers subjects in the order of their first result
        # Only devices with maintenance windows have windows to bring up to date.
        self._windowed = [r for r in self._devices.values() if r.windows]
        self._counts: dict[tuple[str, str], int] = {}
        self.visited = 0  # subjects decided so far: the work counter the scaling tests read

    # -- public API -----------------------------------------------------------------------

    def observe(self, result: CheckResult, item: str = "") -> list[Event]:
        """Fold `result` in (for subject `item` of its check, "" for the whole device) and
        return the transitions and parent re-check requests it causes, parents first.

        Results for devices outside the inventory are logged and ignored.
        """
        record = self._devices.get(result.device)
        if record is None:
            log.warning(
                "result for unknown device ignored",
                extra={"device": result.device, "check": result.check},
            )
            return []
        at = result.observed_at
        events: list[Event] = []
        windowed = bool(record.windows)
        if windowed:
            events += self._sync_maintenance(record, at, close=False)
        subject = self._subject(record, (result.device, result.check, item))
        settings = self._settings
        if item and self._announced and result.check == INTERFACE_CHECK:
            settings = self._announced.settings_for(result, item) or settings
        subject.state, _ = step(subject.state, result, settings)
        subject.recheck_until = None  # any fresh result answers a pending re-check
        if not subject.is_device:
            record.track(subject)
        if not item:
            record.results = {**record.results, result.check: result}
        # Holds due by now are decided only after this result is folded in: it may be the
        # very answer a held child waits for (its parent's re-check arriving at the deadline).
        subtree = [subject, *self._descendants(subject)]
        expired = self._holds.expired(at, exclude=subtree)
        if expired:
            events += self._reevaluate([*(s for _, _, s in expired), *subtree], at)
            self._holds.requeue(expired)
        else:
            events += self._reevaluate(subtree, at)
        if windowed:
            events += self._sync_maintenance(record, at)
        if result.status is Status.DOWN and subject.shown in (_UP, _UNKNOWN):
            parent = subject.parent
            if (
                parent is not None
                and parent.state.last_failed is not True
                and subject.parent_stale(parent)
            ):
                events += self._request_recheck(parent, subject, at)
        return events

    def announce(self, device: str, item: str, at: datetime, *, down: bool) -> None:
        """A linkDown (`down`) or linkUp trap at `at` about interface `item` of `device`:
        its confirming results (see the class) use the `confirm_after` threshold. A trap
        alone changes no state. Devices outside the inventory are ignored."""
        if device in self._devices:
            self._announced.announce(device, item, at, down=down)

    def announced_count(self) -> int:
        """How many announcements are open (for tests and the scaling checks)."""
        return len(self._announced)

    def tick(self, now: datetime) -> list[Transition]:
        """Close maintenance windows and release holds whose parent never answered.

        Call every few seconds with the current time; returns the transitions this causes.
        """
        out: list[Transition] = []
        for record in self._windowed:
            out += self._sync_maintenance(record, now, close=False)
        out += [e for e in self._release_holds(now) if isinstance(e, Transition)]
        for record in self._windowed:  # closed after the holds, as in `_reevaluate`
            out += self._sync_maintenance(record, now)
        self.visited += self._rechecks.expire(now)
        self._announced.expire(now)
        return out

    def retire(self, device: str, check: str, item: str, at: datetime,
               cause: Reason) -> list[Transition]:
        """Forget subject (device, check, item), never a device's own "icmp" one: its record
        and hold go. When ticketing last saw it failing (DOWN or FLAPPING), it gets a
        transition to UP with reason `cause` (outside maintenance, so its ticket sees it)."""
        key = (device, check, item)
        subject = self._subjects.get(key)
        if subject is None or subject.is_device:
            return []
        record = self._devices[device]
        del self._subjects[key]
        record.others.remove(subject)
        record.failing.pop(key, None)
        self._holds.release(subject)
        if subject.reported not in _PROBLEMS or subject.state.last is None:
            return []
        return [replace(self._emit(subject, subject.reported, _UP, at, cause.text(), cause),
                        maintenance=False)]

    def update_devices(self, devices: Sequence[Device]) -> None:
        """A reloaded inventory. A device equal to the one held keeps its records and states
        (no transition); a new or changed one starts afresh, as on start; a removed one, and
        a changed one's old records, are forgotten with their holds (no transition either:
        the device is no longer, or not the same, subject)."""
        old = self._devices
        records = device_records(devices, self._maintenance)  # parents linked, cycles cut
        parents = {name: None if r.icmp.parent is None else r.icmp.parent.device
                   for name, r in records.items()}
        for name, record in records.items():
            kept = old.get(name)
            if kept is not None and kept.device == record.device:
                kept.children = record.children
                records[name] = kept
        for name, parent in parents.items():
            records[name].icmp.parent = None if parent is None else records[parent].icmp
        for name, record in old.items():
            if records.get(name) is not record:
                for subject in record.subjects():
                    self._holds.release(subject)
                    self._subjects.pop(subject.key, None)
        for record in records.values():
            self._subjects.setdefault(record.icmp.key, record.icmp)
        self._devices = records
        self._windowed = [r for r in records.values() if r.windows]

    def subject_count(self) -> int:
        """How many subjects the detector holds (devices and the others seen)."""
        return len(self._subjects)

    def device_state(self, name: str) -> DeviceState:
        """The exported state of device `name`; KeyError when it is not in the inventory."""
        record = self._devices[name]
        if record.open_windows:
            return DeviceState.MAINTENANCE
        return record.icmp.shown

    def device_results(self, name: str) -> Mapping[str, CheckResult]:
        """The latest result per whole-device check of device `name` (KeyError when it is
        not in the inventory); the same object until the device's next such result."""
        return self._devices[name].results

    def transition_counts(self) -> dict[tuple[str, str], int]:
        """Transitions so far by (check, new state)."""
        return dict(self._counts)

    def is_retrying(self, device: str, check: str, item: str = "") -> bool:
        """True while the subject is soft: a change is seen but not yet confirmed, so the
        scheduler re-checks it at the retry interval (failing, or recovering, or the first
        results after start)."""
        subject = self._subjects.get((device, check, item))
        return subject is not None and subject.state.soft

    def snapshot(self) -> DetectorSnapshot:
        """A frozen picture of every device and subject, for /metrics and the API."""
        devices: dict[str, DeviceSnapshot] = {}
        for name, record in self._devices.items():
            results: dict[str, CheckResult] = {}
            for subject in record.subjects():
                last = subject.state.last
                if subject.key[2] == "" and last is not None:
                    results[subject.key[1]] = last
            devices[name] = self._device_snapshot(record, record.others, results)
        return DetectorSnapshot(
            devices=MappingProxyType(devices),
            transitions_total=MappingProxyType(dict(self._counts)),
        )

    def fault_snapshot(self, name: str) -> DeviceSnapshot:
        """Device `name` as `snapshot()` shows it, but with only the subjects besides "icmp"
        that may show a fault (its failing ones): costs O(those), not O(its interfaces).
        KeyError when it is not in the inventory."""
        record = self._devices[name]
        return self._device_snapshot(record, record.failing_others(), record.results)

    def _device_snapshot(self, record: DeviceRecord, others: Sequence[Subject],
                         results: Mapping[str, CheckResult]) -> DeviceSnapshot:
        in_window = record.open_windows
        icmp = record.icmp.snapshot(bool(in_window))
        return DeviceSnapshot(
            name=record.device.name,
            owner=record.device.owner,
            site=record.device.site,
            state=icmp.state,
            detected=icmp.detected,
            hard=icmp.hard,
            since=icmp.since,
            attempts=icmp.attempts,
            retrying=icmp.retrying,
            flapping=icmp.flapping,
            flap_percent=icmp.flap_percent,
            maintenance=in_window,
            affected=self._affected(record) if icmp.detected in _PROBLEMS else (),
            results=MappingProxyType(dict(results)),
            subjects=tuple(s.snapshot(bool(in_window)) for s in others),
        )

    # -- state derivation -------------------------------------------------------------------

    def _subject(self, record: DeviceRecord, key: Key) -> Subject:
        """The record of `key`, made on its first result (a device's "icmp" one always is)."""
        subject = self._subjects.get(key)
        if subject is None:
            self._order += 1
            subject = self._subjects[key] = Subject(key, parent=record.icmp, order=self._order)
            record.others.append(subject)
        return subject

    def _descendants(self, subject: Subject) -> list[Subject]:
        """Subjects whose state may depend on `subject`, parents before children: the
        devices behind it and the failing others of each (the rest show their own state)."""
        if not subject.is_device:
            return []
        record = self._devices[subject.device]
        if not record.children and not record.failing:
            return []  # a leaf device with nothing failing besides "icmp": the usual case
        out: list[Subject] = []
        queue = [subject.device]
        i = 0
        while i < len(queue):
            name = queue[i]
            i += 1
            record = self._devices[name]
            if name != subject.device:
                out.append(record.icmp)
            if record.failing:
                out += record.failing_others()
            queue += record.children
        return out

    def _decide(self, subject: Subject, at: datetime) -> tuple[DeviceState, Reason | None,
                                                          list[Recheck]]:
        """The state to show for `subject` now, a note on why a hold ended, and re-checks."""
        self.visited += 1
        raw = subject.raw_state()
        shown = subject.shown
        if raw is shown:
            self._unhold(subject)
            return shown, None, []
        parent = subject.parent
        if raw is _DOWN and shown is _UNREACHABLE and not subject.failed_since_parent_ok():
            return shown, None, []  # failures its parent explains: wait for a newer result
        if raw in _PROBLEMS and parent is not None and subject.parent_stale(parent):
            until = subject.hold_until
            if until is None:
                until = at + self._hold_for
                self._holds.hold(subject, until)
            if at < until:
                return shown, None, self._request_recheck(parent, subject, at)
            self._unhold(subject)
            seconds = self._hold_for.total_seconds()
            return raw, reason("upstream_not_rechecked", **upstream(subject),
                               seconds=seconds), []
        self._unhold(subject)
        return raw, None, []

    def _unhold(self, subject: Subject) -> None:
        if subject.hold_until is not None:
            self._holds.release(subject)

    def _request_recheck(self, parent: Subject, by: Subject, at: datetime) -> list[Recheck]:
        if parent.recheck_until is not None and at < parent.recheck_until:
            return []
        self._rechecks.pending(parent, at + self._hold_for)
        device, check, _ = parent.key
        reason = f"{by.label()} failed"
        log.debug(
            "parent re-check requested",
            extra={"device": device, "check": check, "reason": reason},
        )
        return [Recheck(device=device, check=check, reason=reason)]

    def _reevaluate(self, subjects: list[Subject], at: datetime) -> list[Event]:
        events: list[Event] = []
        changes: list[tuple[Subject, DeviceState, DeviceState, Reason | None]] = []
        for subject in subjects:
            new, note, rechecks = self._decide(subject, at)
            events += rechecks
            old = subject.shown
            if new is not old:
                changes.append((subject, old, new, note))
        if not changes:
            return events
        # A window opening now flags these changes; one found closed now is closed after
        # them, so its catch-up carries the state they lead to (never one that lasted 0 s).
        names = dict.fromkeys(subject.device for subject, *_ in changes)
        records = [self._devices[name] for name in names]
        transitions: list[Event] = []
        for record in records:
            transitions += self._sync_maintenance(record, at, close=False)
        for subject, _, new, _ in changes:
            subject.shown = new
            subject.since = at
        for subject, old, new, note in changes:
            text, cause = why(subject, old, new, note, self._settings.flapping)
            transitions.append(self._emit(subject, old, new, at, text, cause))
        for record in records:
            transitions += self._sync_maintenance(record, at)
        return transitions + events

    def _release_holds(self, at: datetime) -> list[Event]:
        expired: list[Entry] = self._holds.expired(at)
        if not expired:
            return []
        events = self._reevaluate([s for _, _, s in expired], at)
        self._holds.requeue(expired)
        return events

    def _sync_maintenance(
        self, record: DeviceRecord, at: datetime, *, close: bool = True
    ) -> list[Transition]:
        """Bring the device's open windows up to `at`; on closing, report what they covered.

        With `close=False` a window found closed stays open for now (the caller closes it
        after the changes of this instant, which are then still flagged as maintenance).
        """
        windows = record.windows
        if not windows:
            return []
        checked = record.windows_at
        if checked is not None and at < checked:
            return []  # a late result must not reopen a window already closed
        name = record.device.name
        before = record.open_windows
        now_open = tuple(w.name for w in windows if covers(w, record.device, at))
        if before and not now_open and not close:
            return []
        record.windows_at = at
        record.open_windows = now_open
        if now_open and not before:
            log.info("maintenance started", extra={"device": name, "windows": now_open})
        if not before or now_open:
            return []
        log.info("maintenance ended", extra={"device": name, "windows": before})
        out: list[Transition] = []
        for subject in record.subjects():
            if subject.shown is not subject.reported and subject.state.last is not None:
                out.append(
                    self._emit(subject, subject.reported, subject.shown, at, _ENDED.text(),
                               _ENDED)
                )
        return out

    def _affected(self, record: DeviceRecord) -> tuple[str, ...]:
        return tuple(sorted(
            child for child in topology.descendants(record.device.name, self._children_of)
            if self._devices[child].icmp.shown is _UNREACHABLE))

    def _children_of(self, name: str) -> list[str]:
        return self._devices[name].children

    def _emit(
        self, subject: Subject, old: DeviceState, new: DeviceState, at: datetime, reason: str,
        cause: Reason,
    ) -> Transition:
        device, check, item = subject.key
        state = subject.state
        assert state.last is not None  # a subject changes state only after a result
        record = self._devices[device]
        in_window = bool(record.open_windows)
        affected = self._affected(record) if subject.is_device and new is _DOWN else ()
        transition = Transition(
            device=device,
            check=check,
            item=item,
            old=old,
            new=new,
            at=at,
            reason=reason,
            cause=cause,
            evidence=state.last,
            maintenance=in_window,
            flapping=state.flapping,
            affected=affected,
        )
        if not in_window:
            subject.reported = new
        count_key = (check, new.value)
        self._counts[count_key] = self._counts.get(count_key, 0) + 1
        log.info(
            "device state changed" if subject.is_device else "check state changed",
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
