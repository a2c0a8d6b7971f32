"""Proof of the dashboards: a real Prometheus scrapes a real agent polling the lab (one device
blackholed with its ticket open and past its step SLA, one monitored port down, one interface
ticket taken through verified restoration, one reboot); every panel query of every dashboard
returns data through Prometheus' HTTP API, and every rule evaluates without error."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.agentproc import AgentProcess, free_port
from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.conftest import Figure
from tests.dashboard_support import (
    BUILTINS,
    DASHBOARD_FILES,
    RULE_FILES,
    panels,
    prometheus,
    queries,
    rules,
    substitute,
)
from tests.dashboard_support import load_dashboard as load

pytestmark = pytest.mark.lab

OWNER = "Dinas Kesehatan"
DOWN, PORT, FIXED, OTHER = "sw-dash-down", "sw-dash-port", "sw-dash-fixed", "sw-dash-ok"
USERS = {"kadis": "kepala_dinas", "kabid": "kabid", "kasi": "kasi", "teknisi": "teknisi"}
OUTPUTS = {
    2: ["--set", "note=Mohon ditindaklanjuti", "--set", "to=kabid"],
    3: ["--set", "note=Segera cek", "--set", "to=kasi"],
    4: ["--set", "note=Tugaskan teknisi", "--set", "to=teknisi"],
    5: ["--set", "findings=Kabel putus", "--set", f"devices={FIXED}"],
    6: ["--set", "findings=Kabel tersedia", "--set", "stock_available=yes"],
    7: ["--set", "action=Kabel diganti"],
}
ACTOR = {2: "kadis", 3: "kabid", 4: "kasi", 5: "teknisi", 6: "teknisi", 7: "teknisi"}
STEP2_SLA_SECONDS = 60  # `[sop.sla] "2" = "1 minute"`: the blackholed device's step 2 breaches


def devices(lab: Lab) -> list[LabDevice]:
    def snmp(name: str, i: int, port: str) -> LabDevice:
        return LabDevice(name, lab.address(i), OWNER, snmp_auth="lab_v2c",
                         snmp_port=lab.snmp_port, interfaces=(port,))

    return [LabDevice(DOWN, lab.address(720), OWNER),
            snmp(PORT, 721, lab.ports[0]),
            snmp(FIXED, 722, lab.ports[1]),
            LabDevice(OTHER, lab.address(723), "Dinas Pendidikan")]


@dataclass
class PrometheusProcess:
    """A real Prometheus inside the lab namespace, scraping the agent every second."""

    lab: Lab
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str, **params: str) -> dict[str, Any]:
        with self.lab.inside(), httpx.Client(timeout=10) as client:
            r = client.get(f"http://127.0.0.1:{self.port}{path}", params=params)
        body: dict[str, Any] = r.json()
        assert body.get("status") == "success", (path, params, body)
        return body["data"]  # type: ignore[no-any-return]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] in ("vector", "scalar", "matrix"), data
        result = data["result"]
        return result if data["resultType"] != "scalar" else [{"value": result}]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def start_prometheus(lab: Lab, workdir: Path, *agent_ports: int) -> PrometheusProcess:
    """Prometheus scraping the agents on `agent_ports` (one job, "pantau") every second."""
    binary = prometheus()
    port = free_port(lab)
    config = workdir / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULE_FILES],
        "scrape_configs": [{"job_name": "pantau",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"
                                                            for port in agent_ports]}]}],
    }))
    log = workdir / "prometheus.log"
    with log.open("ab") as out:
        proc = lab.popen([binary, f"--config.file={config}",
                          f"--storage.tsdb.path={workdir / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{port}"],
                         stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    prom = PrometheusProcess(lab, proc, port, log)
    try:
        wait(lambda: ready(prom), 20, prom.logs)
    except BaseException:
        prom.stop()
        raise
    return prom


def ready(prom: PrometheusProcess) -> bool:
    if prom.proc.poll() is not None:
        raise AssertionError(f"prometheus exited with {prom.proc.returncode}:\n{prom.logs()}")
    try:
        with prom.lab.inside(), httpx.Client(timeout=2) as client:
            return client.get(f"http://127.0.0.1:{prom.port}/-/ready").status_code == 200
    except httpx.TransportError:
        return False


def wait(cond: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = cond()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s\n{logs()}")


def cli(agent: AgentProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return agent.tickets(*args)


def open_ticket(agent: AgentProcess, device: str) -> dict[str, Any] | None:
    out = cli(agent, "list", "--json")
    assert out.returncode == 0, out.stderr
    found = [t for t in json.loads(out.stdout)["tickets"] if t["device"] == device]
    return found[0] if found else None


def sample(agent: AgentProcess, name: str, **labels: str) -> float | None:
    return agent.metrics().get(name, {}).get(frozenset(labels.items()))


@pytest.fixture
def agent(lab: Lab, tmp_path: Path) -> Iterator[AgentProcess]:
    sections: dict[str, dict[str, TomlValue]] = {
        "polling": {"interval_seconds": 2, "timeout_seconds": 1, "down_after": 3,
                    "up_after": 2},
        "snmp": {"timeout_seconds": 0.8},
        "snmp.auth.lab_v2c": {"version": "2c", "community": {"env": "LAB_COMMUNITY"}},
        "tickets": {"verification_probes": 3, "verification_hold_seconds": 2,
                    "sla_sweep_seconds": 1},
        "sla": {"calendar": "calendar"},  # 24x7: the one-minute SLA runs out now
        "sop": {"version": 2},
        "sop.sla": {"2": "1 minute"},
    }
    proc = AgentProcess(lab, tmp_path, devices(lab), sections,
                        env={"LAB_COMMUNITY": lab.community,
                             **{f"TOKEN_{u.upper()}": f"token-{u}-0123456789abcdef0123456789"
                                for u in USERS}})
    users = "".join(f'\n[[users]]\nname = "{u}"\nrole = "{r}"\n'
                    f'token = {{ env = "TOKEN_{u.upper()}" }}\n' for u, r in USERS.items())
    proc.config.write_text(proc.config.read_text() + users)
    proc.start()
    try:
        yield proc
    finally:
        assert proc.stop() < 5.0


@pytest.fixture
def prom(lab: Lab, agent: AgentProcess, tmp_path: Path) -> Iterator[PrometheusProcess]:
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    running = start_prometheus(lab, workdir, agent.port)
    try:
        yield running
    finally:
        running.stop()


def make_history(lab: Lab, agent: AgentProcess) -> None:
    """Reboot, faults, tickets, steps 2-7 of one ticket and a breach, as seen in the lab."""
    logs = agent.logs
    wait(lambda: all(s == "up" for s in agent.states().values())
         and (sample(agent, "pantau_snmp_uptime_seconds", device=PORT) or 0) > 7, 30, logs)
    before = sample(agent, "pantau_device_reboots_total", device=PORT) or 0.0
    lab.restart_snmpd()  # snmpd has been up > 7 s: its new boot time shows as a reboot
    wait(lambda: (sample(agent, "pantau_device_reboots_total", device=PORT) or 0) > before,
         20, logs)

    lab.blackhole(lab.address(720))
    lab.set_port(lab.ports[0], up=False)
    lab.set_port(lab.ports[1], up=False)
    down = wait(lambda: open_ticket(agent, DOWN), 30, logs)
    assert (down["fault"], down["current_step"]) == ("device_down", 2)
    fixed = wait(lambda: open_ticket(agent, FIXED), 30, logs)
    assert fixed["fault"] == "interface_down"
    wait(lambda: open_ticket(agent, PORT), 30, logs)

    for step in range(2, 7):  # step durations for 2..6; step 2 well inside its minute
        done = cli(agent, "complete", fixed["id"], str(step), "--as", ACTOR[step],
                   *OUTPUTS[step])
        assert done.returncode == 0, done.stderr
    lab.set_port(lab.ports[1], up=True)
    wait(lambda: sample(agent, "pantau_interface_up", device=FIXED,
                        interface=lab.ports[1]) == 1.0, 30, logs)
    done = wait(lambda: (c := cli(agent, "complete", fixed["id"], "7", "--as", "teknisi",
                                  *OUTPUTS[7])).returncode == 0 and c, 30, logs)
    assert done.returncode == 0
    wait(lambda: sample(agent, "pantau_ticket_restoration_seconds_count") == 1.0, 10, logs)

    # the blackholed device's step 2 runs out of its minute: one breach
    wait(lambda: sample(agent, "pantau_ticket_step_breaches_total", step="2"),
         STEP2_SLA_SECONDS + 30, logs)


class TestProof:
    """Every panel query returns data from a real Prometheus; every rule evaluates."""

    def test_dashboards_against_prometheus(self, lab: Lab, agent: AgentProcess,
                                           prom: PrometheusProcess, figure: Figure) -> None:
        started = time.monotonic()
        make_history(lab, agent)
        # Prometheus has two samples of the breach counter (rate windows need two) and has
        # evaluated the rules on them
        wait(lambda: prom.query('count_over_time(pantau_ticket_step_breaches_total[1m]) >= 2')
             and prom.query("pantau:ticket_step_remaining_ratio < 0"), 15, prom.logs)

        values = {"owner": OWNER, "device": PORT, "datasource": "", **BUILTINS}
        empty: list[str] = []
        nan_only: list[str] = []
        n_panels = n_queries = 0
        for path in DASHBOARD_FILES:
            n_panels += sum(1 for _ in panels(load(path)))
            for q in queries(path):
                n_queries += 1
                result = prom.query(substitute(q.expr, values))
                where = f"{q.dashboard}: {q.panel} [{q.ref}]"
                if not result:
                    empty.append(where)
                elif all(math.isnan(float(r["value"][1])) for r in result):
                    nan_only.append(where)
        figure(f"checked {n_panels} panels, {n_queries} queries "
              f"({len(DASHBOARD_FILES)} dashboards) against Prometheus in "
              f"{time.monotonic() - started:.0f}s; NaN-only: {nan_only or 'none'}")
        assert not empty, empty
        assert not nan_only, nan_only

        n_rules = 0
        for rule in rules():
            n_rules += 1
            prom.query(str(rule["expr"]))  # raises on a bad status
        loaded = [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
        assert len(loaded) == n_rules
        assert all(r["health"] == "ok" and not r.get("lastError") for r in loaded), loaded

        alerts = {(a["labels"]["alertname"], a["labels"].get("device")): a["state"]
                  for a in prom.get("/api/v1/alerts")["alerts"]}
        figure(f"evaluated {n_rules} rules; alerts: {sorted(alerts.items())}")
        assert alerts.get(("PantauStepBreached", DOWN)) == "firing"
        assert alerts.get(("PantauDeviceDown", DOWN)) in ("pending", "firing")
        assert alerts.get(("PantauInterfaceDown", PORT)) in ("pending", "firing")
        assert ("PantauDeviceDown", OTHER) not in alerts
        assert ("PantauAgentDown", None) not in alerts
