"""Every role tried on every step: only the step's role (or admin) is accepted.

Step 1 (Surat Permohonan) is completed at filing time, so it is covered by filing: a manual
request is filed by perangkat_daerah (or admin), an automatic one only by the agent ("system").
Steps 2..9 are covered by completing them on a ticket standing at that step.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from agent.core.errors import InvalidTransition
from tests.workflow_support import (
    ALL_ROLES,
    NAMES,
    T0,
    TICKET_ID,
    Run,
    actor,
    auto_draft,
    manual_draft,
    valid_output,
    verification,
)
from ticketing import gates, workflow
from ticketing.models import EventKind, TicketStatus
from ticketing.sop import SOP_006

# Written out by hand from SOP-006 (not derived from ticketing/sop.py), so a changed role in
# the SOP data shows up here.
MAY_COMPLETE = {
    2: {"kepala_dinas", "admin"},
    3: {"kabid", "admin"},
    4: {"kasi", "admin"},
    5: {"teknisi", "admin"},
    6: {"teknisi", "admin"},
    7: {"teknisi", "admin"},
    8: {"kasi", "admin"},
    9: {"kabid", "admin"},
}
MAY_FILE_MANUAL = {"perangkat_daerah", "admin"}
MAY_FILE_AUTO = {"system"}
NOW = T0 + timedelta(minutes=11)  # a minute after the steps before were done


def fresh_facts() -> gates.Facts:
    """Facts that satisfy every gate: a passed verification that finished a minute ago."""
    return gates.Facts(now=NOW, verification=verification(
        True, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)))


class TestCompletionMatrix:
    """On a ticket at step N, only N's role and admin complete it."""

    def test_roles_cover_the_sop_and_the_agent(self) -> None:
        assert sorted(ALL_ROLES) == sorted(
            ["perangkat_daerah", "kepala_dinas", "kabid", "kasi", "teknisi", "admin",
             "system"])

    @pytest.mark.parametrize("role", ALL_ROLES)
    @pytest.mark.parametrize("step", sorted(MAY_COMPLETE))
    def test_role_on_step(self, step: int, role: str) -> None:
        run = Run()
        run.open(auto_draft())
        run.advance_to(step, T0 + timedelta(minutes=10))
        spec = SOP_006.step(step)
        who = actor(role)
        if role in MAY_COMPLETE[step]:
            events = workflow.complete_step(run.t, step, who, valid_output(spec), SOP_006,
                                            fresh_facts())
            run.add(events)
            assert (events[0].kind, events[0].step, events[0].actor, events[0].role) == (
                EventKind.STEP_COMPLETED, step, NAMES[role], role)
            assert run.t.current_step == step + 1
            assert run.t.steps[step - 1].completed_by == NAMES[role]
            expected_status = TicketStatus.CLOSED if step == 9 else TicketStatus.OPEN
            assert run.t.status is expected_status
        else:
            message = f"step {step} is for {spec.role.value}; {NAMES[role]} is {role}"
            with pytest.raises(InvalidTransition, match=f"^{re.escape(message)}$"):
                workflow.complete_step(run.t, step, who, valid_output(spec), SOP_006,
                                       fresh_facts())
            assert spec.role.value in message

    def test_no_role_completes_a_step_that_is_not_open(self) -> None:
        for current in range(2, 10):
            run = Run()
            run.open(auto_draft())
            run.advance_to(current, T0 + timedelta(minutes=10))
            for step in range(1, 10):
                if step == current:
                    continue
                for role in ALL_ROLES:
                    message = f"step {step} is not open: the ticket is at step {current}"
                    with pytest.raises(InvalidTransition, match=f"^{re.escape(message)}$"):
                        workflow.complete_step(run.t, step, actor(role),
                                               valid_output(SOP_006.step(step)), SOP_006,
                                               fresh_facts())


class TestFilingMatrix:
    """Step 1 is completed by filing: the agency (or admin) by hand, the agent automatically."""

    @pytest.mark.parametrize("role", ALL_ROLES)
    def test_manual_filing(self, role: str) -> None:
        draft = manual_draft(role)
        if role in MAY_FILE_MANUAL:
            events = workflow.new_ticket_events(TICKET_ID, draft, SOP_006, T0)
            assert [(e.kind, e.step, e.actor, e.role) for e in events] == [
                (EventKind.OPENED, None, NAMES[role], role),
                (EventKind.STEP_COMPLETED, 1, NAMES[role], role)]
        else:
            message = f"step 1 is for perangkat_daerah; {NAMES[role]} is {role}"
            with pytest.raises(InvalidTransition, match=f"^{re.escape(message)}$"):
                workflow.new_ticket_events(TICKET_ID, draft, SOP_006, T0)

    @pytest.mark.parametrize("role", ALL_ROLES)
    def test_automatic_filing(self, role: str) -> None:
        draft = auto_draft(requested_by=NAMES[role], requested_role=role)
        if role in MAY_FILE_AUTO:
            events = workflow.new_ticket_events(TICKET_ID, draft, SOP_006, T0)
            assert events[1].role == "system"
        else:
            message = f"an automatic request is filed by the agent; {NAMES[role]} is {role}"
            with pytest.raises(InvalidTransition, match=f"^{re.escape(message)}$"):
                workflow.new_ticket_events(TICKET_ID, draft, SOP_006, T0)
