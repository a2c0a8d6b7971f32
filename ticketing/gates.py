"""Gates as SOP data: the named preconditions a step may carry (`StepSpec.gate`), checked
against the Facts the service gathered. Pure: a gate never probes anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from agent.core.errors import InvalidTransition
from agent.core.refusals import Cause, Refused, refused
from ticketing.models import Ticket, aware_utc
from ticketing.payloads import Verification
from ticketing.sop import StepSpec

CONNECTIVITY_VERIFIED = "connectivity_verified"


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the service gathered for a decision; the workflow never probes anything.

    `verification` is the latest live verification of the ticket's devices; when None, the
    one recorded on the ticket (`Ticket.last_verification`) is used.
    """

    now: datetime
    verification: Verification | None = None
    max_verification_age_seconds: float = 600.0


#: A gate: (ticket, facts) -> (refusal or None, the verification that opened it, to store in
#: the step's report).
Gate = Callable[[Ticket, Facts], tuple[Refused | None, Verification | None]]


def connectivity_verified(ticket: Ticket, facts: Facts
                          ) -> tuple[Refused | None, Verification | None]:
    """The step-7 gate: a passed live verification, finished at most
    `facts.max_verification_age_seconds` ago and started after the last failure was observed.
    On success the verification (with its probes) is stored in the report as "verification"."""
    v = facts.verification if facts.verification is not None else ticket.last_verification
    if v is None:
        return refused("gate_no_verification"), None
    started, finished = v.started_at, v.finished_at
    if started is None or finished is None:
        return refused("gate_bad_times"), None
    limit = facts.max_verification_age_seconds
    if (aware_utc(facts.now, "now") - finished).total_seconds() > limit:
        return refused("gate_too_old", seconds=float(limit)), None
    if ticket.last_failure_at is not None and started < ticket.last_failure_at:
        return refused("gate_before_failure"), None
    if not v.passed:
        if not v.reason and all(p.healthy for p in v.probes):
            return refused("gate_not_passed"), None
        # the English as the verifier wrote it (with its detail); the code for a reader
        return refused("gate_failed", cause=Cause(v.failing_reason(), v.failing_cause())), None
    return None, v


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
        raise InvalidTransition(refused("unknown_gate", step=spec.no, gate=str(spec.gate)))
    return gate


def gate_refusal(ticket: Ticket, spec: StepSpec, facts: Facts) -> Refused | None:
    """Why the step's gate is closed now, or None when it is open (or the step has none)."""
    if spec.gate is None:
        return None
    if spec.gate not in GATES:
        return refused("unknown_gate", step=spec.no, gate=spec.gate)
    return _gate(spec)(ticket, facts)[0]


def pass_gate(ticket: Ticket, spec: StepSpec, facts: Facts) -> Verification | None:
    """The verification that opened the step's gate, stored in its output document (None
    without a gate). Raises InvalidTransition with the gate's refusal when it is closed."""
    if spec.gate is None:
        return None
    refusal, opened_by = _gate(spec)(ticket, facts)
    if refusal is not None:
        raise InvalidTransition(refusal)
    return opened_by
