"""Gates as SOP data: the named preconditions a step may carry (`StepSpec.gate`), checked
against the Facts the service gathered. Pure: a gate never probes anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.core.errors import InvalidTransition
from ticketing.models import Ticket, aware_utc, json_plain, parse_time
from ticketing.sop import StepSpec

CONNECTIVITY_VERIFIED = "connectivity_verified"


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the service gathered for a decision; the workflow never probes anything.

    `verification` is the latest live verification of the ticket's devices:
    {"passed": bool, "started_at": iso, "finished_at": iso, "reason": str, "probes": [...]}.
    When None, the one recorded on the ticket (`Ticket.last_verification`) is used.
    """

    now: datetime
    verification: Mapping[str, Any] | None = None
    max_verification_age_seconds: float = 600.0


#: A gate: (ticket, facts) -> (refusal reason or None, extra output fields to store).
Gate = Callable[[Ticket, Facts], tuple[str | None, Mapping[str, Any]]]


def _failing_reason(verification: Mapping[str, Any]) -> str:
    reason = verification.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    for probe in verification.get("probes") or ():
        if isinstance(probe, Mapping) and probe.get("healthy") is False:
            what = " ".join(str(probe[k]) for k in ("device", "check", "item") if probe.get(k))
            return f"{what}: {probe.get('reason') or probe.get('status') or 'not healthy'}"
    return "the verification did not pass"


def connectivity_verified(ticket: Ticket, facts: Facts
                          ) -> tuple[str | None, Mapping[str, Any]]:
    """The step-7 gate: a passed live verification, finished at most
    `facts.max_verification_age_seconds` ago and started after the last failure was observed.
    On success the verification (with its probes) is stored in the report as "verification"."""
    v = facts.verification if facts.verification is not None else ticket.last_verification
    prefix = "connectivity not verified: "
    if not v:
        return prefix + "no verification yet", {}
    started, finished = parse_time(v.get("started_at")), parse_time(v.get("finished_at"))
    if started is None or finished is None:
        return prefix + "the last verification has no valid start and finish times", {}
    limit = facts.max_verification_age_seconds
    if (aware_utc(facts.now, "now") - finished).total_seconds() > limit:
        return prefix + f"the last verification is older than {limit:g} s", {}
    if ticket.last_failure_at is not None and started < ticket.last_failure_at:
        return prefix + "the last verification started before the last failure was observed", {}
    if v.get("passed") is not True:
        return prefix + _failing_reason(v), {}
    return None, {"verification": json_plain(v)}


#: Named preconditions a step may carry (StepSpec.gate).
GATES: Mapping[str, Gate] = {CONNECTIVITY_VERIFIED: connectivity_verified}
#: Gates that live probes can open: the service runs a verification before refusing.
PROBED_GATES = frozenset({CONNECTIVITY_VERIFIED})


def probed_gate(spec: StepSpec) -> bool:
    """Whether the step's gate is opened by live probes; completing such a step confirms that
    the fault is repaired."""
    return spec.gate in PROBED_GATES


def _gate(spec: StepSpec) -> Gate:
    gate = GATES.get(spec.gate or "")
    if gate is None:
        raise InvalidTransition(f"step {spec.no} has an unknown gate {spec.gate!r}")
    return gate


def gate_refusal(ticket: Ticket, spec: StepSpec, facts: Facts) -> str | None:
    """Why the step's gate is closed now, or None when it is open (or the step has none)."""
    if spec.gate is None:
        return None
    if spec.gate not in GATES:
        return f"step {spec.no} has an unknown gate {spec.gate!r}"
    return _gate(spec)(ticket, facts)[0]


def pass_gate(ticket: Ticket, spec: StepSpec, facts: Facts) -> Mapping[str, Any]:
    """The fields the step's gate adds to its output document (none without a gate).
    Raises InvalidTransition with the gate's refusal when it is closed."""
    if spec.gate is None:
        return {}
    refusal, extra = _gate(spec)(ticket, facts)
    if refusal is not None:
        raise InvalidTransition(refusal)
    return extra
