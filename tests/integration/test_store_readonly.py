"""A SQLite store opened while its file was read-only writes again once the file is writable
(issue 14, finding 9): the read-only connection is dropped, not kept in the pool forever.
The file is made read-only with `chattr +i` (root ignores file modes)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.core.errors import BackendUnavailable
from tests.fakes import FakeClock
from ticketing import workflow
from ticketing.calendar import CalendarTime
from ticketing.models import Fault, Ticket, TicketDraft, TicketEvent, Trigger
from ticketing.sop import SOP_006
from ticketing.store.sql import SqlBackend


def chattr(flag: str, *files: Path) -> None:
    tool = shutil.which("chattr")
    if tool is None or os.geteuid() != 0:
        message = "needs root and chattr (e2fsprogs)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    subprocess.run([tool, flag, *map(str, files)], check=True)


def draft(device: str) -> TicketDraft:
    return TicketDraft(device, "Dinas", Fault.DEVICE_DOWN, Trigger.AUTO,
                       datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


async def open_ticket(backend: SqlBackend, device: str) -> None:
    d = draft(device)

    def build(ticket_id: str) -> tuple[Sequence[TicketEvent], Ticket]:
        events = workflow.new_ticket_events(ticket_id, d, SOP_006, d.opened_at)
        return events, workflow.fold(events, SOP_006, CalendarTime())

    await backend.open(d, build)


async def test_writes_resume_once_the_file_is_writable(tmp_path: Path) -> None:
    db = tmp_path / "pantau.db"
    url = f"sqlite:///{db}"
    first = await SqlBackend.connect(url, clock=FakeClock())
    await open_ticket(first, "sw-1")
    await first.aclose()
    files = [f for f in (db, db.with_name("pantau.db-wal")) if f.exists()]
    chattr("+i", *files)
    try:
        backend = await SqlBackend.connect(url, clock=FakeClock())  # opens, read-only
        with pytest.raises(BackendUnavailable, match="readonly"):
            await open_ticket(backend, "sw-2")
    finally:
        chattr("-i", *files)
    try:
        await open_ticket(backend, "sw-2")
        assert sorted(t.device for t in await backend.list("open")) == ["sw-1", "sw-2"]
    finally:
        await backend.aclose()
