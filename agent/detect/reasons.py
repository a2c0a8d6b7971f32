"""The reason of a transition: why a subject now shows its new state, as English text (for
logs) and as a reason code of agent.core.reasons (for pages, letters and messages)."""

from __future__ import annotations

from agent.core.model import DeviceState
from agent.core.reasons import Reason, of_result, reason
from agent.core.settings import FlappingSettings
from agent.detect.records import Subject

_DOWN = DeviceState.DOWN
_UNKNOWN = DeviceState.UNKNOWN
_UNREACHABLE = DeviceState.UNREACHABLE
_FLAPPING = DeviceState.FLAPPING


def upstream(subject: Subject) -> dict[str, str]:
    """What the subject depends on, as reason parameters: kind "parent" (a device's parent)
    or "device" (an SNMP or interface subject's own device), and its name."""
    if subject.parent is None:
        return {"kind": "parent", "name": ""}
    return {"kind": "parent" if subject.is_device else "device", "name": subject.parent.device}


def why(subject: Subject, old: DeviceState, new: DeviceState, note: Reason | None,
        flap: FlappingSettings) -> tuple[str, Reason]:
    """The English text and the code of `subject`'s change from `old` to `new`; `note` says
    why a hold ended. A change to DOWN names the last result's reason too (the text its
    English detail, the code its code when it has one)."""
    state = subject.state
    if new is _FLAPPING:
        cause = reason("flapping_started", percent=state.flap_percent, window=flap.window,
                       high=flap.high_percent)
        return cause.text(), cause
    if new is _UNREACHABLE:
        cause = reason("upstream_failing", **upstream(subject))
        return cause.text(), cause
    if old is _FLAPPING:
        cause = reason("flapping_stopped", percent=state.flap_percent, low=flap.low_percent)
    elif old is _UNREACHABLE and new is _DOWN:
        cause = reason("upstream_recovered", **upstream(subject))
    elif new is _UNKNOWN:
        cause = reason("no_result_yet")
    else:
        kind = "failed" if state.trend is _DOWN else "good"
        cause = (reason(f"result_{kind}") if state.attempts == 1 else
                 reason(f"results_{kind}", count=state.attempts))
    if note is not None:
        cause = Reason(cause.code, (*cause.params, ("note", note)))
    text = cause.text()
    last = state.last
    if last is not None and last.reason and new is _DOWN:
        text = f"{text} (last: {last.reason})"
        coded = of_result(last.code, last.params)
        if coded is not None:
            cause = Reason(cause.code, (*cause.params, ("last", coded)))
    return text, cause
