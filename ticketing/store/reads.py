"""The ticket store's reads, on a connection the caller's transaction owns: one ticket (by
id, the open one of a key, the newest closed one of a key), lists, keyset pages and their
summaries, a ticket's audit trail, and the open tickets' versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, or_, select

from agent.core.errors import BackendRejected, TicketNotFound
from ticketing.backend import SummaryPage, TicketPage, TicketQuery, TicketSummary
from ticketing.models import EventKind, Fault, Ticket, TicketEvent, TicketStatus
from ticketing.store import rows
from ticketing.store.schema import ticket_events, tickets

#: The columns a list row shows (TicketSummary), besides the id.
SUMMARY_COLUMNS = (tickets.c.device, tickets.c.owner, tickets.c.fault, tickets.c.item,
                   tickets.c.status, tickets.c.current_step, tickets.c.flapping,
                   tickets.c.opened_at, tickets.c.closed_at)


def by_id(conn: Connection, ticket_id: str) -> Ticket | None:
    return _one(conn, tickets.c.id == ticket_id)


def open_by_key(conn: Connection, dedup_key: str) -> Ticket | None:
    return _one(conn, tickets.c.dedup_key == dedup_key,
                tickets.c.status == TicketStatus.OPEN.value)


def recent_closed(conn: Connection, dedup_key: str) -> Ticket | None:
    """The key's ticket closed last."""
    return _one(conn, tickets.c.dedup_key == dedup_key,
                tickets.c.status == TicketStatus.CLOSED.value, newest=tickets.c.closed_at)


def _one(conn: Connection, *where: Any, newest: Any = None) -> Ticket | None:
    query = select(tickets.c.id, tickets.c.body).where(*where)
    if newest is not None:
        query = query.order_by(newest.desc(), tickets.c.id.desc())
    row = conn.execute(query.limit(1)).first()
    return None if row is None else rows.decode(row.id, row.body)


def events(conn: Connection, ticket_id: str) -> Sequence[TicketEvent]:
    """A ticket's events in order; TicketNotFound when there is no such ticket."""
    found = conn.execute(
        select(ticket_events).where(ticket_events.c.ticket_id == ticket_id)
        .order_by(ticket_events.c.seq)
    ).all()
    if not found and conn.execute(
            select(tickets.c.id).where(tickets.c.id == ticket_id)).first() is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return tuple(
        TicketEvent(ticket_id=r.ticket_id, seq=r.seq, kind=EventKind(r.kind),
                    at=r.at, actor=r.actor, role=r.role, step=r.step, data=dict(r.data))
        for r in found
    )


def listed(conn: Connection, status: str | None) -> Sequence[Ticket]:
    """Every ticket (of `status`), newest first."""
    query = select(tickets.c.id, tickets.c.body).order_by(
        tickets.c.opened_at.desc(), tickets.c.id.desc())
    if status is not None:
        query = query.where(tickets.c.status == status)
    found = conn.execute(query).all()
    return tuple(rows.decode(r.id, r.body) for r in found)


def open_versions(conn: Connection) -> Mapping[str, int]:
    """The seq of each open ticket, by id (without the bodies)."""
    query = select(tickets.c.id, tickets.c.seq).where(
        tickets.c.status == TicketStatus.OPEN.value)
    return {r.id: r.seq for r in conn.execute(query)}


def page(conn: Connection, q: TicketQuery) -> TicketPage:
    found, after = _page_rows(conn, q, tickets.c.body)
    return TicketPage(tuple(rows.decode(r.id, r.body) for r in found), after)


def summaries(conn: Connection, q: TicketQuery) -> SummaryPage:
    found, after = _page_rows(conn, q, *SUMMARY_COLUMNS)
    return SummaryPage(tuple(
        TicketSummary(r.id, r.device, r.owner, Fault(r.fault), r.item,
                      TicketStatus(r.status), r.current_step, r.flapping, r.opened_at,
                      r.closed_at) for r in found), after)


def _page_rows(conn: Connection, q: TicketQuery, *columns: Any
               ) -> tuple[Sequence[Any], str | None]:
    """Keyset paging over the (status|owner, time, id) indexes: the cursor's row by its
    key, then `limit + 1` rows (the extra one says whether a next page exists)."""
    at = tickets.c.closed_at if q.by_closed else tickets.c.opened_at
    where: list[Any] = []
    if q.status is not None:
        where.append(tickets.c.status == q.status)
    if q.owner is not None:
        where.append(tickets.c.owner == q.owner)
    if q.after is not None:
        anchor = conn.execute(select(at).where(tickets.c.id == q.after)).first()
        if anchor is None or anchor[0] is None:
            raise BackendRejected(f"no ticket {q.after} to list after")
        # a range on the index's time column, then the tie on the id
        where += [at <= anchor[0], or_(at < anchor[0], tickets.c.id < q.after)]
    found = conn.execute(
        select(tickets.c.id, *columns).where(*where)
        .order_by(at.desc(), tickets.c.id.desc()).limit(q.limit + 1)
    ).all()
    shown = found[:q.limit]
    return shown, shown[-1].id if len(found) > q.limit else None
