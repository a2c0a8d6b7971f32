"""Trap-announced interfaces: a linkDown or linkUp names an interface whose next polls
confirm it, and a confirming result turns it hard after `confirm_after` results instead of
`down_after` / `up_after`. Pure: every instant comes from the caller."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agent.core.model import CheckResult, Status
from agent.detect.soft_hard import StepSettings

# A poll observed this long after the trap still confirms it: the agent's on-demand poll
# takes one SNMP timeout (about 1 s); 30 s covers a poll that was already running and the
# re-run after it, and a confirm interval the scheduler had to wait for its semaphore.
CONFIRM_WINDOW_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Announcement:
    """A trap about (device, item): `down` for linkDown, else linkUp; from `at` to `until`."""

    at: datetime
    until: datetime
    down: bool


class Announcements:
    """The open announcements, one per (device, interface): a newer trap replaces the older.

    Bounded by the interfaces the caller announces (monitored ones only) and emptied by
    `expire(now)`."""

    def __init__(self, settings: StepSettings, confirm_after: int,
                 window_seconds: float = CONFIRM_WINDOW_SECONDS) -> None:
        self._window = timedelta(seconds=window_seconds)
        self._open: dict[tuple[str, str], Announcement] = {}
        # the thresholds a confirming result is folded in with
        self._down = replace(settings, down_after=confirm_after)
        self._up = replace(settings, up_after=confirm_after)

    def announce(self, device: str, item: str, at: datetime, *, down: bool) -> None:
        self._open[(device, item)] = Announcement(at, at + self._window, down)

    def settings_for(self, result: CheckResult, item: str) -> StepSettings | None:
        """The lowered thresholds when `result` (of interface `item`) confirms an open
        announcement: observed inside its window and agreeing with it (DOWN after a
        linkDown, OK or WARNING after a linkUp); else None (the normal rule applies)."""
        found = self._open.get((result.device, item))
        if found is None or result.status is Status.UNKNOWN:
            return None
        if result.observed_at > found.until:
            del self._open[(result.device, item)]
            return None
        if result.observed_at < found.at or (result.status is Status.DOWN) != found.down:
            return None
        return self._down if found.down else self._up

    def expire(self, now: datetime) -> int:
        """Forget the announcements whose window ended before `now`; how many were open."""
        count = len(self._open)
        if count:
            for key in [k for k, a in self._open.items() if a.until < now]:
                del self._open[key]
        return count

    def __len__(self) -> int:
        return len(self._open)
