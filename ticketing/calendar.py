"""SLA calendars: when a step started at some instant with some SLA falls due, and time left.

Pure: no clock is read here; callers pass `now`. `CalendarTime` counts 24x7; `WorkingCalendar`
counts only working hours on working days in the agency's zone (public holidays and cuti bersama
from the `holidays` package, plus a local override file read by `load_overrides`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from agent.core.errors import ConfigError, ConfigProblem
from ticketing.models import aware_utc
from ticketing.sop import Sla

MONDAY_TO_FRIDAY = frozenset(range(5))  # datetime.weekday(): 0 = Monday
UNITS = ("day", "hour", "minute")
_ZERO = timedelta(0)


class Calendar(Protocol):
    """How SLA time is counted. Datetimes in and out are aware; results are in UTC."""

    def add(self, start: datetime, sla: Sla) -> datetime:
        """The due time of a step started at `start` with `sla` (aware UTC).

        Raises ValueError for a naive `start`, an unknown unit or a negative amount.
        """
        ...

    def nominal_seconds(self, sla: Sla) -> float:
        """The SLA's length in counted seconds (a working day is its working hours)."""
        ...

    def remaining_seconds(self, now: datetime, due: datetime) -> float:
        """Counted seconds from `now` to `due`; negative (counted time past due) after it."""
        ...


def _check(sla: Sla) -> None:
    if sla.unit not in UNITS:
        raise ValueError(f"unknown SLA unit {sla.unit!r}; expected one of {', '.join(UNITS)}")
    if sla.amount < 0:
        raise ValueError(f"SLA amount must not be negative, got {sla.amount}")


@dataclass(frozen=True, slots=True)
class CalendarTime:
    """The "calendar" calendar: every moment counts, a day is 24 hours."""

    def _length(self, sla: Sla) -> timedelta:
        _check(sla)
        unit = {"day": timedelta(days=1), "hour": timedelta(hours=1)}.get(
            sla.unit, timedelta(minutes=1)
        )
        return unit * sla.amount

    def add(self, start: datetime, sla: Sla) -> datetime:
        return aware_utc(start, "start") + self._length(sla)

    def nominal_seconds(self, sla: Sla) -> float:
        return self._length(sla).total_seconds()

    def remaining_seconds(self, now: datetime, due: datetime) -> float:
        return (aware_utc(due, "due") - aware_utc(now, "now")).total_seconds()


class WorkingCalendar:
    """The "working" calendar: only working hours on working days count.

    A "day" is one working day's worth of working time (07:30-16:00 gives 8.5 h), an "hour"
    60 working minutes, a "minute" one working minute. Weekends (days not in `work_days`),
    national holidays and cuti bersama (`national_holidays`), and `extra_holidays` do not
    count; `extra_workdays` count even when they fall on a weekend or a national holiday.
    Working hours are wall-clock times in `timezone`; a start outside them counts from the
    next working moment. Time is counted as elapsed (UTC) time within each day's working
    hours, so a day on which the zone changes its offset is handled without error.

    `remaining_seconds` counts working seconds both ways: before the due time it is the
    working time left; after it, minus the working time elapsed since it. So it stays put
    overnight and on holidays, and can be 0 while past due when no working time has passed
    since: breach is decided by `now > due`, not by its sign.
    """

    __slots__ = (
        "_day",
        "_extra_holidays",
        "_extra_workdays",
        "_holiday_years",
        "_national",
        "_tz",
        "_work_days",
        "_work_end",
        "_work_start",
    )

    def __init__(
        self,
        *,
        timezone: str = "Asia/Jakarta",
        work_days: frozenset[int] = MONDAY_TO_FRIDAY,
        work_start: time = time(7, 30),
        work_end: time = time(16, 0),
        national_holidays: bool = True,
        extra_holidays: Mapping[date, str] | None = None,
        extra_workdays: frozenset[date] = frozenset(),
    ) -> None:
        """Raises ValueError for an unknown zone, no work days, or start not before end."""
        try:
            self._tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {timezone!r}") from exc
        if not work_days or not work_days <= frozenset(range(7)):
            raise ValueError(f"work_days must be a non-empty set of 0..6, got {sorted(work_days)}")
        if work_start.tzinfo is not None or work_end.tzinfo is not None:
            raise ValueError("work_start and work_end are wall-clock times without a zone")
        if work_start >= work_end:
            raise ValueError(f"work_start ({work_start}) must be before work_end ({work_end})")
        extra = dict(extra_holidays or {})
        both = sorted(set(extra) & extra_workdays)
        if both:
            raise ValueError(f"{both[0].isoformat()} is both an extra holiday and a workday")
        self._work_days = work_days
        self._work_start = work_start
        self._work_end = work_end
        self._national = national_holidays
        self._extra_holidays: Mapping[date, str] = MappingProxyType(extra)
        self._extra_workdays = extra_workdays
        self._day = datetime.combine(date.min, work_end) - datetime.combine(date.min, work_start)
        # Per instance, filled lazily: the holidays package builds a year in well under 1 ms.
        self._holiday_years: dict[int, Mapping[date, str]] = {}

    # -- days ------------------------------------------------------------------------------

    def _national_holidays(self, year: int) -> Mapping[date, str]:
        found = self._holiday_years.get(year)
        if found is None:
            # "government" is where the package keeps cuti bersama (collective leave).
            table = holidays.country_holidays("ID", years=year, categories=("public", "government"))
            found = MappingProxyType(dict(table))
            self._holiday_years[year] = found
        return found

    def holiday(self, day: date) -> str | None:
        """The name of the holiday (local or national) on `day`, or None.

        An extra workday has no holiday, even when the national calendar gives one.
        """
        if day in self._extra_holidays:
            return self._extra_holidays[day]
        if day in self._extra_workdays or not self._national:
            return None
        return self._national_holidays(day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        """Whether working hours on `day` (a local date) count."""
        if day in self._extra_holidays:
            return False
        if day in self._extra_workdays:
            return True
        if day.weekday() not in self._work_days:
            return False
        return not (self._national and day in self._national_holidays(day.year))

    def _hours(self, day: date) -> tuple[datetime, datetime] | None:
        """The working hours of the local date `day` as UTC instants, or None on a day off."""
        if not self.is_working_day(day):
            return None
        start = datetime.combine(day, self._work_start, tzinfo=self._tz).astimezone(UTC)
        end = datetime.combine(day, self._work_end, tzinfo=self._tz).astimezone(UTC)
        return (start, end) if start < end else None

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self._tz).date()

    # -- arithmetic ------------------------------------------------------------------------

    def _length(self, sla: Sla) -> timedelta:
        _check(sla)
        unit = {"day": self._day, "hour": timedelta(hours=1)}.get(sla.unit, timedelta(minutes=1))
        return unit * sla.amount

    def add(self, start: datetime, sla: Sla) -> datetime:
        """The first instant at which `sla` of working time has passed since `start`.

        Ends at the close of working hours rather than at the next opening (07:30 + 1 day
        is 16:00 the same day); a zero SLA gives the next working moment (`start` itself
        when that is inside working hours).
        """
        left = self._length(sla)
        cursor = aware_utc(start, "start")
        day = self._local_day(cursor)
        # One step per local day (never per minute); the loop ends because any set of
        # holidays is finite and at least one weekday is a work day.
        while True:
            hours = self._hours(day)
            if hours is not None:
                opens, closes = hours
                cursor = max(cursor, opens)
                if cursor < closes:
                    if left <= closes - cursor:
                        return cursor + left
                    left -= closes - cursor
                    cursor = closes
            day += timedelta(days=1)

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """The working time inside [start, end]; zero when end is not after start."""
        low, high = aware_utc(start, "start"), aware_utc(end, "end")
        total = _ZERO
        if high <= low:
            return total
        day, last = self._local_day(low), self._local_day(high)
        while day <= last:
            hours = self._hours(day)
            if hours is not None:
                overlap = min(high, hours[1]) - max(low, hours[0])
                total += max(overlap, _ZERO)
            day += timedelta(days=1)
        return total

    def nominal_seconds(self, sla: Sla) -> float:
        return self._length(sla).total_seconds()

    def remaining_seconds(self, now: datetime, due: datetime) -> float:
        if aware_utc(now, "now") <= aware_utc(due, "due"):
            return self.working_time(now, due).total_seconds()
        return -self.working_time(due, now).total_seconds()


# ---------------------------------------------------------------------------------------------
# Building a calendar from the settings and reading the local override file


class CalendarSettings(Protocol):
    """What `build_calendar` reads (agent.config.SlaSettings has these)."""

    @property
    def calendar(self) -> str: ...  # "working" | "calendar"
    @property
    def timezone(self) -> str: ...
    @property
    def work_days(self) -> frozenset[int]: ...
    @property
    def work_start(self) -> time: ...
    @property
    def work_end(self) -> time: ...
    @property
    def national_holidays(self) -> bool: ...
    @property
    def extra_holidays(self) -> Mapping[date, str]: ...
    @property
    def extra_workdays(self) -> frozenset[date]: ...


def build_calendar(settings: CalendarSettings) -> Calendar:
    """The calendar the settings describe. Raises ValueError for an unknown kind."""
    if settings.calendar == "calendar":
        return CalendarTime()
    if settings.calendar == "working":
        return WorkingCalendar(
            timezone=settings.timezone,
            work_days=settings.work_days,
            work_start=settings.work_start,
            work_end=settings.work_end,
            national_holidays=settings.national_holidays,
            extra_holidays=settings.extra_holidays,
            extra_workdays=settings.extra_workdays,
        )
    raise ValueError(f'unknown calendar {settings.calendar!r}; expected "working" or "calendar"')


_OVERRIDE_KINDS = ("holiday", "workday")
NO_SUCH_FILE = "cannot read: no such file"  # the one problem when the override file is missing


def load_overrides(
    path: str | os.PathLike[str],
) -> tuple[Mapping[date, str], frozenset[date]]:
    """Read the local override file: regional holidays and extra working days.

    ```toml
    [[holiday]]
    date = 2026-06-03
    name = "Hari Jadi Kota Bogor"

    [[workday]]
    date = 2026-06-06
    name = "Sabtu pengganti"
    ```

    Returns (holidays by date, workdays). Raises ConfigError (for the file at `path`) with
    every problem: unreadable file, bad TOML, unknown keys, a date that is not a TOML date,
    a missing or empty name, a date given twice or as both a holiday and a workday.
    """
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError(source, [ConfigProblem("", NO_SUCH_FILE)]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", "not UTF-8 text")]) from exc
    except OSError as exc:
        problem = ConfigProblem("", f"cannot read: {exc.strerror or type(exc).__name__}")
        raise ConfigError(source, [problem]) from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", f"invalid TOML: {exc}")]) from exc
    problems, found = _read_overrides(doc, _header_lines(text))
    if problems:
        problems.sort(key=lambda p: (p.line is None, p.line or 0))  # stable: file order
        raise ConfigError(source, problems)
    extra_holidays = {day: name for kind, day, name in found if kind == "holiday"}
    workdays = frozenset(day for kind, day, _ in found if kind == "workday")
    return MappingProxyType(extra_holidays), workdays


def _header_lines(text: str) -> dict[tuple[str, int], int]:
    """The line of each `[[kind]]` header by (kind, index), and of each other top-level key
    by (key, -1): enough to point at an entry of this small, flat file."""
    lines: dict[tuple[str, int], int] = {}
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.split("\n"), start=1):
        code = line.split("#", 1)[0].strip()
        if code.startswith("["):
            key = code.strip("[] \t")
            index = seen.get(key, 0)
            seen[key] = index + 1
            lines.setdefault((key, index), lineno)
            lines.setdefault((key, -1), lineno)
        elif "=" in code and not seen:
            lines.setdefault((code.split("=", 1)[0].strip(), -1), lineno)
    return lines


def _read_overrides(
    doc: Mapping[str, Any], lines: Mapping[tuple[str, int], int]
) -> tuple[list[ConfigProblem], list[tuple[str, date, str]]]:
    problems: list[ConfigProblem] = []
    found: list[tuple[str, date, str]] = []
    first: dict[date, str] = {}
    for key in doc:
        if key not in _OVERRIDE_KINDS:
            problems.append(
                ConfigProblem(
                    key, "unknown key; expected [[holiday]] or [[workday]]", lines.get((key, -1))
                )
            )
    for kind in _OVERRIDE_KINDS:
        entries = doc.get(kind, [])
        if not isinstance(entries, list):
            problems.append(
                ConfigProblem(
                    kind, f"expected an array of tables ([[{kind}]])", lines.get((kind, -1))
                )
            )
            continue
        for index, entry in enumerate(entries):
            where = f"{kind}[{index}]"
            line = lines.get((kind, index))

            def problem(path: str, message: str, line: int | None = line) -> None:
                problems.append(ConfigProblem(path, message, line))

            if not isinstance(entry, dict):
                problem(where, "expected a table")
                continue
            for extra in sorted(set(entry) - {"date", "name"}):
                problem(f"{where}.{extra}", "unknown key; expected date and name")
            day, name = entry.get("date"), entry.get("name")
            if day is None:
                problem(f"{where}.date", "missing required key")
            elif isinstance(day, datetime) or not isinstance(day, date):
                got = f'the string "{day}"' if isinstance(day, str) else f"a {type(day).__name__}"
                problem(
                    f"{where}.date",
                    f"expected a date such as 2026-06-03 (without quotes), got {got}",
                )
                day = None
            if name is None:
                problem(f"{where}.name", "missing required key")
            elif not isinstance(name, str) or not name.strip():
                problem(f"{where}.name", "expected a non-empty string")
                name = None
            if not isinstance(day, date) or not isinstance(name, str):
                continue
            if day in first:
                problem(f"{where}.date", f"{day.isoformat()} is already listed ({first[day]})")
                continue
            first[day] = where
            found.append((kind, day, name))
    return problems, found
