"""The ticket store fails for 60 s while devices fail and recover, and the agent is SIGKILLed
and restarted in that window (issue 14, finding 9): afterwards every failure has exactly one
ticket, every restoration is recorded, and the audit trail has no gap. Once with PostgreSQL
stopped (its own server inside the lab namespace, where the agent runs), once with SQLite.

The SQLite store is made read-only with `chattr +i` on the database file and its WAL (root
ignores file modes; ext4 refuses writes to an immutable file even through descriptors opened
before, with EPERM). The -shm file, which SQLite maps into memory, is left alone: a write
fault on a mapped immutable page would be SIGBUS, not an error the store can report.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, TomlValue, lab_devices
from lab.lab import Lab
from tests.conftest import Figure
from tests.integration.test_crash_safety import check_consistent, snapshot
from tests.lab_postgres import LabPostgres
from ticketing.models import EventKind, Ticket, TicketEvent

FAILING, RECOVERING = 50, 20
OUTAGE_SECONDS = 60.0


@contextlib.contextmanager
def read_only(*files: Path) -> Iterator[None]:
    """The files immutable (chattr +i) for the block; restored even when the test fails."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.fail("chattr not installed (e2fsprogs)")
    present = [f for f in files if f.exists()]
    subprocess.run([chattr, "+i", *map(str, present)], check=True)
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", *map(str, present)], check=True)


def pending(agent: AgentProcess) -> float:
    return sum(agent.metrics().get("pantau_observations_pending", {}).values())


Read = Callable[[], tuple[list[Ticket], dict[str, list[TicketEvent]]]]


def scenario(lab: Lab, agent: AgentProcess, devices: Sequence[LabDevice], read: Read,
             outage: Callable[[], contextlib.AbstractContextManager[None]], *, joins: bool
             ) -> str:
    """Devices `RECOVERING` fail and get their tickets; then, with the store away for 60 s,
    `FAILING` others fail and the first recover, the agent is SIGKILLed once the journal
    holds all 70 changes, and restarted in the outage. Returns the figure."""
    failing, recovering = devices[:FAILING], devices[FAILING:]
    agent.start()
    lab.blackhole(*(d.address for d in recovering))
    agent.wait(lambda: {t.device for t in read()[0]} == {d.name for d in recovering}, 30)

    with outage():
        began = time.monotonic()
        lab.blackhole(*(d.address for d in failing))
        lab.restore(*(d.address for d in recovering))
        # the agent saw all 70 changes; the store took none of them
        agent.wait(lambda: pending(agent) >= FAILING + RECOVERING, 30)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGKILL)  # by PID: the agent we started
        assert agent.proc.wait(timeout=10) == -signal.SIGKILL
        agent.start()  # with the store still away: monitoring starts anyway
        health = agent.get("/healthz")
        assert health.status_code == 200
        # a read-only SQLite file opens (its schema is current: nothing to write) and then
        # refuses every write; a stopped PostgreSQL cannot even be opened
        assert health.text.startswith("ok\nstore: joining" if joins else "ok\nstore: ready"
                                      ), health.text
        assert "/" not in health.text.removeprefix("ok\n")  # no path, no URL
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - began)))
        outage_s = time.monotonic() - began

    def settled() -> bool:
        tickets, events = read()
        by_device = {d.name: [t for t in tickets if t.device == d.name] for d in devices}
        return (all(len(by_device[d.name]) == 1 for d in devices)
                and all(EventKind.RESTORATION_OBSERVED in
                        [e.kind for e in events[by_device[d.name][0].id]] for d in recovering)
                and pending(agent) == 0)

    waited = time.monotonic()
    agent.wait(settled, 90)
    caught_up = time.monotonic() - waited
    tickets, events = read()
    check_consistent(tickets, events)  # seq 1..n, fold == row: no gap, nothing doubled
    for d in failing:
        [t] = [t for t in tickets if t.device == d.name]
        assert t.status.value == "open", d.name
        assert not t.restored, d.name
    for d in recovering:
        [t] = [t for t in tickets if t.device == d.name]
        kinds = [e.kind for e in events[t.id]]
        assert kinds.count(EventKind.RESTORATION_OBSERVED) == 1, (d.name, kinds)
    assert sum(agent.metrics().get("pantau_observations_rejected_total", {}).values()) == 0
    return (f"store away {outage_s:.0f} s, 1 SIGKILL + restart inside: {len(tickets)} tickets "
            f"({FAILING} failed, {RECOVERING} restored), caught up {caught_up:.1f} s after, "
            f"0 lost, 0 doubled")


SECTIONS: dict[str, dict[str, TomlValue]] = {
    "polling": {"interval_seconds": 1, "timeout_seconds": 0.5, "down_after": 2,
                "up_after": 2, "retry_interval_seconds": 0.5},
    "icmp": {"count": 2},
    "sla": {"calendar": "calendar"},
    "tickets": {"sla_sweep_seconds": 1},
}


@pytest.mark.lab
@pytest.mark.xdist_group("store-outage-sqlite")
class TestSqliteReadOnly:
    """The SQLite file read-only for 60 s, one SIGKILL and a restart inside that window."""

    @pytest.mark.timeout(300)
    def test_nothing_is_lost(self, lab: Lab, tmp_path: Path, figure: Figure) -> None:
        devices = lab_devices(lab.address, FAILING + RECOVERING, children=0)
        agent = AgentProcess(lab, tmp_path, devices, SECTIONS)
        db = tmp_path / "pantau.db"
        try:
            figure("SQLite read-only: " + scenario(
                lab, agent, devices, lambda: snapshot(db),
                lambda: read_only(db, db.with_name("pantau.db-wal")), joins=False))
        finally:
            agent.stop(timeout=15)


@pytest.mark.lab
@pytest.mark.xdist_group("store-outage-postgres")
class TestPostgresStopped:
    """PostgreSQL stopped for 60 s, one SIGKILL and a restart inside that window."""

    @pytest.mark.timeout(300)
    def test_nothing_is_lost(self, lab: Lab, tmp_path: Path, figure: Figure) -> None:
        server = LabPostgres(lab)
        devices = lab_devices(lab.address, FAILING + RECOVERING, children=0)
        agent = AgentProcess(lab, tmp_path, devices, {**SECTIONS, "agent": {
            "database": server.url, "journal": str(tmp_path / "journal.db")}})
        try:
            server.start()
            figure("PostgreSQL stopped: " + scenario(lab, agent, devices, server.read,
                                                     server.stopped, joins=True))
        finally:
            agent.stop(timeout=15)
            server.close()
