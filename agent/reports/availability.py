"""Availability arithmetic (pure): one device's history, the runs that watched it and its
state changes, cut into up, down, unreachable, maintenance and unmonitored time in a period.

Rules, in order: inside a maintenance window the time is maintenance, whatever the state;
outside one, UP is up, DOWN and FLAPPING are down, UNREACHABLE (behind a failing parent) is
apart, and UNKNOWN (a run's start before its first hard state) is unmonitored, as is time no
run covered (no agent watching). The parts add up to the period exactly (timedelta sums).
An outage is a spell of down time; it counts if it touches the period, its length is its
part inside the period, and MTTR averages the outages that ended (back UP) in the period.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from agent.reports.model import Availability
from ticketing.history import MAINTENANCE, WINDOW_OPEN, MonitorRun, StateChange

DEVICE_CHECK = "icmp"  # the subject whose state is the device's


class Kind(StrEnum):
    UP = "up"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    MAINTENANCE = "maintenance"
    UNMONITORED = "unmonitored"


_OF_STATE = {"up": Kind.UP, "down": Kind.DOWN, "flapping": Kind.DOWN,
             "unreachable": Kind.UNREACHABLE}


@dataclass(frozen=True, slots=True)
class Piece:
    start: datetime
    end: datetime
    kind: Kind


@dataclass(frozen=True, slots=True)
class Tally:
    """A device's (or a sum's) time by kind, and the lengths of its outages."""

    period: timedelta
    time: dict[Kind, timedelta] = field(default_factory=dict)
    outages: tuple[timedelta, ...] = ()  # each outage's length inside the period
    ended: tuple[timedelta, ...] = ()  # those that ended (back UP) inside the period

    def availability(self) -> Availability:
        def s(kind: Kind) -> float:
            return self.time.get(kind, timedelta()).total_seconds()

        return Availability(
            up_seconds=s(Kind.UP), down_seconds=s(Kind.DOWN),
            unreachable_seconds=s(Kind.UNREACHABLE), maintenance_seconds=s(Kind.MAINTENANCE),
            unmonitored_seconds=s(Kind.UNMONITORED), outages=len(self.outages),
            mttr_seconds=(sum(self.ended, timedelta()) / len(self.ended)).total_seconds()
            if self.ended else None,
            longest_outage_seconds=max(self.outages, default=timedelta()).total_seconds(),
        )


@dataclass(slots=True)
class _RunView:
    """One run's rows of one device, read forward in time."""

    run: MonitorRun
    rows: list[StateChange]  # by time (stable: stored order kept within an instant)
    next: int = 0
    state: str = "unknown"
    window: bool = False
    newest: datetime | None = None  # the time of the latest state row applied

    def advance(self, t: datetime) -> None:
        """Apply the rows at or before `t` (each at the earliest at the run's start)."""
        while self.next < len(self.rows) and max(self.rows[self.next].at,
                                                 self.run.started_at) <= t:
            c = self.rows[self.next]
            self.next += 1
            if c.check == MAINTENANCE:
                self.window = c.state == WINDOW_OPEN
            else:
                self.state = c.state
                self.newest = max(c.at, self.run.started_at)

    def covers(self, t: datetime) -> bool:
        return self.run.started_at <= t < self.run.end


def pieces(runs: Iterable[MonitorRun], changes: Iterable[StateChange], start: datetime,
           end: datetime) -> list[Piece]:
    """One device's time in [start, end), in order and without gaps. `changes` are that
    device's (device check and maintenance rows, others ignored), in stored order; only the
    runs with a change of this device speak for it (in a cluster, each device's own agent).
    When several runs cover an instant (a handover between cluster members), the run with
    the newest state row for the device speaks; a run covering it with no state row yet
    (its first check not done) is not monitored."""
    by_run: dict[str, list[StateChange]] = {}
    for c in changes:
        if c.check in (DEVICE_CHECK, MAINTENANCE):
            by_run.setdefault(c.run_id, []).append(c)
    views = [_RunView(r, sorted(by_run[r.id], key=lambda c: c.at))
             for r in sorted(runs, key=lambda r: (r.started_at, r.id)) if r.id in by_run]
    edges = {start, end}
    for v in views:
        edges.update((v.run.started_at, v.run.end))
        edges.update(max(c.at, v.run.started_at) for c in v.rows)
    cuts = sorted(t for t in edges if start <= t <= end)
    out: list[Piece] = []
    for a, b in itertools.pairwise(cuts):
        speaking: _RunView | None = None
        for v in views:
            v.advance(a)
            if v.covers(a) and v.newest is not None and (
                    speaking is None or speaking.newest is None or v.newest >= speaking.newest):
                speaking = v
        kind = Kind.UNMONITORED if speaking is None else _kind(speaking.state, speaking.window)
        if out and out[-1].kind is kind:
            out[-1] = Piece(out[-1].start, b, kind)
        else:
            out.append(Piece(a, b, kind))
    return out


def _kind(state: str, window: bool) -> Kind:
    if window:
        return Kind.MAINTENANCE
    return _OF_STATE.get(state, Kind.UNMONITORED)


def tally(parts: Sequence[Piece], start: datetime, end: datetime) -> Tally:
    """Time by kind and the outages of one device's pieces of [start, end)."""
    time: dict[Kind, timedelta] = {}
    outages: list[timedelta] = []
    ended: list[timedelta] = []
    for i, p in enumerate(parts):
        time[p.kind] = time.get(p.kind, timedelta()) + (p.end - p.start)
        if p.kind is Kind.DOWN:  # pieces are merged: each DOWN piece is one spell
            outages.append(p.end - p.start)
            after = parts[i + 1] if i + 1 < len(parts) else None
            if after is not None and after.kind is Kind.UP:
                ended.append(p.end - p.start)
    return Tally(end - start, time, tuple(outages), tuple(ended))


def device_tally(runs: Iterable[MonitorRun], changes: Iterable[StateChange], start: datetime,
                 end: datetime) -> Tally:
    return tally(pieces(runs, changes, start, end), start, end)


def total(tallies: Iterable[Tally], period: timedelta) -> Tally:
    """The sum over devices: times and outages added (an agency, or everything)."""
    time: dict[Kind, timedelta] = {}
    outages: list[timedelta] = []
    ended: list[timedelta] = []
    for t in tallies:
        for kind, d in t.time.items():
            time[kind] = time.get(kind, timedelta()) + d
        outages += t.outages
        ended += t.ended
    return Tally(period, time, tuple(outages), tuple(ended))
