"""Indonesian wording for letters: dates ("24 November 2026 pukul 08.00 WIB"), Roman months,
numbers with a decimal comma, and title case for office names (the month, day and zone names
are ticketing/indonesian.py's, shared with the messages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ticketing.indonesian import MONTHS, zone_name

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
DASH = "\u2014"
_SMALL_WORDS = {"dan", "di", "ke", "dari", "untuk", "serta", "atau", "yang", "pada"}


def local(moment: datetime, tz: str) -> datetime:
    """`moment` (aware) in the letters' zone."""
    return moment.astimezone(ZoneInfo(tz))


def indonesian_date(moment: datetime) -> str:
    """"24 November 2026" (the date of `moment` as it is, in its own zone)."""
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def clock_time(moment: datetime, seconds: bool = False) -> str:
    """"08.00" (or "08.00.05"): Indonesian writes the hour with a dot."""
    return moment.strftime("%H.%M.%S" if seconds else "%H.%M")


def when(moment: datetime | None, tz: str, seconds: bool = False, fallback: str = "") -> str:
    """"24 November 2026 pukul 08.00 WIB" in `tz`; without a time, `fallback` or "—"."""
    if moment is None:
        return fallback or DASH
    moment = local(moment, tz)
    return f"{indonesian_date(moment)} pukul {clock_time(moment, seconds)} {zone_name(moment, tz)}"


def number(value: Any, scale: float, digits: int = 1) -> str:
    """`value * scale` with a decimal comma ("0,4"), whole numbers without decimals; "—" when
    `value` is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    scaled = float(value) * scale
    if scaled == int(scaled):
        return str(int(scaled))
    return f"{scaled:.{digits}f}".replace(".", ",")


def title_case(line: str) -> str:
    """"DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN" -> "Dinas Komunikasi,
    Informatika, Statistik dan Persandian"; a line not in capitals is kept as written."""
    if line != line.upper():
        return line
    words = line.lower().split(" ")
    return " ".join(w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))
