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


def _covering(runs: Sequence[MonitorRun]) -> list[tuple[MonitorRun, datetime, datetime]]:
    """Each run with the span it speaks for: from its start until it ended or a later run
    started (two agents that watched one device at once: the newer one is believed)."""
    ordered = sorted(runs, key=lambda r: (r.started_at, r.id))
    out = []
    for i, run in enumerate(ordered):
        end = run.end
        if i + 1 < len(ordered):
            end = min(end, ordered[i + 1].started_at)
        if end > run.started_at:
            out.append((run, run.started_at, end))
    return out


def pieces(runs: Iterable[MonitorRun], changes: Iterable[StateChange], start: datetime,
           end: datetime) -> list[Piece]:
    """One device's time in [start, end), in order and without gaps. `changes` are that
    device's (device check and maintenance rows, others ignored), in stored order; only the
    runs with a change of this device speak for it (in a cluster, each device's own agent)."""
    by_run: dict[str, list[StateChange]] = {}
    for c in changes:
        if c.check in (DEVICE_CHECK, MAINTENANCE):
            by_run.setdefault(c.run_id, []).append(c)
    mine = [r for r in runs if r.id in by_run]
    out: list[Piece] = []
    cursor = start

    def emit(a: datetime, b: datetime, kind: Kind) -> None:
        a, b = max(a, start), min(b, end)
        if b <= a:
            return
        if out and out[-1].kind is kind and out[-1].end == a:
            out[-1] = Piece(out[-1].start, b, kind)
        else:
            out.append(Piece(a, b, kind))

    for run, lo, hi in _covering(mine):
        if hi <= start or lo >= end:
            continue
        emit(cursor, lo, Kind.UNMONITORED)
        state, window, at = "unknown", False, lo
        for c in sorted(by_run[run.id], key=lambda c: c.at):  # stable: stored order kept
            t = min(max(c.at, lo), hi)
            emit(at, t, _kind(state, window))
            at = t
            if c.check == MAINTENANCE:
                window = c.state == WINDOW_OPEN
            else:
                state = c.state
        emit(at, hi, _kind(state, window))
        cursor = max(cursor, hi)
    emit(cursor, end, Kind.UNMONITORED)
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
