"""The pure SOP-006 ticket workflow: commands become validated TicketEvents, events fold into
Tickets, and SLA arithmetic runs on an injected Calendar. No I/O and no clock (`now` is passed
in); every refusal is an InvalidTransition whose message says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent.core.errors import InvalidTransition
from agent.core.refusals import refused
from ticketing import policy
from ticketing.documents import automatic_request, validate_output
from ticketing.gates import Facts, pass_gate
from ticketing.models import (
    EventKind,
    Fault,
    StepRecord,
    Ticket,
    TicketDraft,
    TicketEvent,
    TicketStatus,
    Trigger,
    aware_utc,
)
from ticketing.payloads import Evidence, OutputDocument, Verification, json_plain, parse_time
from ticketing.sop import Sop, StepSpec

if TYPE_CHECKING:
    from ticketing.calendar import Calendar

SYSTEM_ROLE = "system"
#: Reopening returns a closed ticket to the technicians' check (step 5, Proses Pengecekan):
#: the request (1) and the dispositions (2-4) already put the work on their desk, so only the
#: technical steps and the reports up the chain (5-9) are done again, each with a new clock.
REOPEN_STEP = 5


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user with one role (a Role value; "admin" may act for any role), or the
    agent itself (`SYSTEM`)."""

    name: str
    role: str


SYSTEM = Actor("pantau", SYSTEM_ROLE)


# -- values and small helpers ------------------------------------------------------------------


def _events(ticket: Ticket, at: datetime, actor: Actor,
            items: Iterable[tuple[EventKind, int | None, Mapping[str, Any]]]) -> list[TicketEvent]:
    """Events after `ticket.seq`, numbered +1, +2, ..., all at `at` by `actor`."""
    at = aware_utc(at, "now")
    return [
        TicketEvent(ticket_id=ticket.id, seq=ticket.seq + n, kind=kind, at=at, actor=actor.name,
                    role=actor.role, step=step, data=json_plain(data))
        for n, (kind, step, data) in enumerate(items, start=1)
    ]


def _require_open(ticket: Ticket) -> None:
    if ticket.status is not TicketStatus.OPEN:
        raise InvalidTransition(refused("ticket_closed", ticket=ticket.id))


def _check_role(spec: StepSpec, actor: Actor) -> None:
    if not policy.may_act(actor.role, spec):
        raise InvalidTransition(refused("wrong_role", step=spec.no, role=spec.role.value,
                                        name=actor.name, actor_role=actor.role))


# -- commands -> events ------------------------------------------------------------------------

def new_ticket_events(ticket_id: str, draft: TicketDraft, sop: Sop, now: datetime
                      ) -> list[TicketEvent]:
    """OPENED, then step 1 (Surat Permohonan) completed at filing time.

    An automatic request (trigger auto) is filed by the agent (role "system") on behalf of the
    owning agency, with subject and description built from the evidence. A manual request is
    filed by a perangkat_daerah user (the API checks it is the owning agency's) or an admin,
    with the draft's subject and description. So step 1 is never completed later: it is the
    filing itself. Raises InvalidTransition for another filer or a missing subject/description.
    """
    filer = Actor(draft.requested_by, draft.requested_role)
    spec = sop.step(1)
    if draft.trigger is Trigger.AUTO:
        if filer.role != SYSTEM_ROLE:
            raise InvalidTransition(refused("automatic_filer", name=filer.name,
                                            role=filer.role))
        output = automatic_request(draft)
    else:
        _check_role(spec, filer)
        output = validate_output(spec, {"subject": draft.subject,
                                        "description": draft.description})
    opened_at = aware_utc(draft.opened_at, "opened_at")
    blank = Ticket(id=ticket_id, device=draft.device, owner=draft.owner, fault=draft.fault,
                   trigger=draft.trigger, status=TicketStatus.OPEN, current_step=0,
                   sop_version=sop.version, opened_at=opened_at, steps=())
    opened = {
        "device": draft.device, "owner": draft.owner, "fault": draft.fault.value,
        "trigger": draft.trigger.value, "item": draft.item, "dedup_key": draft.dedup_key,
        "opened_at": opened_at, "evidence": draft.evidence.to_json(), "affected": draft.affected,
        "flapping": draft.flapping, "sop_version": sop.version, "sop_number": sop.number,
    }
    return _events(blank, now, filer, [(EventKind.OPENED, None, opened),
                                       (EventKind.STEP_COMPLETED, 1, output.to_json())])


def check_actor(ticket: Ticket, step: int, actor: Actor, sop: Sop) -> StepSpec:
    """The spec of `step` if `actor` may complete it now (before looking at the document).

    Raises InvalidTransition: the ticket is closed; no such step; the step is not the open one
    ("step 5 is not open: the ticket is at step 3"); the wrong role ("step 2 is for
    kepala_dinas; budi is kasi")."""
    _require_open(ticket)
    if sop.find(step) is None:
        raise InvalidTransition(refused("no_such_step", step=step, sop=sop.number,
                                        steps=len(sop.steps)))
    if step != ticket.current_step:
        raise InvalidTransition(refused("step_not_open", step=step,
                                        current=ticket.current_step))
    spec = sop.step(step)
    _check_role(spec, actor)
    return spec


def complete_step(ticket: Ticket, step: int, actor: Actor, output: Mapping[str, Any], sop: Sop,
                  facts: Facts) -> list[TicketEvent]:
    """STEP_COMPLETED with the step's output document (and CLOSED after the last step).

    Checks, in order: `check_actor`, the document (`validate_output`), the step's gate (step
    7: "connectivity not verified: <why>"). A step completed after its due time that no
    sweep has marked yet gets its STEP_BREACHED first, so every late step is counted once.
    """
    spec = check_actor(ticket, step, actor, sop)
    document = validate_output(spec, output).verified(pass_gate(ticket, spec, facts))
    now = aware_utc(facts.now, "now")
    record = ticket.steps[step - 1]
    late: list[TicketEvent] = []
    if not record.breached and breached(record, now):
        late = _events(ticket, now, SYSTEM,
                       [(EventKind.STEP_BREACHED, step, _breach_data(record))])
    items: list[tuple[EventKind, int | None, Mapping[str, Any]]] = [
        (EventKind.STEP_COMPLETED, step, document.to_json())]
    if step == len(sop.steps):
        items.append((EventKind.CLOSED, None, {}))
    return late + _events(replace(ticket, seq=ticket.seq + len(late)), now, actor, items)


def _breach_data(record: StepRecord) -> dict[str, Any]:
    return {"due_at": record.due_at}


def observe_failure(ticket: Ticket, evidence: Evidence, now: datetime
                    ) -> list[TicketEvent]:
    """FAILURE_OBSERVED when the fault is back on a ticket marked restored; nothing while it is
    still failing. Raises InvalidTransition on a closed ticket (a recurrence reopens it)."""
    _require_open(ticket)
    if not ticket.restored:
        return []
    return _events(ticket, now, SYSTEM,
                   [(EventKind.FAILURE_OBSERVED, None, {"evidence": evidence.to_json()})])


def observe_restoration(ticket: Ticket, now: datetime, evidence: Evidence | None = None
                        ) -> list[TicketEvent]:
    """RESTORATION_OBSERVED when the fault has cleared; never closes the ticket (only the
    steps do). Nothing when already restored; InvalidTransition on a closed ticket."""
    _require_open(ticket)
    if ticket.restored:
        return []
    return _events(ticket, now, SYSTEM,
                   [(EventKind.RESTORATION_OBSERVED, None,
                     {"evidence": (evidence or Evidence()).to_json()})])


def add_affected(ticket: Ticket, devices: Iterable[str], now: datetime) -> list[TicketEvent]:
    """AFFECTED_ADDED with the devices not listed yet (none: no event)."""
    _require_open(ticket)
    listed = set(ticket.affected)  # a set: thousands of children behind one core switch
    new = [d for d in dict.fromkeys(devices) if d not in listed]
    if not new:
        return []
    return _events(ticket, now, SYSTEM, [(EventKind.AFFECTED_ADDED, None, {"devices": new})])


def set_flapping(ticket: Ticket, flapping: bool, now: datetime) -> list[TicketEvent]:
    """FLAPPING_CHANGED only when the mark changes."""
    _require_open(ticket)
    if ticket.flapping == flapping:
        return []
    return _events(ticket, now, SYSTEM,
                   [(EventKind.FLAPPING_CHANGED, None, {"flapping": flapping})])


def reopen(ticket: Ticket, evidence: Evidence, now: datetime, sop: Sop
           ) -> list[TicketEvent]:
    """REOPENED: a closed ticket goes back to step REOPEN_STEP (5) with fresh clocks from `now`;
    the later steps start over. Raises InvalidTransition when the ticket is open."""
    if ticket.status is not TicketStatus.CLOSED:
        raise InvalidTransition(refused("ticket_not_closed", ticket=ticket.id))
    step = min(REOPEN_STEP, len(sop.steps))
    return _events(ticket, now, SYSTEM,
                   [(EventKind.REOPENED, step, {"evidence": evidence.to_json()})])


def record_verification(ticket: Ticket, verification: Verification, now: datetime,
                        actor: Actor) -> list[TicketEvent]:
    """VERIFICATION: keep a live verification's result (passed, probes, reason) on the ticket.
    Raises InvalidTransition on a closed ticket."""
    _require_open(ticket)
    return _events(ticket, now, actor, [(EventKind.VERIFICATION, None, verification.to_json())])


def sweep(ticket: Ticket, now: datetime, sop: Sop, calendar: Calendar) -> list[TicketEvent]:
    """STEP_BREACHED for the open step once it is past its due time (once per step)."""
    if ticket.status is not TicketStatus.OPEN or not 1 <= ticket.current_step <= len(
            ticket.steps):
        return []
    record = ticket.steps[ticket.current_step - 1]
    if record.breached or not breached(record, aware_utc(now, "now")):
        return []
    return _events(ticket, now, SYSTEM,
                   [(EventKind.STEP_BREACHED, record.no, _breach_data(record))])


def note(ticket: Ticket, actor: Actor, text: str, now: datetime) -> list[TicketEvent]:
    """NOTE: a free comment, on an open or a closed ticket. Raises InvalidTransition when
    `text` is empty."""
    if not text.strip():
        raise InvalidTransition(refused("note_empty"))
    return _events(ticket, now, actor, [(EventKind.NOTE, None, {"text": text.strip()})])


# -- events -> ticket --------------------------------------------------------------------------


def _start(spec: StepSpec, at: datetime, calendar: Calendar) -> StepRecord:
    return StepRecord(no=spec.no, role=spec.role.value, started_at=at,
                      due_at=calendar.add(at, spec.sla))


def _blank(spec: StepSpec) -> StepRecord:
    return StepRecord(no=spec.no, role=spec.role.value, started_at=None, due_at=None)


def _opened(event: TicketEvent, sop: Sop, calendar: Calendar) -> Ticket:
    d = event.data
    try:
        opened_at = parse_time(d["opened_at"])
        if opened_at is None:
            raise ValueError(f"bad opened_at {d['opened_at']!r}")
        trigger = Trigger(d["trigger"])
        steps = (_start(sop.step(1), opened_at, calendar),
                 *(_blank(s) for s in sop.steps[1:]))
        return Ticket(
            id=event.ticket_id, device=str(d["device"]), owner=str(d["owner"]),
            fault=Fault(d["fault"]), trigger=trigger, status=TicketStatus.OPEN, current_step=1,
            sop_version=int(d["sop_version"]), opened_at=opened_at, steps=steps,
            item=str(d.get("item", "")), dedup_key=str(d.get("dedup_key", "")),
            flapping=bool(d.get("flapping", False)),
            affected=tuple(d.get("affected", ())), evidence=Evidence(d.get("evidence") or {}),
            seq=event.seq,
            last_failure_at=opened_at if trigger is Trigger.AUTO else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidTransition(
            f"ticket {event.ticket_id}: malformed opened event ({exc!r})") from exc


def _event_step(ticket: Ticket, event: TicketEvent) -> int:
    _require_open(ticket)
    if event.step != ticket.current_step or ticket.step_record(ticket.current_step) is None:
        raise InvalidTransition(f"ticket {ticket.id}: {event.kind.value} of step {event.step} "
                                f"while at step {ticket.current_step}")
    return ticket.current_step


def apply(ticket: Ticket | None, event: TicketEvent, sop: Sop, calendar: Calendar) -> Ticket:
    """Fold one event into the ticket (None before the OPENED event).

    Structural checks only (the commands validated roles, documents and gates): seq
    continuity, the ticket id, the event fitting the state. Step i+1 starts when step i is
    completed, with due_at = calendar.add(started_at, sla). Raises InvalidTransition.
    """
    if ticket is None:
        if event.kind is not EventKind.OPENED or event.seq != 1:
            raise InvalidTransition(f"ticket {event.ticket_id}: the first event must be "
                                    f"'opened' with seq 1, got {event.kind.value} {event.seq}")
        return _opened(event, sop, calendar)
    if event.ticket_id != ticket.id:
        raise InvalidTransition(f"event of ticket {event.ticket_id} applied to {ticket.id}")
    if event.seq != ticket.seq + 1:
        raise InvalidTransition(f"ticket {ticket.id}: event {event.seq} does not follow "
                                f"event {ticket.seq}")
    t = replace(ticket, seq=event.seq)
    kind, data, at = event.kind, event.data, event.at
    steps = list(t.steps)
    if kind is EventKind.STEP_COMPLETED:
        no = _event_step(t, event)
        steps[no - 1] = replace(steps[no - 1], completed_at=at, completed_by=event.actor,
                                output=OutputDocument.from_json(data))
        if no < len(steps):
            steps[no] = _start(sop.step(no + 1), at, calendar)
        return replace(t, steps=tuple(steps), current_step=no + 1)
    if kind is EventKind.STEP_BREACHED:
        no = _event_step(t, event)
        steps[no - 1] = replace(steps[no - 1], breached=True)
        return replace(t, steps=tuple(steps))
    if kind is EventKind.CLOSED:
        _require_open(t)
        if t.current_step != len(t.steps) + 1:
            raise InvalidTransition(f"ticket {t.id}: closed while at step {t.current_step}")
        return replace(t, status=TicketStatus.CLOSED, closed_at=at)
    if kind is EventKind.REOPENED:
        if t.status is not TicketStatus.CLOSED or event.step is None or not (
                1 <= event.step <= len(steps)):
            raise InvalidTransition(f"ticket {t.id}: reopened while {t.status.value}")
        no = event.step
        steps[no - 1] = _start(sop.step(no), at, calendar)
        steps[no:] = [_blank(s) for s in sop.steps[no:]]
        return replace(t, steps=tuple(steps), current_step=no, status=TicketStatus.OPEN,
                       closed_at=None, reopened=t.reopened + 1, restored=False,
                       restoration_observed_at=None, last_failure_at=at,
                       last_verification=None)
    if kind is EventKind.NOTE:
        return t
    _require_open(t)
    if kind is EventKind.FAILURE_OBSERVED:
        return replace(t, restored=False, restoration_observed_at=None, last_failure_at=at)
    if kind is EventKind.RESTORATION_OBSERVED:
        return replace(t, restored=True, restoration_observed_at=at)
    if kind is EventKind.AFFECTED_ADDED:
        listed = set(t.affected)
        added = [str(d) for d in data.get("devices", ()) if d not in listed]
        return replace(t, affected=t.affected + tuple(dict.fromkeys(added)))
    if kind is EventKind.FLAPPING_CHANGED:
        return replace(t, flapping=bool(data.get("flapping")))
    if kind is EventKind.VERIFICATION:
        return replace(t, last_verification=Verification.from_json(data))
    raise InvalidTransition(f"ticket {t.id}: unexpected {kind.value} event")


def fold(events: Sequence[TicketEvent], sop: Sop, calendar: Calendar) -> Ticket:
    """The ticket the events describe (the first must be OPENED). Raises InvalidTransition."""
    ticket: Ticket | None = None
    for event in events:
        ticket = apply(ticket, event, sop, calendar)
    if ticket is None:
        raise InvalidTransition("no events to fold")
    return ticket


# -- SLA arithmetic ----------------------------------------------------------------------------


def open_step(ticket: Ticket) -> StepRecord | None:
    """The record of the step waiting for action, or None when the ticket is closed."""
    if ticket.status is not TicketStatus.OPEN or not 1 <= ticket.current_step <= len(
            ticket.steps):
        return None
    return ticket.steps[ticket.current_step - 1]


def remaining_seconds(ticket: Ticket, now: datetime, calendar: Calendar) -> float | None:
    """Counted seconds left before the open step falls due (negative past it, on the calendar's
    count); None for a closed ticket."""
    record = open_step(ticket)
    if record is None or record.due_at is None:
        return None
    return calendar.remaining_seconds(now, record.due_at)


def breached(step_record: StepRecord, now: datetime) -> bool:
    """Whether the step is past its due time: already marked, or open with `now > due_at`, or
    completed after `due_at`. A step not started yet is never breached."""
    if step_record.breached:
        return True
    if step_record.started_at is None or step_record.due_at is None:
        return False
    end = step_record.completed_at if step_record.completed_at is not None else now
    return end > step_record.due_at


def step_duration_seconds(step_record: StepRecord) -> float | None:
    """Wall-clock seconds from start to completion; None while the step is not completed."""
    if step_record.started_at is None or step_record.completed_at is None:
        return None
    return (step_record.completed_at - step_record.started_at).total_seconds()
