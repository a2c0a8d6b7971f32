"""The availability arithmetic on hand-built histories (agent/reports/availability.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from agent.reports.availability import Kind, device_tally, pieces, total
from agent.reports.period import month_period
from ticketing.history import MAINTENANCE, WINDOW_CLOSED, WINDOW_OPEN, MonitorRun, StateChange

WIB = "Asia/Jakarta"
DEC = month_period("2026-12", WIB, datetime(2027, 1, 5, tzinfo=UTC))
START, END = DEC.start, DEC.end
H = timedelta(hours=1)


def run(start: datetime, end: datetime, ident: str = "r1", stopped: bool = True) -> MonitorRun:
    return MonitorRun(id=ident, node="a", started_at=start, last_alive=end,
                      stopped_at=end if stopped else None)


def ch(at: datetime, state: str, check: str = "icmp", ident: str = "r1",
       device: str = "sw") -> StateChange:
    return StateChange(run_id=ident, device=device, check=check, item="", state=state, at=at)


class TestPeriod:
    """The month is counted in the agency's zone and cut at now."""

    def test_december_in_wib_starts_at_17_utc(self) -> None:
        assert datetime(2026, 11, 30, 17, tzinfo=UTC) == START
        assert datetime(2026, 12, 31, 17, tzinfo=UTC) == END

    def test_the_same_month_in_wit_starts_two_hours_earlier(self) -> None:
        wit = month_period("2026-12", "Asia/Jayapura", datetime(2027, 1, 5, tzinfo=UTC))
        assert wit.start == START - 2 * H

    def test_a_month_not_over_ends_now(self) -> None:
        now = datetime(2026, 12, 6, 19, tzinfo=UTC)
        assert month_period("2026-12", WIB, now).end == now

    @pytest.mark.parametrize(("month", "zone", "message"), [
        ("2026-13", WIB, "month '2026-13': expected YYYY-MM"),
        ("12-2026", WIB, "expected YYYY-MM"),
        ("2026-12", "Mars/Olympus", "timezone 'Mars/Olympus': not a known zone"),
        ("2027-02", WIB, "has not begun"),
    ])
    def test_bad_input_is_named(self, month: str, zone: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            month_period(month, zone, datetime(2027, 1, 5, tzinfo=UTC))


class TestAvailability:
    """Each part of a device's time is counted where the rules put it."""

    def test_up_all_month(self) -> None:
        a = device_tally([run(START - H, END + H)], [ch(START - H, "up")],
                         START, END).availability()
        assert a.ratio == 1.0
        assert a.up_seconds == (END - START).total_seconds()
        assert a.outages == 0
        assert a.mttr_seconds is None

    def test_an_outage_of_one_hour(self) -> None:
        t = START + 10 * H
        a = device_tally([run(START, END)], [ch(START, "up"), ch(t, "down"), ch(t + H, "up")],
                         START, END).availability()
        assert a.down_seconds == 3600
        assert a.outages == 1
        assert a.mttr_seconds == 3600
        assert a.longest_outage_seconds == 3600
        assert a.ratio == pytest.approx(1 - 3600 / (END - START).total_seconds())

    def test_maintenance_is_excluded_even_when_down(self) -> None:
        t = START + 10 * H
        changes = [ch(START, "up"), ch(t, WINDOW_OPEN, MAINTENANCE), ch(t + H, "down"),
                   ch(t + 2 * H, "up"), ch(t + 3 * H, WINDOW_CLOSED, MAINTENANCE)]
        a = device_tally([run(START, END)], changes, START, END).availability()
        assert a.maintenance_seconds == 3 * 3600
        assert a.down_seconds == 0
        assert a.ratio == 1.0

    def test_unreachable_behind_a_failing_parent_is_apart(self) -> None:
        t = START + 10 * H
        a = device_tally([run(START, END)],
                         [ch(START, "up"), ch(t, "unreachable"), ch(t + 2 * H, "up")],
                         START, END).availability()
        assert a.unreachable_seconds == 7200
        assert a.down_seconds == 0
        assert a.ratio == 1.0

    def test_snmp_and_interface_states_do_not_count(self) -> None:
        t = START + 10 * H
        changes = [ch(START, "up"), ch(t, "down", "snmp"), ch(t, "down", "interface")]
        a = device_tally([run(START, END)], changes, START, END).availability()
        assert a.ratio == 1.0

    def test_flapping_counts_as_down(self) -> None:
        t = START + 10 * H
        a = device_tally([run(START, END)], [ch(START, "up"), ch(t, "down"),
                                             ch(t + H, "flapping"), ch(t + 2 * H, "up")],
                         START, END).availability()
        assert a.down_seconds == 7200
        assert a.outages == 1

    def test_an_agent_gap_is_not_monitored_not_up(self) -> None:
        first = run(START, START + 24 * H, "r1")
        second = run(START + 30 * H, END, "r2")
        changes = [ch(START, "up"), ch(START + 30 * H, "up", ident="r2")]
        a = device_tally([first, second], changes, START, END).availability()
        assert a.unmonitored_seconds == 6 * 3600
        assert a.up_seconds == (END - START).total_seconds() - 6 * 3600

    def test_a_dead_run_counts_until_its_last_alive(self) -> None:
        died = run(START, START + 24 * H, "r1", stopped=False)
        a = device_tally([died], [ch(START, "up")], START, END).availability()
        assert a.up_seconds == 24 * 3600
        assert a.unmonitored_seconds == (END - START).total_seconds() - 24 * 3600

    def test_the_start_of_a_run_before_its_first_state_is_not_monitored(self) -> None:
        a = device_tally([run(START, END)], [ch(START + 90 * timedelta(seconds=1), "up")],
                         START, END).availability()
        assert a.unmonitored_seconds == 90

    def test_an_outage_open_at_the_period_end_counts_to_its_end(self) -> None:
        t = END - 2 * H
        a = device_tally([run(START, END + 5 * H)], [ch(START, "up"), ch(t, "down"),
                                                     ch(END + 4 * H, "up")],
                         START, END).availability()
        assert a.down_seconds == 7200
        assert a.outages == 1
        assert a.longest_outage_seconds == 7200
        assert a.mttr_seconds is None  # not ended in the period

    def test_a_month_boundary_splits_an_outage(self) -> None:
        t = START - 3 * H  # down since November, back up 2 h into December (WIB)
        history = [run(START - 100 * H, END)], [ch(START - 100 * H, "up"), ch(t, "down"),
                                                ch(START + 2 * H, "up")]
        dec = device_tally(*history, START, END).availability()
        nov = month_period("2026-11", WIB, datetime(2027, 1, 5, tzinfo=UTC))
        before = device_tally(*history, nov.start, nov.end).availability()
        assert dec.down_seconds == 7200
        assert dec.outages == 1
        assert dec.mttr_seconds == 7200  # the part inside December
        assert before.down_seconds == 3 * 3600
        assert before.mttr_seconds is None  # still down when November ended

    def test_a_site_in_wit_is_counted_in_the_agencys_month(self) -> None:
        # 23:30 WIT on 31 December is 21:30 WIB: inside December for a WIB agency
        t = datetime(2026, 12, 31, 14, 30, tzinfo=UTC)
        a = device_tally([run(START, END)], [ch(START, "up"), ch(t, "down")],
                         START, END).availability()
        assert a.down_seconds == (END - t).total_seconds() == 2.5 * 3600

    def test_the_parts_add_up_to_the_period(self) -> None:
        t = START + 10 * H
        parts = pieces([run(START + H, END - H)], [ch(START + 2 * H, "up"), ch(t, "down")],
                       START, END)
        assert parts[0].start == START
        assert parts[-1].end == END
        assert all(a.end == b.start for a, b in itertools.pairwise(parts))
        assert [p.kind for p in parts] == [Kind.UNMONITORED, Kind.UP, Kind.DOWN,
                                           Kind.UNMONITORED]

    def test_the_newer_of_two_overlapping_runs_is_believed(self) -> None:
        old = run(START, END, "r1")
        new = run(START + 10 * H, END, "r2")
        changes = [ch(START, "up"), ch(START + 10 * H, "down", ident="r2")]
        a = device_tally([old, new], changes, START, END).availability()
        assert a.up_seconds == 10 * 3600

    def test_a_handover_between_members_follows_the_newest_state(self) -> None:
        # b had the device first, a took it at 5 h, b took it back at 15 h and saw it down
        # at 20 h: a's run (started later, still alive) holds only its stale UP
        m = timedelta(minutes=1)
        b = run(START, END, "b")
        a = run(START + 5 * H, END, "a")
        changes = [ch(START, "up", ident="b"), ch(START + 5 * H + m, "up", ident="a"),
                   ch(START + 15 * H + m, "up", ident="b"), ch(START + 20 * H, "down", ident="b")]
        t = device_tally([b, a], changes, START, END).availability()
        assert t.down_seconds == (END - START - 20 * H).total_seconds()
        assert t.unmonitored_seconds == 0

    def test_a_forgotten_device_is_not_monitored_until_seen_again(self) -> None:
        changes = [ch(START, "up"), ch(START + H, "unknown"), ch(START + 2 * H, "up")]
        a = device_tally([run(START, END)], changes, START, END).availability()
        assert a.unmonitored_seconds == 3600

    def test_a_run_that_never_saw_the_device_does_not_speak_for_it(self) -> None:
        other = run(START, END, "r9")  # a cluster member watching other devices
        a = device_tally([other], [], START, END).availability()
        assert a.unmonitored_seconds == (END - START).total_seconds()
        assert a.ratio is None

    def test_an_agencys_sum_weights_by_time(self) -> None:
        t = START + 10 * H
        one = device_tally([run(START, END)], [ch(START, "up"), ch(t, "down"), ch(t + H, "up")],
                           START, END)
        two = device_tally([run(START, END)], [ch(START, "up"), ch(t, "down"),
                                               ch(t + 3 * H, "up")], START, END)
        a = total([one, two], END - START).availability()
        assert a.down_seconds == 4 * 3600
        assert a.outages == 2
        assert a.mttr_seconds == 2 * 3600
        assert a.longest_outage_seconds == 3 * 3600
