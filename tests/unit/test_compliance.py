"""SLA compliance per step and role from tickets' step records (agent/reports/compliance.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.reports.compliance import compliance, p90
from agent.reports.period import month_period
from ticketing.models import Fault, StepRecord, Ticket, TicketStatus, Trigger
from ticketing.sop import SOP_006

DEC = month_period("2026-12", "Asia/Jakarta", datetime(2027, 1, 5, tzinfo=UTC))
T = DEC.start + timedelta(days=3)
H = timedelta(hours=1)


def ticket(n: int, owner: str, steps: list[StepRecord], *, opened: datetime = T,
           closed: datetime | None = None) -> Ticket:
    return Ticket(id=f"SOP006-2026-{n:06d}", device=f"d{n}", owner=owner,
                  fault=Fault.DEVICE_DOWN, trigger=Trigger.AUTO,
                  status=TicketStatus.CLOSED if closed else TicketStatus.OPEN,
                  current_step=len(steps), sop_version=1, opened_at=opened,
                  steps=tuple(steps), closed_at=closed)


def done(no: int, start: datetime, took: timedelta, due: timedelta) -> StepRecord:
    return StepRecord(no=no, role=SOP_006.step(no).role.value, started_at=start,
                      due_at=start + due, completed_at=start + took)


def waiting(no: int, start: datetime, due: timedelta) -> StepRecord:
    return StepRecord(no=no, role=SOP_006.step(no).role.value, started_at=start,
                      due_at=start + due)


class TestCompliance:
    """Steps are counted within or breached where they belong, per agency and overall."""

    def test_within_late_and_open_past_due(self) -> None:
        a = ticket(1, "Dinas A", [done(1, T, H, 24 * H), done(2, T + H, 30 * H, 24 * H),
                                  waiting(3, T + 31 * H, 24 * H)])
        b = ticket(2, "Dinas B", [done(1, T, 2 * H, 24 * H), waiting(2, T + 2 * H, 24 * H)],
                   opened=DEC.start - 40 * 24 * H)
        overall, da, db = compliance([a, b], [], SOP_006, DEC)
        assert (overall.owner, da.owner, db.owner) == (None, "Dinas A", "Dinas B")
        s1, s2, s3 = overall.steps[:3]
        assert (s1.within_sla, s1.breached) == (2, 0)
        assert s1.role == "perangkat_daerah"
        assert (s2.within_sla, s2.breached) == (0, 2)  # late, and open past due
        assert (s3.within_sla, s3.breached) == (0, 1)
        assert s1.median_seconds == 1.5 * 3600
        assert s2.median_seconds == 30 * 3600
        assert overall.steps[3].median_seconds is None
        assert len(overall.steps) == 9
        assert (da.steps[1].breached, db.steps[1].breached) == (1, 1)

    def test_ticket_counts(self) -> None:
        opened_closed = ticket(1, "A", [], closed=T + H)
        from_before = ticket(2, "A", [], opened=DEC.start - 24 * H)
        closed_after = ticket(3, "B", [], closed=DEC.end + H)
        reopen = [("A", T), ("B", DEC.end + H)]
        overall, a, b = compliance([opened_closed, from_before, closed_after], reopen,
                                   SOP_006, DEC)
        assert overall.tickets.opened == 2
        assert overall.tickets.closed == 1
        assert overall.tickets.still_open == 2
        assert overall.tickets.reopened == 1
        assert (a.tickets.reopened, b.tickets.reopened) == (1, 0)

    def test_a_step_late_before_the_month_is_not_counted_again(self) -> None:
        old = ticket(1, "A", [waiting(1, DEC.start - 5 * 24 * H, 24 * H)],
                     opened=DEC.start - 5 * 24 * H)
        overall, _ = compliance([old], [], SOP_006, DEC)
        assert overall.steps[0].breached == 0

    def test_agencies_without_tickets_are_listed(self) -> None:
        result = compliance([], [], SOP_006, DEC, owners=["Dinas Z"])
        assert [c.owner for c in result] == [None, "Dinas Z"]
        assert result[1].tickets.opened == 0

    def test_p90_is_the_nearest_rank(self) -> None:
        assert p90([]) is None
        assert p90([5.0]) == 5.0
        assert p90([float(i) for i in range(1, 11)]) == 9.0
        assert p90([float(i) for i in range(1, 21)]) == 18.0
