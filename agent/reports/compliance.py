"""SLA compliance of a period (pure): per SOP step and role, steps done within their due time
against breached, the median and p90 of their durations, and the tickets opened, closed,
still open and reopened; overall and per agency.

A step counts in the period where it was completed (late when completed after its due time,
or marked breached while open), or, still open at the period's end, where it went past due
(so a step late for months is counted once). Durations run from the step's start to its
completion; p90 is the nearest rank (the smallest duration with 90 % at or below it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime

from agent.reports.model import Compliance, Period, StepCompliance, TicketCounts
from ticketing.models import StepRecord, Ticket
from ticketing.sop import Sop


def _inside(at: datetime | None, period: Period) -> bool:
    return at is not None and period.start <= at < period.end


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _late(r: StepRecord) -> bool:
    assert r.completed_at is not None
    return r.breached or (r.due_at is not None and r.completed_at > r.due_at)


def _steps(tickets: Sequence[Ticket], sop: Sop, period: Period) -> tuple[StepCompliance, ...]:
    out = []
    for spec in sop.steps:
        within = breached = 0
        took: list[float] = []
        for t in tickets:
            r = t.step_record(spec.no)
            if r is None:
                continue
            if _inside(r.completed_at, period):
                if _late(r):
                    breached += 1
                else:
                    within += 1
                if r.started_at is not None and r.completed_at is not None:
                    took.append((r.completed_at - r.started_at).total_seconds())
            elif (r.started_at is not None and r.started_at < period.end
                  and (r.completed_at is None or r.completed_at >= period.end)
                  and _inside(r.due_at, period)):
                breached += 1  # still open at the end, and went past due in the period
        out.append(StepCompliance(
            no=spec.no, role=spec.role.value, within_sla=within, breached=breached,
            median_seconds=statistics.median(took) if took else None, p90_seconds=p90(took)))
    return tuple(out)


def _counts(tickets: Sequence[Ticket], reopened_at: Iterable[datetime],
            period: Period) -> TicketCounts:
    return TicketCounts(
        opened=sum(1 for t in tickets if _inside(t.opened_at, period)),
        closed=sum(1 for t in tickets if _inside(t.closed_at, period)),
        still_open=sum(1 for t in tickets if t.opened_at < period.end
                       and (t.closed_at is None or t.closed_at >= period.end)),
        reopened=sum(1 for at in reopened_at if _inside(at, period)),
    )


def compliance(tickets: Sequence[Ticket], reopenings: Sequence[tuple[str, datetime]],
               sop: Sop, period: Period, owners: Iterable[str] = ()) -> tuple[Compliance, ...]:
    """Overall first, then each agency by name (those of `owners` and of the tickets).
    `tickets`: those open at some time in the period; `reopenings`: (owner, time) of each
    reopening."""
    result = [Compliance(owner=None, tickets=_counts(tickets, (a for _, a in reopenings),
                                                      period),
                         steps=_steps(tickets, sop, period))]
    for owner in sorted({*owners, *(t.owner for t in tickets)}):
        mine = [t for t in tickets if t.owner == owner]
        result.append(Compliance(
            owner=owner,
            tickets=_counts(mine, (a for o, a in reopenings if o == owner), period),
            steps=_steps(mine, sop, period)))
    return tuple(result)
