"""The ticket store's tables as SQLAlchemy Core metadata, the same on SQLite and PostgreSQL.

`migrations/versions/*` create exactly this (a test compares them); change both together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

#: Which rows the one-open-ticket-per-key rule covers (manual tickets have an empty key).
OPEN_WITH_KEY = "status = 'open' AND dedup_key <> ''"


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC and read back aware in UTC.

    SQLite has no time zones (SQLAlchemy would drop the offset and read naive values back);
    PostgreSQL's timestamptz reads back in the session's zone. Naive values are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (times must be aware)")
        value = value.astimezone(UTC)
        # SQLite stores text: drop the offset so every row sorts as the same UTC format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON on SQLite (text), jsonb on PostgreSQL.
JsonType = JSON().with_variant(JSONB(), "postgresql")


#: The schema (a declaration, not state): every constraint and index is named explicitly so
#: migrations can refer to the same names on both databases. Free text is TEXT, so no
#: length limit applies on PostgreSQL that SQLite would not enforce.
metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(40), nullable=False),  # "SOP006-2026-000001"
    Column("year", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("device", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("fault", String(32), nullable=False),
    Column("item", Text, nullable=False, server_default=""),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("current_step", Integer, nullable=False),
    Column("flapping", Boolean, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("dedup_key", Text, nullable=False, server_default=""),
    Column("sop_version", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("body", JsonType, nullable=False),  # the whole materialized Ticket
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("id", name="pk_tickets"),
    UniqueConstraint("year", "number", name="uq_tickets_year_number"),
    CheckConstraint("status IN ('open', 'closed')", name="ck_tickets_status"),
    CheckConstraint("seq >= 1", name="ck_tickets_seq"),
    # The database, not Python, keeps one open ticket per device and fault.
    Index(
        "uq_tickets_open_dedup",
        "dedup_key",
        unique=True,
        sqlite_where=text(OPEN_WITH_KEY),
        postgresql_where=text(OPEN_WITH_KEY),
    ),
    # paged lists (keyset on time, then id): all, by status, by agency (revision 0002)
    Index("ix_tickets_opened_at_id", "opened_at", "id"),
    Index("ix_tickets_status_opened_at_id", "status", "opened_at", "id"),
    Index("ix_tickets_status_closed_at_id", "status", "closed_at", "id"),
    Index("ix_tickets_owner_opened_at_id", "owner", "opened_at", "id"),
    Index("ix_tickets_owner_status_opened_at_id", "owner", "status", "opened_at", "id"),
    Index("ix_tickets_owner_status_closed_at_id", "owner", "status", "closed_at", "id"),
    Index("ix_tickets_dedup_key_closed_at", "dedup_key", "closed_at"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column(
        "ticket_id",
        String(40),
        ForeignKey("tickets.id", ondelete="RESTRICT", name="fk_ticket_events_ticket_id"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("step", Integer, nullable=True),
    Column("data", JsonType, nullable=False),
    # the cluster member that wrote it ("" for a single agent or the CLI; revision 0004)
    Column("writer", String(64), nullable=False, server_default=""),
    PrimaryKeyConstraint("ticket_id", "seq", name="pk_ticket_events"),
    CheckConstraint("seq >= 1", name="ck_ticket_events_seq"),
)

#: Messages to people (issue 12), each written in the same transaction as the ticket event
#: that causes it; `key` (event × recipient × channel) is unique, so a retried event queues
#: nothing twice. The delivery loop reads the oldest waiting one per (channel, address).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, nullable=False, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("channel", String(80), nullable=False),
    Column("address", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("ticket_id", String(40), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=True),
    Column("document", JsonType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("tries", Integer, nullable=False),
    Column("next_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("id", name="pk_outbox"),
    UniqueConstraint("key", name="uq_outbox_key"),
    CheckConstraint("status IN ('waiting', 'sent', 'failed')", name="ck_outbox_status"),
    CheckConstraint("tries >= 0", name="ck_outbox_tries"),
    # due(): the oldest waiting message of each (channel, address); listings by status
    Index("ix_outbox_status_channel_address_id", "status", "channel", "address", "id"),
    Index("ix_outbox_status_id", "status", "id"),
)

#: Several agents on one database (issue 15, revision 0004). A member is live while
#: `lease_until` (set from the database's clock) is in the future; `epoch` grows each time a
#: member takes a lease it had lost, and ticket writes carrying an older epoch are refused.
cluster_members = Table(
    "cluster_members",
    metadata,
    Column("node", String(64), nullable=False),
    Column("address", Text, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),
    Column("inventory_hash", String(64), nullable=False),
    Column("epoch", Integer, nullable=False),
    PrimaryKeyConstraint("node", name="pk_cluster_members"),
    CheckConstraint("epoch >= 1", name="ck_cluster_members_epoch"),
)

#: Singleton duties (the leader: SLA sweep, notification delivery, reports), one row each.
cluster_leases = Table(
    "cluster_leases",
    metadata,
    Column("duty", String(32), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("duty", name="pk_cluster_leases"),
    CheckConstraint("epoch >= 1", name="ck_cluster_leases_epoch"),
)

#: The state history (issue 16, revision 0005): each agent run, with the time it was last
#: known alive, and every hard state change (and maintenance window edge) it saw, keyed by
#: device, so cluster members write their own devices' rows side by side.
monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", String(40), nullable=False),
    Column("node", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_alive", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("id", name="pk_monitor_runs"),
    Index("ix_monitor_runs_started_at", "started_at"),
)

state_changes = Table(
    "state_changes",
    metadata,
    Column("id", Integer, nullable=False, autoincrement=True),
    Column(
        "run_id",
        String(40),
        ForeignKey("monitor_runs.id", ondelete="RESTRICT", name="fk_state_changes_run_id"),
        nullable=False,
    ),
    Column("device", Text, nullable=False),
    Column("check", String(32), nullable=False),
    Column("item", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("id", name="pk_state_changes"),
    # a period's rows; the last row of each subject and run before a period
    Index("ix_state_changes_at", "at"),
    Index("ix_state_changes_run_device", "run_id", "device", "check", "item", "at"),
)
