"""Icinga's soft/hard state machine for one subject: `step()` folds a result in, with flap
detection. Pure and frozen; the detector keeps one `SubjectState` per subject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from agent.core.model import CheckResult, DeviceState, Status
from agent.core.settings import FlappingSettings, PollingSettings

_UP = DeviceState.UP
_DOWN = DeviceState.DOWN
_UNKNOWN = DeviceState.UNKNOWN


@dataclass(frozen=True, slots=True)
class StepSettings:
    """What `step()` needs: thresholds for hard changes and flap detection."""

    down_after: int = 3  # consecutive failed results before hard DOWN (>= 1)
    up_after: int = 2  # consecutive good results before hard UP (>= 1)
    flapping: FlappingSettings = field(default_factory=FlappingSettings)

    @classmethod
    def from_config(cls, polling: PollingSettings, flapping: FlappingSettings) -> StepSettings:
        return cls(down_after=polling.down_after, up_after=polling.up_after, flapping=flapping)


@dataclass(frozen=True, slots=True)
class SubjectState:
    """One subject's soft/hard state, built only from its own results.

    `hard` is UP, DOWN or UNKNOWN (never checked, or only UNKNOWN results so far).
    `trend` is the state of the latest OK/WARNING/DOWN result, `attempts` how many such
    results in a row were in it (Icinga's current attempt) and `trend_since` when the first
    of them was observed; the subject is soft while `trend` differs from `hard`. `history`
    holds the failing flags of the latest `flapping.window` known results, oldest first.
    """

    hard: DeviceState = _UNKNOWN
    hard_since: datetime | None = None
    trend: DeviceState = _UNKNOWN
    attempts: int = 0
    trend_since: datetime | None = None
    known_at: datetime | None = None  # when the latest OK/WARNING/DOWN result was observed
    last: CheckResult | None = None  # the latest result, UNKNOWN ones included
    history: tuple[bool, ...] = ()
    flapping: bool = False
    flap_percent: float = 0.0

    @property
    def soft(self) -> bool:
        """True while a change of state is seen but not yet confirmed (hard)."""
        return self.trend is not _UNKNOWN and self.trend is not self.hard

    @property
    def last_failed(self) -> bool | None:
        """Whether the latest OK/WARNING/DOWN result failed; None before any such result."""
        return None if self.trend is _UNKNOWN else self.trend is _DOWN


def flap_percent(history: Sequence[bool], window: int) -> float:
    """Icinga's/Nagios' weighted percentage of state changes over `window` results.

    The window - 1 possible changes weigh 0.8 (oldest) to 1.2 (newest), linearly; a history
    shorter than the window counts its missing changes as none. 0.0 when window < 2.
    """
    slots = window - 1
    if slots < 1:
        return 0.0
    recent = list(history)[-window:]
    if recent.count(True) in (0, len(recent)):
        return 0.0  # the steady case: no change in the window
    total = 0.0
    for i in range(1, len(recent)):
        if recent[i] != recent[i - 1]:
            slot = slots - (len(recent) - i)  # 0 = oldest change slot, slots - 1 = newest
            total += (0.8 + 0.4 * slot / (slots - 1)) if slots > 1 else 1.0
    return min(100.0, 100.0 * total / slots)


def step(
    state: SubjectState, result: CheckResult, settings: StepSettings
) -> tuple[SubjectState, bool]:
    """Fold one result into a subject's state; the flag is True when the hard state changed.

    OK and WARNING count as good, DOWN as failed. A new state turns hard after N results in
    it in a row, the first being attempt 1: N = `down_after` towards DOWN, `up_after` towards
    UP (also for the first UP after start). An UNKNOWN result is recorded as `last` and
    otherwise ignored: it neither counts as an attempt nor breaks a run, and it leaves the
    hard state and the flap history as they are.
    """
    if result.status is Status.UNKNOWN:
        return replace(state, last=result), False
    failing = result.status is Status.DOWN
    target = _DOWN if failing else _UP
    attempts = state.attempts + 1 if state.trend is target else 1
    trend_since = state.trend_since if state.trend is target else result.observed_at
    hard, since, changed = state.hard, state.hard_since, False
    needed = settings.down_after if failing else settings.up_after
    if hard is not target and attempts >= needed:
        hard, since, changed = target, result.observed_at, True
    history, percent, flapping = state.history, state.flap_percent, state.flapping
    flap = settings.flapping
    if flap.enabled and flap.window >= 2:
        history = (*state.history, failing)[-flap.window :]
        percent = flap_percent(history, flap.window)
        # Hysteresis, as Icinga: start above high_percent, stop only below low_percent.
        flapping = percent >= flap.low_percent if state.flapping else percent > flap.high_percent
    else:
        history, percent, flapping = (), 0.0, False
    return (
        SubjectState(
            hard=hard,
            hard_since=since,
            trend=target,
            attempts=attempts,
            trend_since=trend_since,
            known_at=result.observed_at,
            last=result,
            history=history,
            flapping=flapping,
            flap_percent=percent,
        ),
        changed,
    )
