"""Three agents on one PostgreSQL in the lab (issue 15): 300 devices split among them, each
polled by exactly one; a SIGKILLed member's devices taken over within lease + 1 interval and
given back without a polling gap on its restart; a member cut off from the database stops
polling before the others take its devices. Takeover and fencing times are figures."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, lab_devices
from lab.lab import Lab
from tests.cluster_lab_support import (
    HEARTBEAT,
    INTERVAL,
    LEASE,
    NODES,
    ClusterPostgres,
    assigned,
    gauge,
    member,
    polled,
    settled,
)
from tests.conftest import Figure
from tests.integration.test_crash_safety import check_consistent
from tests.postgres_fixtures import _missing

DEVICES = 300


@pytest.fixture
def cluster(lab: Lab, tmp_path: Path) -> Iterator[tuple[ClusterPostgres, dict[str, AgentProcess],
                                                        list[LabDevice]]]:
    if _missing():
        pytest.fail(f"PostgreSQL unavailable: {_missing()}")  # the lab has root already
    server = ClusterPostgres(lab)
    devices = lab_devices(lab.address, DEVICES, children=20)
    agents = {node: member(lab, tmp_path, server, node, devices) for node in NODES}
    try:
        server.start()
        for agent in agents.values():
            agent.start()
        yield server, agents, devices
    finally:
        for agent in agents.values():
            agent.stop(timeout=15)
        server.close()


def wait(what: str, cond: Callable[[], object], timeout: float, agents: dict[str, AgentProcess],
         every: float = 0.1) -> float:
    """Seconds until `cond()` is truthy; fails with the agents' logs after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(every)
    logs = "\n".join(f"--- {n}\n{a.logs()[-3000:]}" for n, a in agents.items())
    raise AssertionError(f"{what}: not within {timeout}s\n{logs}")


def split_of(agents: dict[str, AgentProcess], names: set[str]) -> dict[str, set[str]]:
    found: list[dict[str, set[str]]] = []
    wait("each device polled by exactly one agent",
         lambda: found.append(s) or True if (s := settled(agents, names)) else False,
         60, agents, every=0.5)
    return found[-1]


@pytest.mark.lab
@pytest.mark.postgres
@pytest.mark.xdist_group("cluster-split")
class TestSplit:
    """300 devices, 3 agents: each device polled by exactly one, within 20 % of even."""

    @pytest.mark.timeout(180)
    def test_each_device_polled_once(self, cluster: tuple[ClusterPostgres, dict[str, AgentProcess], list[LabDevice]], figure: Figure) -> None:
        _, agents, devices = cluster
        names = {d.name for d in devices}
        split = split_of(agents, names)
        counts = {node: len(split[node]) for node in NODES}
        even = DEVICES / len(NODES)
        assert all(abs(c - even) <= 0.2 * even for c in counts.values()), counts
        assert {node: gauge(a, "pantau_cluster_devices_assigned")
                for node, a in agents.items()} == counts
        # the tree (core-balaikota and the 20 below it) is on one member
        tree = {d.name for d in devices if d.parent} | {devices[0].name}
        assert sum(1 for s in split.values() if s & tree) == 1
        figure(f"{DEVICES} devices on 3 agents: "
               f"{'/'.join(str(counts[n]) for n in NODES)}, each polled by exactly one")
