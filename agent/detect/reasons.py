"""The reason text of a transition: why a subject now shows its new state."""

from __future__ import annotations

from agent.core.model import DeviceState
from agent.core.settings import FlappingSettings
from agent.detect.records import Subject

_DOWN = DeviceState.DOWN
_UNKNOWN = DeviceState.UNKNOWN
_UNREACHABLE = DeviceState.UNREACHABLE
_FLAPPING = DeviceState.FLAPPING


def why(subject: Subject, old: DeviceState, new: DeviceState, note: str,
        flap: FlappingSettings) -> str:
    """The reason for `subject`'s change from `old` to `new`; `note` says why a hold ended."""
    state = subject.state
    if new is _FLAPPING:
        return (
            f"flapping: {state.flap_percent:.1f}% state changes over the last "
            f"{flap.window} results (above {flap.high_percent:g}%)"
        )
    if new is _UNREACHABLE:
        return f"{subject.upstream()} failing"
    if old is _FLAPPING:
        text = f"stopped flapping: {state.flap_percent:.1f}% (below {flap.low_percent:g}%)"
    elif old is _UNREACHABLE and new is _DOWN:
        text = f"{subject.upstream()} no longer failing"
    elif new is _UNKNOWN:
        text = "no result yet"
    else:
        kind = "failed" if state.trend is _DOWN else "good"
        if state.attempts == 1:
            text = f"1 {kind} result"
        else:
            text = f"{state.attempts} consecutive {kind} results"
    if note:
        text = f"{text}; {note}"
    last = state.last
    if last is not None and last.reason and new is _DOWN:
        text = f"{text} (last: {last.reason})"
    return text
