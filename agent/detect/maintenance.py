"""Maintenance windows: which configured windows cover a device at an instant.

Pure date arithmetic with zoneinfo; no clock reads. The detector asks this module, it never
decides what a window means itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.core.model import Device
from agent.core.settings import MaintenanceWindow


def matches(window: MaintenanceWindow, device: Device) -> bool:
    """True when `window` names the device, its owner or its site.

    A window that names no device, owner or site matches nothing (a typo must not silence
    every device).
    """
    return (
        device.name in window.devices
        or device.owner in window.owners
        or (device.site is not None and device.site in window.sites)
    )


def covers(window: MaintenanceWindow, device: Device, at: datetime) -> bool:
    """True when `window` is open at `at` for `device` (matching is not checked here).

    One-off windows are half-open `[start, end)`. Weekly windows open on each of `weekdays`
    (0 = Monday) at `start_time` on the wall clock of `window.timezone`, or of the device's
    zone when that is None, and stay open for `duration` of elapsed time: a window may cross
    midnight and the end of the week, and a DST change shortens or lengthens no window.
    A weekly window that also has `start`/`end` only recurs inside them.
    Raises ValueError for a naive `at`.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"maintenance check needs an aware datetime, got {at!r}")
    if window.start is not None and at < window.start:
        return False
    if window.end is not None and at >= window.end:
        return False
    start_time, duration = window.start_time, window.duration
    if not window.weekdays or start_time is None or duration is None:
        # One-off: both bounds are required; a half-specified window is never open.
        return window.start is not None and window.end is not None
    zone = ZoneInfo(window.timezone or device.timezone)
    local = at.astimezone(zone)
    # An occurrence covering `at` started at most `duration` ago, i.e. on one of the last
    # duration.days + 1 local dates; one more day absorbs a DST shift of the start.
    for back in range(duration.days + 2):
        day = local.date() - timedelta(days=back)
        if day.weekday() not in window.weekdays:
            continue
        # Wall-clock start in the zone; a start inside a DST gap maps forward (PEP 495 fold=0).
        # Add the duration in UTC: aware arithmetic in `zone` would add wall-clock time.
        wall = datetime.combine(day, start_time.replace(tzinfo=None), tzinfo=zone)
        opens = wall.astimezone(UTC)
        if opens <= at < opens + duration:
            return True
    return False


def active_windows(
    windows: Sequence[MaintenanceWindow], device: Device, at: datetime
) -> list[MaintenanceWindow]:
    """The windows that match `device` and are open at the aware instant `at`, in config order.

    Raises ValueError for a naive `at` and ZoneInfoNotFoundError for an unknown zone name
    (the config loader validates zones, so neither happens with a loaded Config).
    """
    return [w for w in windows if matches(w, device) and covers(w, device, at)]
