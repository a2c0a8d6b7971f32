"""Crash safety: the real agent is SIGKILLed at 20+ random moments while 100 lab devices fail
and recover; after each restart every failing device has exactly one open ticket, and no step
record or audit entry is lost or doubled."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.clock import SystemClock
from lab.agentproc import AgentProcess
from lab.inventory import lab_devices
from lab.lab import Lab
from tests.conftest import Figure
from ticketing import workflow
from ticketing.calendar import CalendarTime
from ticketing.models import EventKind, Ticket, TicketEvent
from ticketing.payloads import Evidence
from ticketing.sop import SOP_006
from ticketing.store.sql import SqlBackend

DEVICES = 100
KILLS = 22
SEED = 20261124


@pytest.fixture
def agent(lab: Lab, tmp_path: Path) -> Iterator[AgentProcess]:
    devices = lab_devices(lab.address, DEVICES, children=0)
    proc = AgentProcess(lab, tmp_path, devices, {
        "polling": {"interval_seconds": 1, "timeout_seconds": 0.5, "down_after": 2,
                    "up_after": 2, "retry_interval_seconds": 0.5},
        "icmp": {"count": 2},
        "sla": {"calendar": "calendar"},
        "tickets": {"sla_sweep_seconds": 1},
    })
    yield proc
    proc.stop()


def snapshot(db: Path) -> tuple[list[Ticket], dict[str, list[TicketEvent]]]:
    async def read() -> tuple[list[Ticket], dict[str, list[TicketEvent]]]:
        backend = await SqlBackend.connect(f"sqlite:///{db}", clock=SystemClock())
        try:
            tickets = list(await backend.list(None))
            events = {t.id: list(await backend.events(t.id)) for t in tickets}
            return tickets, events
        finally:
            await backend.aclose()

    return asyncio.run(read())


def check_consistent(tickets: list[Ticket], events: dict[str, list[TicketEvent]]) -> None:
    """Nothing lost (seq 1..n, fold == row) and nothing doubled (state-idempotent events)."""
    calendar = CalendarTime()
    for t in tickets:
        evs = events[t.id]
        assert [e.seq for e in evs] == list(range(1, len(evs) + 1)), t.id
        assert workflow.fold(evs, SOP_006, calendar) == t, t.id
        kinds = [e.kind for e in evs]
        assert kinds.count(EventKind.OPENED) == 1, t.id
        completed = [e.step for e in evs if e.kind is EventKind.STEP_COMPLETED]
        assert len(completed) == len(set(completed)), (t.id, completed)
        # failure and restoration alternate: a restart never repeats what the ticket knows
        flips = [k for k in kinds if k in (EventKind.FAILURE_OBSERVED,
                                            EventKind.RESTORATION_OBSERVED)]
        assert all(a is not b for a, b in itertools.pairwise(flips)), (t.id, kinds)
        if flips:
            assert flips[0] is EventKind.RESTORATION_OBSERVED, (t.id, kinds)


def failing_with_one_ticket(db: Path, failing: set[str]) -> bool:
    tickets, _ = snapshot(db)
    open_ = [t.device for t in tickets if t.status.value == "open"]
    return all(open_.count(d) == 1 for d in failing) and len(open_) == len(set(open_))


@pytest.mark.lab
class TestKillNine:
    """SIGKILL at random moments never loses, doubles or duplicates tickets and events."""

    def test_kill_nine(self, lab: Lab, agent: AgentProcess, figure: Figure) -> None:
        rng = random.Random(SEED)
        names = [d.name for d in lab_devices(lab.address, DEVICES, children=0)]
        address = {n: lab.address(i) for i, n in enumerate(names)}
        db = agent.workdir / "pantau.db"
        failing: set[str] = set()
        agent.start()
        killed = []  # each kill's exit status: the agent was running and died of SIGKILL
        for kill in range(KILLS):
            # change the world: some devices fail, some recover
            for name in rng.sample(names, 12):
                if name in failing:
                    lab.restore(address[name])
                    failing.discard(name)
                else:
                    lab.blackhole(address[name])
                    failing.add(name)
            time.sleep(rng.uniform(0.2, 4.0))
            assert agent.proc is not None
            agent.proc.send_signal(signal.SIGKILL)  # by PID: the agent we started
            killed.append(agent.proc.wait(timeout=10))
            agent.start()
            deadline = time.monotonic() + 30
            while not failing_with_one_ticket(db, failing):
                assert time.monotonic() < deadline, (
                    f"after kill {kill + 1}: failing devices without exactly one open "
                    f"ticket\n{agent.logs()}")
                time.sleep(0.5)
        tickets, events = snapshot(db)
        check_consistent(tickets, events)
        assert killed == [-signal.SIGKILL] * KILLS, "an agent had exited before its kill"
        assert len(tickets) >= len(failing) > 0
        assert {t.device for t in tickets if t.status.value == "open"} >= failing
        figure(f"{KILLS} SIGKILLs, {len(tickets)} tickets, "
              f"{sum(len(e) for e in events.values())} events, all consistent")


class TestConsistencyCheck:
    """The checker above is pure: it runs everywhere, lab or not."""

    def test_checker_catches_a_doubled_event(self) -> None:
        """The consistency check itself fails on a doubled restoration (it can fail)."""
        from datetime import UTC, datetime

        from ticketing.models import Fault, TicketDraft, Trigger

        at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
        draft = TicketDraft("sw", "Dinas", Fault.DEVICE_DOWN, Trigger.AUTO, at)
        evs = workflow.new_ticket_events("SOP006-2026-000001", draft, SOP_006, at)
        t = workflow.fold(evs, SOP_006, CalendarTime())
        more = list(workflow.observe_restoration(t, at, Evidence()))
        t2 = workflow.fold([*evs, *more], SOP_006, CalendarTime())
        doubled = [*evs, *more, TicketEvent(t.id, t2.seq + 1, EventKind.RESTORATION_OBSERVED,
                                            at, "pantau", "system")]
        bad: Any = workflow.fold(doubled, SOP_006, CalendarTime())
        with pytest.raises(AssertionError):
            check_consistent([bad], {t.id: doubled})
