"""Gates as SOP data: the named preconditions a step may carry (`StepSpec.gate`), checked
against the Facts the service gathered. Pure: a gate never probes anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from agent.core.errors import InvalidTransition
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


#: A gate: (ticket, facts) -> (refusal reason or None, the verification that opened it, to
#: store in the step's report).
Gate = Callable[[Ticket, Facts], tuple[str | None, Verification | None]]


def connectivity_verified(ticket: Ticket, facts: Facts
                          ) -> tuple[str | None, Verification | None]:
    """The step-7 gate: a passed live verification, finished at most
    `facts.max_verification_age_seconds` ago and started after the last failure was observed.
    On success the verification (with its probes) is stored in the report as "verification"."""
    v = facts.verification if facts.verification is not None else ticket.last_verification
    prefix = "connectivity not verified: "
    if v is None:
        return prefix + "no verification yet", None
    started, finished = v.started_at, v.finished_at
    if started is None or finished is None:
        return prefix + "the last verification has no valid start and finish times", None
    limit = facts.max_verification_age_seconds
    if (aware_utc(facts.now, "now") - finished).total_seconds() > limit:
        return prefix + f"the last verification is older than {limit:g} s", None
    if ticket.last_failure_at is not None and started < ticket.last_failure_at:
        return prefix + "the last verification started before the last failure was observed", None
    if not v.passed:
        return prefix + v.failing_reason(), None
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
        raise InvalidTransition(f"step {spec.no} has an unknown gate {spec.gate!r}")
    return gate


def gate_refusal(ticket: Ticket, spec: StepSpec, facts: Facts) -> str | None:
    """Why the step's gate is closed now, or None when it is open (or the step has none)."""
    if spec.gate is None:
        return None
    if spec.gate not in GATES:
        return f"step {spec.no} has an unknown gate {spec.gate!r}"
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
