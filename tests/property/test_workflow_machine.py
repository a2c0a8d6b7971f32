"""A Hypothesis state machine over the ticket workflow: random people complete random steps
with good and bad documents while facts flip, the clock moves and the detector observes.

An independent model decides whether each completion must be accepted; invariants check the
step order, roles, the step-7 gate, due times, breaches and `fold(events) == ticket`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from agent.core.errors import InvalidTransition
from tests.workflow_support import (
    ALL_ROLES,
    NAMES,
    Run,
    actor,
    auto_draft,
    manual_draft,
    valid_output,
    verification,
)
from ticketing import gates, workflow
from ticketing.calendar import Calendar, CalendarTime, WorkingCalendar
from ticketing.models import EventKind, Ticket, TicketStatus
from ticketing.payloads import Evidence, Verification
from ticketing.sop import SOP_006

STARTS = [
    datetime(2026, 11, 24, 1, 0, tzinfo=UTC),  # Tuesday 08:00 WIB
    datetime(2026, 11, 27, 8, 0, tzinfo=UTC),  # Friday 15:00 WIB
    datetime(2026, 3, 17, 7, 0, tzinfo=UTC),  # Tuesday 14:00 WIB, before Idul Fitri 2026
]
STEPS_SECONDS = [1, 59, 300, 601, 3600, 4 * 3600, 86400, 3 * 86400]
OUTPUTS = ["valid", "valid", "valid", "missing", "unknown", "wrong_type"]
FACTS = ["none", "passed", "failed", "stale", "early"]
MAX_AGE = 600.0


def broken_output(spec_no: int, kind: str) -> dict[str, Any]:
    spec = SOP_006.step(spec_no)
    out = valid_output(spec)
    first = spec.fields[0].name
    if kind == "missing":
        del out[first]
    elif kind == "unknown":
        out["zzz"] = "?"
    elif kind == "wrong_type":
        out[first] = 42
    return out


class WorkflowMachine(RuleBasedStateMachine):
    """Commands on one ticket, checked against a small model of what must be accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.run = Run()
        self.calendar: Calendar = CalendarTime()
        self.now = STARTS[0]
        self.facts: Verification | None = None  # the verification the service passes
        self.last_failure: datetime | None = None  # model of Ticket.last_failure_at
        self.recorded: Verification | None = None  # model of Ticket.last_verification
        self.restored = False
        self.last_step = 0
        self.reopened = False  # set by a reopen, cleared by the step-order invariant
        self.breached_seen: set[int] = set()  # steps seen breached since the last reopen

    # -- model -----------------------------------------------------------------------------

    def gate_ok(self) -> bool:
        v = self.facts if self.facts is not None else self.recorded
        if not v:
            return False
        started = datetime.fromisoformat(v["started_at"])
        finished = datetime.fromisoformat(v["finished_at"])
        return ((self.now - finished).total_seconds() <= MAX_AGE
                and (self.last_failure is None or started >= self.last_failure)
                and v["passed"] is True)

    def expected_refusal(self, step: int, role: str, output_kind: str) -> str | None:
        """The start of the refusal the model expects, or None when it must be accepted."""
        t = self.run.t
        if t.status is TicketStatus.CLOSED:
            return "ticket"
        if step != t.current_step:
            return f"step {step} is not open"
        spec = SOP_006.step(step)
        if role not in (spec.role.value, "admin"):
            return f"step {step} is for {spec.role.value}"
        if output_kind != "valid":
            return spec.output
        if spec.gate is not None and not self.gate_ok():
            return "connectivity not verified"
        return None

    def attempt(self, step: int, role: str, output_kind: str) -> None:
        expected = self.expected_refusal(step, role, output_kind)
        facts = gates.Facts(now=self.now, verification=self.facts,
                               max_verification_age_seconds=MAX_AGE)
        output = broken_output(step, output_kind)
        refusal = ""
        try:
            events = workflow.complete_step(self.run.t, step, actor(role), output, SOP_006,
                                            facts)
        except InvalidTransition as exc:
            refusal = str(exc)
        if refusal:
            assert expected is not None, f"refused but the model accepts: {refusal}"
            assert refusal.startswith(expected), (refusal, expected)
            event(f"refused: {expected.split(' ')[0]}")
            return
        assert expected is None, f"accepted but the model expects {expected!r}"
        self.run.add(events)
        event(f"completed step {step}")
        completed = [e for e in events if e.kind is EventKind.STEP_COMPLETED]
        assert [(e.step, e.actor, e.role) for e in completed] == [(step, NAMES[role], role)]

    # -- rules -----------------------------------------------------------------------------

    @initialize(manual=st.booleans(), working=st.booleans(), start=st.sampled_from(STARTS))
    def open_ticket(self, manual: bool, working: bool, start: datetime) -> None:
        self.calendar = WorkingCalendar() if working else CalendarTime()
        self.run = Run(calendar=self.calendar)
        self.now = start
        draft = manual_draft(at=start) if manual else auto_draft(at=start)
        self.run.open(draft)
        self.last_failure = None if manual else start
        self.last_step = self.run.t.current_step

    @rule(output_kind=st.sampled_from(OUTPUTS), admin=st.booleans())
    def complete_open_step_as_its_role(self, output_kind: str, admin: bool) -> None:
        step = min(self.run.t.current_step, 9)
        role = "admin" if admin else SOP_006.step(step).role.value
        self.attempt(step, role, output_kind)

    @rule(admin=st.booleans())
    def verify_then_complete_open_step(self, admin: bool) -> None:
        """The service's path: a live verification passes, then the step's role completes."""
        if self.run.t.status is TicketStatus.OPEN:
            self.flip_facts("passed", record=True)
        self.complete_open_step_as_its_role("valid", admin)

    @rule(step=st.integers(1, 9), role=st.sampled_from(ALL_ROLES),
          output_kind=st.sampled_from(OUTPUTS))
    def complete_any_step_as_anyone(self, step: int, role: str, output_kind: str) -> None:
        self.attempt(step, role, output_kind)

    @rule(kind=st.sampled_from(FACTS), record=st.booleans())
    def flip_facts(self, kind: str, record: bool) -> None:
        now = self.now
        if kind == "none":
            self.facts = None
            return
        if kind == "stale":
            v = verification(True, now - timedelta(seconds=700), now - timedelta(seconds=601))
        elif kind == "early" and self.last_failure is not None:
            v = verification(True, self.last_failure - timedelta(seconds=1), now)
        else:
            v = verification(kind != "failed", now - timedelta(seconds=60), now)
        if record and self.run.t.status is TicketStatus.OPEN:
            self.run.add(workflow.record_verification(self.run.t, v, now, actor("teknisi")))
            self.recorded = v
        else:
            self.facts = v

    @rule(seconds=st.sampled_from(STEPS_SECONDS))
    def advance_clock(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def reopen(self) -> None:
        t = self.run.t
        if t.status is TicketStatus.OPEN:
            try:
                workflow.reopen(t, Evidence(), self.now, SOP_006)
            except InvalidTransition:
                return
            raise AssertionError("an open ticket was reopened")
        self.run.add(workflow.reopen(t, Evidence({"reason": "again"}), self.now, SOP_006))
        self.last_failure, self.recorded, self.restored = self.now, None, False
        self.reopened = True
        event("reopened")
        self.breached_seen = {s for s in self.breached_seen if s < workflow.REOPEN_STEP}

    @rule(text=st.sampled_from(["", "  ", "cek kabel", "menunggu barang"]),
          role=st.sampled_from(ALL_ROLES))
    def annotate(self, text: str, role: str) -> None:
        try:
            events = workflow.note(self.run.t, actor(role), text, self.now)
        except InvalidTransition:
            assert not text.strip()
            return
        assert text.strip()
        self.run.add(events)

    @rule(failing=st.booleans())
    def observe(self, failing: bool) -> None:
        t = self.run.t
        if t.status is TicketStatus.CLOSED:
            return
        if failing:
            events = self.run.add(workflow.observe_failure(t, Evidence({"reason": "down"}),
                                                            self.now))
            assert bool(events) == self.restored
            if events:
                self.last_failure = self.now
            self.restored = False
        else:
            events = self.run.add(workflow.observe_restoration(t, self.now, Evidence()))
            assert bool(events) == (not self.restored)
            self.restored = True

    @rule()
    def sweep(self) -> None:
        self.run.add(workflow.sweep(self.run.t, self.now, SOP_006, self.calendar))
        record = workflow.open_step(self.run.t)
        if record is not None:
            assert record.due_at is not None
            assert record.breached == (self.now > record.due_at)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def fold_equals_ticket(self) -> None:
        events = self.run.events
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert workflow.fold(events, SOP_006, self.calendar) == self.run.t

    @invariant()
    def step_moves_forward_except_on_reopen(self) -> None:
        t = self.run.t
        if self.reopened:
            assert t.current_step == workflow.REOPEN_STEP
            self.reopened = False
        else:
            assert t.current_step >= self.last_step
        self.last_step = t.current_step
        assert (t.status is TicketStatus.CLOSED) == (t.current_step == 10)
        assert (t.status is TicketStatus.CLOSED) == (t.closed_at is not None)

    @invariant()
    def only_the_steps_role_completes_it(self) -> None:
        for e in self.run.events:
            if e.kind is not EventKind.STEP_COMPLETED:
                continue
            assert e.step is not None
            allowed = {SOP_006.step(e.step).role.value, "admin"}
            if e.step == 1:
                allowed.add("system")
            assert e.role in allowed, (e.step, e.role)

    @invariant()
    def gated_step_completes_only_with_a_passed_verification(self) -> None:
        for e in self.run.events:
            if e.kind is EventKind.STEP_COMPLETED and e.step is not None and (
                    SOP_006.step(e.step).gate):
                assert e.data["verification"]["passed"] is True

    @invariant()
    def due_times_follow_the_calendar(self) -> None:
        t = self.run.t
        for record, spec in zip(t.steps, SOP_006.steps, strict=True):
            if record.started_at is None:
                assert record.due_at is None
                assert record.completed_at is None
            else:
                assert record.due_at == self.calendar.add(record.started_at, spec.sla)

    @invariant()
    def breaches_are_exact_and_never_unset(self) -> None:
        t = self.run.t
        for record in t.steps:
            if record.no in self.breached_seen:
                assert record.breached, f"step {record.no} lost its breach"
            if record.breached:
                self.breached_seen.add(record.no)
            if record.completed_at is not None:
                assert record.due_at is not None
                assert record.breached == (record.completed_at > record.due_at)
            elif record.started_at is not None and record.breached:
                assert record.due_at is not None
                assert self.now > record.due_at
        open_ = workflow.open_step(t)
        if open_ is not None and open_.due_at is not None:
            remaining = workflow.remaining_seconds(t, self.now, self.calendar)
            assert remaining is not None
            if remaining > 0:
                assert self.now < open_.due_at

    @invariant()
    def each_step_breaches_at_most_once_per_round(self) -> None:
        rounds: list[list[int]] = [[]]
        for e in self.run.events:
            if e.kind is EventKind.REOPENED:
                rounds.append([])
            elif e.kind is EventKind.STEP_BREACHED and e.step is not None:
                rounds[-1].append(e.step)
        for steps in rounds:
            assert len(steps) == len(set(steps)), steps

    def teardown(self) -> None:
        t: Ticket | None = self.run.ticket
        if t is not None:
            assert t.seq == len(self.run.events)


class TestWorkflowMachine(WorkflowMachine.TestCase):  # type: ignore[misc,valid-type]
    """The workflow keeps its invariants under random commands, facts and time."""

    settings = hsettings(max_examples=150, stateful_step_count=60, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])
