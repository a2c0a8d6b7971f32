"""The dashboards with three cluster members (issue 15): a real Prometheus scrapes three real
agents on one PostgreSQL sharing one inventory (each polls its own share), one device down
with its ticket open. The panels' totals count each device and each ticket once. (A device
two members export at once, as in a handover, is the rules' and the availability panel's
promtool cases: dashboards/prometheus/tests, tests/unit/test_availability_panel.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.cluster_leader_support import NODES, Cluster
from tests.conftest import Figure
from tests.dashboard_support import BUILTINS, DASHBOARD_FILES, queries, substitute
from tests.integration.test_dashboards import PrometheusProcess, start_prometheus
from tests.notify_lab_support import OWNER

DOWN = "sw-clu-down"
SECTIONS: dict[str, dict[str, TomlValue]] = {
    "polling": {"interval_seconds": 1, "timeout_seconds": 0.5, "down_after": 2,
                "up_after": 2, "retry_interval_seconds": 0.5},
    "icmp": {"count": 2},
    "tickets": {"sla_sweep_seconds": 1},
    "sla": {"calendar": "calendar", "timezone": "Asia/Jakarta"},
}


def inventory(lab: Lab) -> list[LabDevice]:
    """Four devices, one of them DOWN in the test, shared by the three members."""
    return [LabDevice(name, lab.address(i), OWNER) for name, i in (
        (DOWN, 940), ("sw-clu-a", 941), ("sw-clu-b", 942), ("sw-clu-c", 943))]


#: (dashboard, panel title) -> the total its query must give (the sum over its series)
TOTALS = {
    ("noc-overview.json", "Devices"): 4.0,
    ("noc-overview.json", "Up"): 3.0,
    ("noc-overview.json", "Not up"): 1.0,
    ("noc-overview.json", "Open tickets"): 1.0,
    ("noc-overview.json", "Devices not up"): 1.0,  # one row, not one per member
    ("noc-overview.json", "Device states by agency"): 4.0,
    ("sop006.json", "Open tickets per step"): 1.0,
    ("sop006.json", "Open tickets per step over time"): 1.0,
}
#: panels that must show exactly this many series (a ticket's row once, not per member)
SERIES = {
    ("noc-overview.json", "Open tickets: step and time left"): 1,
    ("sop006.json", "Least time left, per step"): 1,
    ("device.json", "State"): 1,
}


def total(result: list[dict[str, Any]]) -> float:
    return sum(float(r["value"][1]) for r in result)


@pytest.fixture
def cluster(lab: Lab, tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(lab, tmp_path, inventory(lab), SECTIONS) as c:
        yield c


@pytest.mark.lab
@pytest.mark.xdist_group("cluster-dashboards")
class TestThreeMembers:
    """Every panel total is right with three members scraped by one Prometheus."""

    @pytest.mark.timeout(240)
    def test_totals_count_each_device_and_ticket_once(self, lab: Lab, cluster: Cluster,
                                                      tmp_path: Path, figure: Figure) -> None:
        c = cluster
        c.wait(lambda: len(c.leaders()) == 1, 20, "one leader")
        c.wait(lambda: (states := {d: s for a in c.agents.values()
                                   for d, s in a.states().items()})
               and len(states) == 4 and all(s == "up" for s in states.values()),
               30, "devices up, each on one member")
        lab.blackhole(lab.address(940))
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        prom: PrometheusProcess = start_prometheus(lab, workdir,
                                                   *(c.agents[n].port for n in NODES))
        try:
            c.wait(lambda: prom.query("sum(pantau_tickets_open) == 1")
                   and prom.query("count(pantau_cluster_leader) == 3")
                   and prom.query('count(pantau_device_state{state="down"} == 1) == 1')
                   and prom.query("count(pantau:devices_down:count == 1) == 1"),
                   45, "Prometheus sees the ticket, the leader and the DOWN device")
            values = {"owner": OWNER, "device": DOWN, "datasource": "", **BUILTINS}
            got: dict[tuple[str, str], float] = {}
            counts: dict[tuple[str, str], int] = {}
            for path in DASHBOARD_FILES:
                for q in queries(path):
                    result = prom.query(substitute(q.expr, values))  # raises on an error
                    key = (q.dashboard, q.panel)
                    if key in TOTALS and key not in got:
                        got[key] = total(result)
                    if key in SERIES and key not in counts:
                        counts[key] = len(result)
            assert got == TOTALS
            assert counts == SERIES
            # the rules: per agency, each device once
            assert total(prom.query("pantau:devices_down:count")) == 1.0
            assert total(prom.query("pantau:devices_not_up:count")) == 1.0
            assert total(prom.query('pantau:devices:count_by_state{state="up"}')) == 3.0
            assert total(prom.query("pantau_cluster_leader")) == 1.0
            # the ticket counters too: its opening counted once (by the leader), not by each
            # member that saw it
            c.wait(lambda: prom.query("sum(pantau_tickets_opened_total) > 0"), 15,
                   "the opening counted")
            assert total(prom.query("sum(pantau_tickets_opened_total)")) == 1.0
            naive = total(prom.query("count(pantau_device_up)"))
            alerts = prom.get("/api/v1/alerts")["alerts"]
            assert [a for a in alerts if a["labels"]["alertname"] == "PantauAgentDown"] == []

            def down_alerts() -> list[dict[str, Any]]:
                return [a for a in prom.get("/api/v1/alerts")["alerts"]
                        if a["labels"]["alertname"] == "PantauDeviceDown"]

            c.wait(down_alerts, 15, "PantauDeviceDown (pending)")
            # one alert for the device, without an instance label (it survives a handover)
            assert [a["labels"].get("device") for a in down_alerts()] == [DOWN]
            assert "instance" not in down_alerts()[0]["labels"]
            figure(f"3 members sharing 4 devices, 1 ticket: panel totals right "
                   f"({len(TOTALS)} totals, {len(SERIES)} series counts); "
                   f"count(pantau_device_up) over the members says {naive:g}")
            assert naive == 4.0  # each device exported by exactly one member
        finally:
            prom.stop()
