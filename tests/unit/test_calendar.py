"""SLA calendars: 24x7 and working time with Indonesian holidays, cuti bersama and local days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import SlaSettings, loads
from agent.core.errors import ConfigError
from ticketing.calendar import (
    CalendarTime,
    WorkingCalendar,
    build_calendar,
    load_overrides,
)
from ticketing.sop import Sla

REPO = Path(__file__).resolve().parents[2]
OVERRIDES = REPO / "tests" / "data" / "config" / "overrides" / "libur-daerah.toml"
WIB = ZoneInfo("Asia/Jakarta")
DAY, HOUR, TEN_MINUTES = Sla(1, "day"), Sla(1, "hour"), Sla(10, "minute")


def wib(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WIB)


def in_wib(moment: datetime) -> datetime:
    assert moment.tzinfo is UTC  # every result is aware UTC
    return moment.astimezone(WIB)


@pytest.fixture(scope="module")
def jakarta() -> WorkingCalendar:
    return WorkingCalendar()


class TestCalendarTime:
    """The 24x7 calendar counts every moment; a day is 24 hours."""

    def test_units(self) -> None:
        cal = CalendarTime()
        start = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)
        assert cal.add(start, DAY) == start + timedelta(hours=24)
        assert cal.add(start, Sla(3, "hour")) == start + timedelta(hours=3)
        assert cal.add(start, TEN_MINUTES) == start + timedelta(minutes=10)
        assert cal.add(start, Sla(0, "day")) == start

    def test_holidays_and_nights_count(self) -> None:
        # Idul Fitri and the weekend make no difference to a 24x7 clock.
        assert in_wib(CalendarTime().add(wib(2026, 3, 20, 22, 0), DAY)) == wib(2026, 3, 21, 22, 0)

    def test_nominal_and_remaining_seconds(self) -> None:
        cal = CalendarTime()
        assert cal.nominal_seconds(DAY) == 86400
        assert cal.nominal_seconds(Sla(2, "hour")) == 7200
        assert cal.nominal_seconds(TEN_MINUTES) == 600
        due = datetime(2026, 3, 17, 12, 0, tzinfo=UTC)
        assert cal.remaining_seconds(due - timedelta(minutes=5), due) == 300
        assert cal.remaining_seconds(due + timedelta(hours=1), due) == -3600

    def test_utc_out_for_any_zone_in(self) -> None:
        out = CalendarTime().add(wib(2026, 3, 17, 10, 0), HOUR)
        assert out.tzinfo is UTC
        assert out == datetime(2026, 3, 17, 4, 0, tzinfo=UTC)

    def test_rejects_naive_times_and_bad_slas(self) -> None:
        cal = CalendarTime()
        with pytest.raises(ValueError, match="aware"):
            cal.add(datetime(2026, 3, 17, 10, 0), DAY)
        with pytest.raises(ValueError, match="unknown SLA unit"):
            cal.add(wib(2026, 3, 17, 10, 0), Sla(1, "week"))
        with pytest.raises(ValueError, match="negative"):
            cal.nominal_seconds(Sla(-1, "hour"))


class TestIdulFitri2026:
    """A working day across Nyepi, Idul Fitri and their cuti bersama lands on 25 March."""

    def test_the_package_lists_the_days_off(self) -> None:
        table = holidays.country_holidays("ID", years=2026, categories=("public", "government"))
        # 18 Nyepi joint, 19 Nyepi, 20 Eid joint, 21-22 Eid (a weekend too), 23-24 Eid joint.
        assert [d for d in range(16, 27) if date(2026, 3, d) in table] == list(range(18, 25))
        assert table[date(2026, 3, 20)] == "Eid al-Fitr Joint Holiday"
        assert table[date(2026, 3, 18)] == "Day of Silence Joint Holiday"

    def test_one_day_from_tuesday_morning(self, jakarta: WorkingCalendar) -> None:
        # 10:00-16:00 on the 17th is 6 h; the other 2.5 h run from 07:30 on the 25th.
        assert in_wib(jakarta.add(wib(2026, 3, 17, 10, 0), DAY)) == wib(2026, 3, 25, 10, 0)

    def test_without_national_holidays_it_is_the_next_day(self) -> None:
        cal = WorkingCalendar(national_holidays=False)
        assert in_wib(cal.add(wib(2026, 3, 17, 10, 0), DAY)) == wib(2026, 3, 18, 10, 0)

    def test_the_days_off_have_their_names(self, jakarta: WorkingCalendar) -> None:
        worked = [d for d in range(16, 27) if jakarta.is_working_day(date(2026, 3, d))]
        assert worked == [16, 17, 25, 26]
        assert jakarta.holiday(date(2026, 3, 23)) == "Eid al-Fitr Joint Holiday"
        assert jakarta.holiday(date(2026, 3, 17)) is None

    def test_start_on_a_holiday(self, jakarta: WorkingCalendar) -> None:
        assert in_wib(jakarta.add(wib(2026, 3, 20, 9, 0), HOUR)) == wib(2026, 3, 25, 8, 30)

    def test_utc_in_and_out(self, jakarta: WorkingCalendar) -> None:
        due = jakarta.add(datetime(2026, 3, 17, 3, 0, tzinfo=UTC), DAY)
        assert due.tzinfo is UTC
        assert due == datetime(2026, 3, 25, 3, 0, tzinfo=UTC)

    def test_remaining_counts_working_seconds_both_ways(self, jakarta: WorkingCalendar) -> None:
        due = wib(2026, 3, 25, 10, 0)
        assert jakarta.remaining_seconds(wib(2026, 3, 17, 10, 0), due) == 8.5 * 3600
        assert jakarta.remaining_seconds(wib(2026, 3, 17, 15, 0), due) == 3.5 * 3600
        assert jakarta.remaining_seconds(wib(2026, 3, 20, 12, 0), due) == 2.5 * 3600  # holiday
        assert jakarta.remaining_seconds(due, due) == 0
        assert jakarta.remaining_seconds(wib(2026, 3, 25, 11, 0), due) == -3600
        assert jakarta.remaining_seconds(wib(2026, 3, 25, 20, 0), due) == -6 * 3600
        assert jakarta.remaining_seconds(wib(2026, 3, 26, 8, 0), due) == -6.5 * 3600

    def test_past_due_with_no_working_time_since_is_zero(self, jakarta: WorkingCalendar) -> None:
        # Due at closing time, looked at in the evening: past due, but no working time since.
        due = wib(2026, 3, 13, 16, 0)  # a Friday
        assert jakarta.remaining_seconds(wib(2026, 3, 13, 19, 0), due) == 0
        assert jakarta.remaining_seconds(wib(2026, 3, 15, 12, 0), due) == 0  # Sunday
        assert jakarta.remaining_seconds(wib(2026, 3, 16, 7, 31), due) == -60


class TestWorkingHours:
    """Only working minutes count; a start outside them counts from the next working moment."""

    def test_friday_evening_plus_an_hour_is_monday_morning(self, jakarta: WorkingCalendar) -> None:
        assert in_wib(jakarta.add(wib(2026, 3, 13, 17, 0), HOUR)) == wib(2026, 3, 16, 8, 30)

    def test_ten_minutes_across_closing_time(self, jakarta: WorkingCalendar) -> None:
        assert in_wib(jakarta.add(wib(2026, 3, 12, 15, 55), TEN_MINUTES)) == wib(2026, 3, 13, 7, 35)

    def test_before_opening(self, jakarta: WorkingCalendar) -> None:
        assert in_wib(jakarta.add(wib(2026, 3, 12, 6, 0), TEN_MINUTES)) == wib(2026, 3, 12, 7, 40)

    def test_a_day_from_opening_ends_at_closing(self, jakarta: WorkingCalendar) -> None:
        assert in_wib(jakarta.add(wib(2026, 3, 12, 7, 30), DAY)) == wib(2026, 3, 12, 16, 0)
        assert in_wib(jakarta.add(wib(2026, 3, 12, 7, 30), Sla(2, "day"))) == wib(
            2026, 3, 13, 16, 0
        )

    def test_zero_sla(self, jakarta: WorkingCalendar) -> None:
        inside = wib(2026, 3, 12, 11, 11)
        assert jakarta.add(inside, Sla(0, "minute")) == inside
        # Closing time itself is not working time: the next working moment is Friday 07:30.
        assert in_wib(jakarta.add(wib(2026, 3, 12, 16, 0), Sla(0, "hour"))) == wib(
            2026, 3, 13, 7, 30
        )

    def test_nominal_seconds(self, jakarta: WorkingCalendar) -> None:
        assert jakarta.nominal_seconds(DAY) == 8.5 * 3600
        assert jakarta.nominal_seconds(Sla(2, "hour")) == 7200
        assert jakarta.nominal_seconds(TEN_MINUTES) == 600
        longer = WorkingCalendar(work_start=time(8, 0), work_end=time(17, 0))
        assert longer.nominal_seconds(Sla(2, "day")) == 18 * 3600

    def test_other_work_days_and_hours(self) -> None:
        # Monday to Saturday, 08:00-12:00 (a half-day office): a day is 4 h.
        cal = WorkingCalendar(
            work_days=frozenset(range(6)), work_start=time(8, 0), work_end=time(12, 0)
        )
        assert in_wib(cal.add(wib(2026, 3, 13, 10, 0), DAY)) == wib(2026, 3, 14, 10, 0)

    def test_across_the_year_end(self, jakarta: WorkingCalendar) -> None:
        # 23 Dec 12:00-16:00 (4 h); 24 cuti bersama, 25 Christmas, 26-27 weekend; 28-30 full.
        start = wib(2026, 12, 23, 12, 0)
        assert jakarta.holiday(date(2026, 12, 24)) == "Christmas Joint Holiday"
        assert in_wib(jakarta.add(start, Sla(3, "day"))) == wib(2026, 12, 30, 12, 0)
        # ... 31 Dec full, 1 Jan 2027 New Year, 2-3 weekend, then 4.5 h on Monday the 4th.
        assert in_wib(jakarta.add(start, Sla(5, "day"))) == wib(2027, 1, 4, 12, 0)
        assert jakarta.remaining_seconds(start, wib(2027, 1, 4, 12, 0)) == 5 * 8.5 * 3600

    def test_another_zone(self) -> None:
        wita = ZoneInfo("Asia/Makassar")
        cal = WorkingCalendar(timezone="Asia/Makassar")
        due = cal.add(datetime(2026, 3, 13, 17, 0, tzinfo=wita), HOUR)
        assert due.astimezone(wita) == datetime(2026, 3, 16, 8, 30, tzinfo=wita)

    def test_a_zone_with_daylight_saving(self) -> None:
        # New York moves to EDT on Sunday 8 March 2026: Friday 13:00 EST + 1 day is Monday
        # 13:00 EDT, one hour less than 72 h later.
        ny = ZoneInfo("America/New_York")
        cal = WorkingCalendar(
            timezone="America/New_York",
            work_start=time(9, 0),
            work_end=time(17, 0),
            national_holidays=False,
        )
        start = datetime(2026, 3, 6, 13, 0, tzinfo=ny)
        due = cal.add(start, DAY)
        assert due.astimezone(ny) == datetime(2026, 3, 9, 13, 0, tzinfo=ny)
        assert due - start == timedelta(hours=71)

    def test_working_hours_in_a_daylight_saving_gap(self) -> None:
        # 02:30 does not exist in Berlin on 29 March 2026; the day's hours still count once.
        berlin = ZoneInfo("Europe/Berlin")
        cal = WorkingCalendar(
            timezone="Europe/Berlin",
            work_days=frozenset(range(7)),
            work_start=time(2, 30),
            work_end=time(10, 0),
            national_holidays=False,
        )
        start = datetime(2026, 3, 29, 0, 0, tzinfo=berlin)
        due = cal.add(start, HOUR)
        assert datetime(2026, 3, 29, 3, 0, tzinfo=berlin) <= due
        assert due <= datetime(2026, 3, 29, 10, 0, tzinfo=berlin)
        assert cal.remaining_seconds(start, due) == 3600

    def test_a_long_sla_is_exact(self, jakarta: WorkingCalendar) -> None:
        start = wib(2026, 3, 17, 10, 0)
        due = jakarta.add(start, Sla(1000, "day"))
        remaining = jakarta.remaining_seconds(start, due)
        assert remaining == 1000 * 8.5 * 3600
        assert in_wib(due).time() == time(10, 0)  # whole working days from a 10:00 start


class TestOverrides:
    """The local override file adds regional holidays and extra working days."""

    def test_reads_the_file(self) -> None:
        extra_holidays, extra_workdays = load_overrides(OVERRIDES)
        assert dict(extra_holidays) == {date(2026, 6, 3): "Hari Jadi Kota Bogor"}
        assert extra_workdays == frozenset({date(2026, 6, 6)})

    def test_a_local_holiday_is_skipped(self) -> None:
        extra_holidays, extra_workdays = load_overrides(OVERRIDES)
        cal = WorkingCalendar(extra_holidays=extra_holidays, extra_workdays=extra_workdays)
        # Tue 2 June 12:00: 4 h that day, Wed 3 June is the city's anniversary, 4.5 h Thu.
        assert in_wib(cal.add(wib(2026, 6, 2, 12, 0), DAY)) == wib(2026, 6, 4, 12, 0)
        assert cal.holiday(date(2026, 6, 3)) == "Hari Jadi Kota Bogor"
        plain = WorkingCalendar()
        assert in_wib(plain.add(wib(2026, 6, 2, 12, 0), DAY)) == wib(2026, 6, 3, 12, 0)

    def test_a_saturday_made_a_working_day(self) -> None:
        _, extra_workdays = load_overrides(OVERRIDES)
        cal = WorkingCalendar(extra_workdays=extra_workdays)
        assert in_wib(cal.add(wib(2026, 6, 5, 12, 0), DAY)) == wib(2026, 6, 6, 12, 0)
        assert in_wib(WorkingCalendar().add(wib(2026, 6, 5, 12, 0), DAY)) == wib(2026, 6, 8, 12, 0)

    def test_a_workday_overrides_a_national_holiday(self) -> None:
        cal = WorkingCalendar(extra_workdays=frozenset({date(2026, 3, 24)}))
        assert cal.holiday(date(2026, 3, 24)) is None
        assert in_wib(cal.add(wib(2026, 3, 17, 10, 0), DAY)) == wib(2026, 3, 24, 10, 0)

    def test_problems_are_all_reported(self, tmp_path: Path) -> None:
        path = tmp_path / "libur.toml"
        path.write_text(
            '[[holiday]]\ndate = 2026-06-03\nname = "A"\n'
            "[[holiday]]\ndate = 2026-06-03T00:00:00+07:00\n"
            '[[workday]]\ndate = 2026-06-03\nname = "B"\n',
            encoding="utf-8",
        )
        with pytest.raises(ConfigError) as info:
            load_overrides(path)
        assert [p.render("f") for p in info.value.problems] == [
            "f:4: holiday[1].date: expected a date such as 2026-06-03 (without quotes), "
            "got a datetime",
            "f:4: holiday[1].name: missing required key",
            "f:6: workday[0].date: 2026-06-03 is already listed (holiday[0])",
        ]

    def test_unreadable_files(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="no such file"):
            load_overrides(tmp_path / "nope.toml")
        bad = tmp_path / "bad.toml"
        bad.write_text("[[holiday]\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="invalid TOML"):
            load_overrides(bad)


class TestConstruction:
    """Calendars refuse settings that cannot describe working time."""

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"timezone": "Asia/Jakata"}, "unknown time zone"),
            ({"work_days": frozenset()}, "non-empty"),
            ({"work_days": frozenset({7})}, "non-empty set of 0..6"),
            ({"work_start": time(16, 0), "work_end": time(7, 30)}, "must be before"),
            ({"work_start": time(8, 0), "work_end": time(8, 0)}, "must be before"),
            (
                {
                    "extra_holidays": {date(2026, 6, 6): "x"},
                    "extra_workdays": frozenset({date(2026, 6, 6)}),
                },
                "both",
            ),
        ],
    )
    def test_bad_settings(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            WorkingCalendar(**kwargs)  # type: ignore[arg-type]

    def test_build_from_settings(self) -> None:
        assert isinstance(build_calendar(SlaSettings(calendar="calendar")), CalendarTime)
        cal = build_calendar(SlaSettings(work_start=time(8, 0)))
        assert isinstance(cal, WorkingCalendar)
        assert cal.nominal_seconds(DAY) == 8 * 3600
        with pytest.raises(ValueError, match="unknown calendar"):
            build_calendar(SlaSettings(calendar="lunar"))

    def test_build_from_a_loaded_config(self, tmp_path: Path) -> None:
        (tmp_path / "libur.toml").write_bytes(OVERRIDES.read_bytes())
        config = loads(
            '[sla]\nholidays_file = "libur.toml"\nwork_days = ["mon", "tue", "wed", "thu"]\n',
            base_dir=tmp_path,
        )
        cal = build_calendar(config.sla)
        assert isinstance(cal, WorkingCalendar)
        assert not cal.is_working_day(date(2026, 6, 3))  # the local holiday
        assert cal.is_working_day(date(2026, 6, 6))  # the Saturday worked
        assert not cal.is_working_day(date(2026, 6, 5))  # a Friday, not a work day here


# ---------------------------------------------------------------------------------------------
# Properties

UNITS = st.sampled_from(["day", "hour", "minute"])
STARTS = st.datetimes(
    min_value=datetime(2025, 12, 1),
    max_value=datetime(2027, 2, 1),
    timezones=st.just(UTC),
)


@st.composite
def working_moments(draw: st.DrawFn) -> datetime:
    """An instant inside working hours on a working day of the default Jakarta calendar."""
    cal = WorkingCalendar()
    day = draw(st.dates(date(2026, 1, 1), date(2026, 12, 31)).filter(cal.is_working_day))
    offset = draw(st.integers(0, int(8.5 * 3600 * 1_000_000) - 1))
    opening = datetime.combine(day, time(7, 30), tzinfo=WIB)
    return (opening + timedelta(microseconds=offset)).astimezone(UTC)


class TestProperties:
    """add() is monotonic, exact and earliest; remaining time from the start is the SLA."""

    @settings(max_examples=200, deadline=None)
    @given(a=STARTS, b=STARTS, amount=st.integers(0, 30), unit=UNITS)
    def test_monotonic_in_start(
        self, jakarta: WorkingCalendar, a: datetime, b: datetime, amount: int, unit: str
    ) -> None:
        early, late = sorted((a, b))
        sla = Sla(amount, unit)
        assert jakarta.add(early, sla) <= jakarta.add(late, sla)

    @settings(max_examples=200, deadline=None)
    @given(start=STARTS, x=st.integers(0, 30), y=st.integers(0, 30), unit=UNITS)
    def test_monotonic_in_amount(
        self, jakarta: WorkingCalendar, start: datetime, x: int, y: int, unit: str
    ) -> None:
        low, high = sorted((x, y))
        assert jakarta.add(start, Sla(low, unit)) <= jakarta.add(start, Sla(high, unit))

    @settings(max_examples=200, deadline=None)
    @given(start=working_moments())
    def test_zero_at_a_working_moment_is_the_start(
        self, jakarta: WorkingCalendar, start: datetime
    ) -> None:
        assert jakarta.add(start, Sla(0, "minute")) == start

    @settings(max_examples=200, deadline=None)
    @given(start=working_moments(), amount=st.integers(0, 30), unit=UNITS)
    def test_remaining_from_a_working_start_is_the_nominal_sla(
        self, jakarta: WorkingCalendar, start: datetime, amount: int, unit: str
    ) -> None:
        sla = Sla(amount, unit)
        assert jakarta.remaining_seconds(start, jakarta.add(start, sla)) == (
            jakarta.nominal_seconds(sla)
        )

    @settings(max_examples=200, deadline=None)
    @given(start=STARTS, amount=st.integers(1, 30), unit=UNITS)
    def test_due_is_the_earliest_instant_with_the_sla_worked(
        self, jakarta: WorkingCalendar, start: datetime, amount: int, unit: str
    ) -> None:
        sla = Sla(amount, unit)
        due = jakarta.add(start, sla)
        # From any start (non-working time counts zero), and not a microsecond earlier.
        assert jakarta.remaining_seconds(start, due) == jakarta.nominal_seconds(sla)
        assert jakarta.working_time(start, due - timedelta(microseconds=1)) < timedelta(
            seconds=jakarta.nominal_seconds(sla)
        )
        local = due.astimezone(WIB)
        assert jakarta.is_working_day(local.date())
        assert time(7, 30) < local.time() <= time(16, 0)

    @settings(max_examples=100, deadline=None)
    @given(start=STARTS, amount=st.integers(0, 30), unit=UNITS)
    def test_calendar_time_remaining_is_the_nominal_sla(
        self, start: datetime, amount: int, unit: str
    ) -> None:
        cal = CalendarTime()
        sla = Sla(amount, unit)
        assert cal.remaining_seconds(start, cal.add(start, sla)) == cal.nominal_seconds(sla)
