"""SOP-006 end to end in the lab: the real agent files the request on its own, officials and
technicians complete their steps through `pantau tickets`, step 7 waits for verified
restoration, steps 8-9 close it; a core outage is one ticket. (Flapping: its own file.)"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from lab.agentproc import AgentProcess
from lab.inventory import CORE, LabDevice, lab_devices
from lab.lab import Lab
from ticketing.calendar import WorkingCalendar
from ticketing.sop import SOP_006

pytestmark = pytest.mark.lab

OWNER = "Dinas Kesehatan"
USERS = {  # user -> role; tokens from the environment
    "dinkes": "perangkat_daerah", "kadis": "kepala_dinas", "kabid": "kabid", "kasi": "kasi",
    "teknisi": "teknisi", "admin": "admin",
}


def inventory(lab: Lab) -> list[LabDevice]:
    devices = lab_devices(lab.address, 22, children=20)  # core, 20 access points, sw-00021
    return [*devices,
            LabDevice("sw-e2e", lab.address(700), OWNER),
            LabDevice("sw-flap", lab.address(701), OWNER)]


@pytest.fixture(scope="module")
def agent(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    sections: dict[str, Any] = {
        "polling": {"interval_seconds": 2, "timeout_seconds": 1, "down_after": 3,
                    "up_after": 2},
        "tickets": {"verification_probes": 3, "verification_hold_seconds": 2,
                    "sla_sweep_seconds": 1},
        "sla": {"calendar": "working", "timezone": "Asia/Jakarta"},
    }
    proc = AgentProcess(lab, tmp_path_factory.mktemp("tickets"), inventory(lab), sections,
                        env={f"TOKEN_{u.upper()}": f"token-{u}-0123456789abcdef0123456789"
                             for u in USERS})
    users = "\n".join(
        f'[[users]]\nname = "{u}"\nrole = "{r}"\n'
        + (f'owner = "{OWNER}"\n' if r == "perangkat_daerah" else "")
        + f'token = {{ env = "TOKEN_{u.upper()}" }}\n' for u, r in USERS.items())
    proc.config.write_text(proc.config.read_text() + "\n" + users)
    proc.start()
    try:
        wait(lambda: all(s == "up" for s in proc.states().values()), 30, proc)
        yield proc
    finally:
        assert proc.stop() < 5.0


def wait(cond: Callable[[], Any], timeout: float, agent: AgentProcess) -> Any:
    return agent.wait(cond, timeout)


def cli(agent: AgentProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return agent.tickets(*args)


def tickets(agent: AgentProcess, status: str = "open") -> list[dict[str, Any]]:
    out = cli(agent, "list", "--status", status, "--json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout)["tickets"])


def ticket_of(agent: AgentProcess, device: str, status: str = "open") -> dict[str, Any] | None:
    found = [t for t in tickets(agent, status) if t["device"] == device]
    assert len(found) <= 1, found
    return found[0] if found else None


def show(agent: AgentProcess, ticket_id: str) -> dict[str, Any]:
    out = cli(agent, "show", ticket_id, "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def open_in_step(agent: AgentProcess, step: int) -> float:
    fam = agent.metrics().get("pantau_tickets_open", {})
    return fam.get(frozenset({("step", str(step)), ("owner", OWNER)}), 0.0)


def waiting_in(agent: AgentProcess, step: int) -> bool:
    return open_in_step(agent, step) == 1.0


OUTPUTS = {
    2: ["--set", "note=Mohon ditindaklanjuti", "--set", "to=kabid"],
    3: ["--set", "note=Segera cek", "--set", "to=kasi"],
    4: ["--set", "note=Tugaskan teknisi", "--set", "to=teknisi"],
    5: ["--set", "findings=Switch mati", "--set", "devices=sw-e2e"],
    6: ["--set", "findings=Stok ada di gudang", "--set", "stock_available=yes"],
    7: ["--set", "action=Switch diganti dan dinyalakan"],
    8: ["--set", "action=Dilaporkan ke Kabid"],
    9: ["--set", "action=Dilaporkan ke Kepala Dinas"],
}
ACTOR = {2: "kadis", 3: "kabid", 4: "kasi", 5: "teknisi", 6: "teknisi", 7: "teknisi",
         8: "kasi", 9: "kabid"}


class TestEndToEnd:
    """Blackholed -> ticket with step 1 done and step 2 due a working day later -> steps 2-6
    by their roles -> step 7 refused while down, accepted after restoration -> 8-9 close."""

    def test_sop_flow(self, lab: Lab, agent: AgentProcess) -> None:
        address = lab.address(700)
        lab.blackhole(address)
        ticket = wait(lambda: ticket_of(agent, "sw-e2e"), 30, agent)
        assert (ticket["fault"], ticket["trigger"], ticket["current_step"]) == (
            "device_down", "auto", 2)
        step1, step2 = ticket["steps"][0], ticket["steps"][1]
        assert step1["completed_by"] == "pantau"
        assert step1["output"]["subject"]
        started = datetime.fromisoformat(step2["started_at"])
        expected = WorkingCalendar(timezone="Asia/Jakarta").add(started, SOP_006.step(2).sla)
        assert datetime.fromisoformat(step2["due_at"]) == expected
        assert step2["due_at"].endswith("+07:00")  # shown in Jakarta time
        full = show(agent, ticket["id"])
        assert full["evidence"]["fault"] == "device_down"
        assert full["evidence"]["last"]["icmp"]["samples"]["icmp_packet_loss_ratio"] == 1.0
        wait(lambda: open_in_step(agent, 2) == 1.0, 10, agent)

        for step in range(2, 7):
            wrong = "teknisi" if ACTOR[step] != "teknisi" else "kabid"
            refused = cli(agent, "complete", ticket["id"], str(step), "--as", wrong,
                          *OUTPUTS[step])
            assert refused.returncode == 1, refused.stderr
            assert "refused" in refused.stderr
            done = cli(agent, "complete", ticket["id"], str(step), "--as", ACTOR[step],
                       *OUTPUTS[step])
            assert done.returncode == 0, done.stderr
            wait(functools.partial(waiting_in, agent, step + 1), 10, agent)

        refused = cli(agent, "complete", ticket["id"], "7", "--as", "teknisi", *OUTPUTS[7])
        assert refused.returncode == 1, refused.stdout
        assert "connectivity not verified" in refused.stderr
        assert address in refused.stderr or "sw-e2e" in refused.stderr

        lab.restore(address)
        wait(lambda: agent.states()["sw-e2e"] == "up", 20, agent)
        done = cli(agent, "complete", ticket["id"], "7", "--as", "teknisi", *OUTPUTS[7])
        assert done.returncode == 0, done.stderr
        report = show(agent, ticket["id"])["steps"][6]["output"]
        assert report["verification"]["passed"] is True
        probes = report["verification"]["probes"]
        assert {p["round"] for p in probes} == {1, 2, 3}
        assert all(p["healthy"] for p in probes)

        for step in (8, 9):
            done = cli(agent, "complete", ticket["id"], str(step), "--as", ACTOR[step],
                       *OUTPUTS[step])
            assert done.returncode == 0, done.stderr
        final = show(agent, ticket["id"])
        assert final["status"] == "closed"
        kinds = [e["kind"] for e in final["audit"]]
        assert kinds.count("step_completed") == 9
        assert "restoration_observed" in kinds
        assert kinds[-1] == "closed"
        m = wait(lambda: (mm := agent.metrics()) and mm.get(
            "pantau_ticket_step_duration_seconds_count", {}).get(
            frozenset({("step", "9")})) and mm, 10, agent)
        assert m["pantau_tickets_opened_total"][frozenset(
            {("trigger", "auto"), ("fault", "device_down")})] >= 1
        assert m["pantau_ticket_restoration_seconds_count"][frozenset()] >= 1
        assert open_in_step(agent, 9) == 0.0


class TestRootCauseTicket:
    """A core device blackholed with its 20 children: exactly one ticket, listing them."""

    def test_one_ticket_for_the_core(self, lab: Lab, agent: AgentProcess) -> None:
        devices = [d for d in inventory(lab) if d.name == CORE or d.parent == CORE]
        lab.blackhole(*(d.address for d in devices))
        core = wait(lambda: (t := ticket_of(agent, CORE)) and len(t["affected"]) == 20 and t,
                    40, agent)
        assert sorted(core["affected"]) == sorted(d.name for d in devices if d.parent == CORE)
        time.sleep(4)  # a few more cycles: still no ticket for any child
        names = {d.name for d in devices}
        assert [t["device"] for t in tickets(agent) if t["device"] in names] == [CORE]
        lab.restore_all()
