"""The report's period: a calendar month "YYYY-MM" counted in the agency's zone.

The month runs from 00:00 on its first day to 00:00 on the next month's first day, on the
wall clock of `sla.timezone` (WIB for Bogor: 2026-12 is 2026-11-30T17:00Z to 2026-12-31T17:00Z).
A month not over yet ends at `now`. Sites in other zones (WITA, WIT) are counted in the
agency's month, not their own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.reports.model import Period

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_period(month: str, timezone: str, now: datetime) -> Period:
    """The period of `month` ("2026-12") in `timezone`, cut at `now` while not over.

    ValueError, naming the value and what was expected, for a malformed month, an unknown
    zone, or a month that has not begun by `now`.
    """
    found = _MONTH.fullmatch(month)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise ValueError(f"month {month!r}: expected YYYY-MM, e.g. 2026-12")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone {timezone!r}: not a known zone (e.g. Asia/Jakarta)"
                         ) from exc
    year, mon = int(found.group(1)), int(found.group(2))
    nyear, nmon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    start = datetime(year, mon, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(nyear, nmon, 1, tzinfo=zone).astimezone(UTC)
    if now <= start:
        raise ValueError(f"month {month!r} has not begun yet in {timezone}")
    return Period(start=start, end=min(end, now.astimezone(UTC)), label=month,
                  timezone=timezone)
