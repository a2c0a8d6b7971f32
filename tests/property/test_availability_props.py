"""Properties of the availability arithmetic over random runs and state changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.reports.availability import device_tally, pieces, total
from ticketing.history import MAINTENANCE, WINDOW_CLOSED, WINDOW_OPEN, MonitorRun, StateChange

START = datetime(2026, 11, 30, 17, tzinfo=UTC)
END = datetime(2026, 12, 31, 17, tzinfo=UTC)
SPAN = int((END - START).total_seconds())
STATES = ["up", "down", "unreachable", "flapping", "unknown", WINDOW_OPEN, WINDOW_CLOSED]


def moment(offset: int) -> datetime:
    return START + timedelta(seconds=offset)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[MonitorRun], list[StateChange]]:
    """Up to four runs (some overlapping, some dead, some outside the period) and changes."""
    runs: list[MonitorRun] = []
    changes: list[StateChange] = []
    for i in range(draw(st.integers(0, 4))):
        a = draw(st.integers(-SPAN // 4, SPAN))
        b = draw(st.integers(a, SPAN + SPAN // 4))
        rid = f"r{i}"
        runs.append(MonitorRun(id=rid, node="n", started_at=moment(a), last_alive=moment(b),
                               stopped_at=moment(b) if draw(st.booleans()) else None))
        for _ in range(draw(st.integers(0, 12))):
            state = draw(st.sampled_from(STATES))
            check = MAINTENANCE if state in (WINDOW_OPEN, WINDOW_CLOSED) else "icmp"
            changes.append(StateChange(run_id=rid, device="sw", check=check, item="",
                                       state=state, at=moment(draw(st.integers(a, b)))))
    return runs, changes


class TestAvailabilityProperties:
    """Whatever the history, the arithmetic keeps its invariants."""

    @settings(max_examples=300, deadline=None)
    @given(histories())
    def test_the_ratio_stays_within_zero_and_one(
            self, history: tuple[list[MonitorRun], list[StateChange]]) -> None:
        a = device_tally(*history, START, END).availability()
        assert a.ratio is None or 0.0 <= a.ratio <= 1.0
        assert (a.ratio is None) == (a.monitored_seconds == 0)

    @settings(max_examples=300, deadline=None)
    @given(histories())
    def test_the_parts_add_up_to_the_period(
            self, history: tuple[list[MonitorRun], list[StateChange]]) -> None:
        parts = pieces(*history, START, END)
        assert parts[0].start == START
        assert parts[-1].end == END
        assert all(p.start < p.end for p in parts)
        assert all(a.end == b.start and a.kind != b.kind
                   for a, b in itertools.pairwise(parts))
        t = device_tally(*history, START, END)
        assert sum(t.time.values(), timedelta()) == END - START
        a = t.availability()
        whole = (a.up_seconds + a.down_seconds + a.unreachable_seconds
                 + a.maintenance_seconds + a.unmonitored_seconds)
        assert abs(whole - SPAN) < 1e-6

    @settings(max_examples=200, deadline=None)
    @given(histories(), histories())
    def test_outages_are_within_the_down_time(
            self, one: tuple[list[MonitorRun], list[StateChange]],
            two: tuple[list[MonitorRun], list[StateChange]]) -> None:
        tallies = [device_tally(*h, START, END) for h in (one, two)]
        a = total(tallies, END - START).availability()
        assert a.longest_outage_seconds <= a.down_seconds + 1e-6
        assert (a.outages == 0) == (a.down_seconds == 0)
        assert a.mttr_seconds is None or 0 < a.mttr_seconds <= a.longest_outage_seconds + 1e-6
