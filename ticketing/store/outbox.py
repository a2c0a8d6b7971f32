"""The outbox's SQL, on a connection the caller's transaction owns: queuing envelopes (a key
already queued is skipped), the due messages (the oldest waiting one per channel and
address), marking outcomes, listings and the counts the metrics show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from agent.core.outbox import Delivery, Envelope, Message, OutboxStats, Queued
from ticketing.store.schema import outbox

_WAITING = Delivery.WAITING.value


def enqueue(conn: Connection, envelopes: Sequence[Envelope]) -> int:
    """Queue `envelopes`; one whose key is already queued (in any state) is skipped.
    Returns how many were queued."""
    if not envelopes:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(outbox).on_conflict_do_nothing(index_elements=["key"])
                 .returning(outbox.c.id))
    # One statement for the lot (SQLAlchemy's "insertmanyvalues"); a row comes back only
    # when it was inserted (not rowcount: psycopg says -1 for a batch).
    return len(conn.execute(statement, [_row(e) for e in envelopes]).all())


def due(conn: Connection, now: datetime, limit: int) -> list[Queued]:
    earlier = aliased(outbox)
    first_of_its_queue = ~exists().where(
        earlier.c.status == _WAITING,
        earlier.c.channel == outbox.c.channel,
        earlier.c.address == outbox.c.address,
        earlier.c.id < outbox.c.id,
        # one held until its time (working hours), never tried, blocks no one: a breach
        # queued at night goes out before the morning's routine messages
        or_(earlier.c.tries > 0, earlier.c.next_at <= now),
    )
    found = conn.execute(
        select(outbox)
        .where(outbox.c.status == _WAITING, outbox.c.next_at <= now, first_of_its_queue)
        .order_by(outbox.c.id).limit(limit)
    ).all()
    return [_queued(r) for r in found]


def mark(conn: Connection, message_id: int, *, status: Delivery, next_at: datetime | None,
         done_at: datetime | None, reason: str | None, add_try: bool) -> None:
    """Record an outcome of a waiting message (a message no longer waiting is left as is:
    an admin's retry or another agent got there first)."""
    values: dict[str, Any] = {"status": status.value, "done_at": done_at}
    if next_at is not None:
        values["next_at"] = next_at
    if reason is not None:
        values["last_error"] = reason
    if add_try:
        values["tries"] = outbox.c.tries + 1
    conn.execute(update(outbox).where(outbox.c.id == message_id, outbox.c.status == _WAITING)
                 .values(**values))


def requeue(conn: Connection, message_id: int, at: datetime) -> bool:
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == message_id, outbox.c.status == Delivery.FAILED.value)
        .values(status=_WAITING, tries=0, next_at=at, done_at=None))
    if result.rowcount:
        return True
    waiting = outbox.c.id == message_id, outbox.c.status == _WAITING
    conn.execute(update(outbox).where(*waiting, outbox.c.next_at > at).values(next_at=at))
    return conn.execute(select(outbox.c.id).where(*waiting)).first() is not None


def messages(conn: Connection, status: Delivery | None, limit: int) -> list[Queued]:
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status.value)
    return [_queued(r) for r in conn.execute(query).all()]


def stats(conn: Connection) -> OutboxStats:
    row = conn.execute(
        select(func.count(), func.min(outbox.c.created_at), func.min(outbox.c.not_before))
        .where(outbox.c.status == _WAITING)
    ).one()
    return OutboxStats(waiting=int(row[0]), oldest_waiting_at=row[1], oldest_due_at=row[2])


def _row(e: Envelope) -> dict[str, Any]:
    m = e.message
    return {
        "key": m.key, "channel": e.channel, "address": m.address, "recipient": e.recipient,
        "kind": e.kind, "ticket_id": e.ticket_id, "subject": m.subject, "text": m.text,
        "html": m.html, "document": dict(m.document), "status": _WAITING, "tries": 0,
        "next_at": max(e.not_before, e.created_at), "last_error": "",
        "created_at": e.created_at, "not_before": e.not_before, "done_at": None,
    }


def _queued(r: Any) -> Queued:
    message = Message(key=r.key, address=r.address, subject=r.subject, text=r.text,
                      html=r.html, document=dict(r.document))
    envelope = Envelope(channel=r.channel, recipient=r.recipient, kind=r.kind,
                        ticket_id=r.ticket_id, message=message, created_at=r.created_at,
                        not_before=r.not_before)
    return Queued(id=r.id, envelope=envelope, status=Delivery(r.status), tries=r.tries,
                  next_at=r.next_at, last_error=r.last_error, done_at=r.done_at)
