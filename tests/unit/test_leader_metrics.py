"""What a member's /metrics says of leadership: `pantau_cluster_leader{node}` follows the
leader's terms (1 for an agent alone), and only the leader exports the ticket gauges (absent,
not 0, on the others), so sums over the agents count each ticket once."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client.parser import text_string_to_metric_families

from agent.cluster.leader_store import leadership
from agent.core.leases import Lease
from agent.core.settings import ClusterSettings
from agent.metrics import (
    CLUSTER_LEADER,
    STEP_REMAINING,
    STEP_SLA,
    TICKETS_OPEN,
    Metrics,
    OpenTicketView,
    Snapshot,
)
from tests.fakes import FakeClock

TICKET_FAMILIES = {TICKETS_OPEN, STEP_SLA, STEP_REMAINING}
TICKETS = (OpenTicketView(device="sw-1", owner="Dinas Kesehatan", step=2,
                          remaining_seconds=120.0),)


def families(snapshot: Snapshot) -> set[str]:
    text = Metrics().render(snapshot).decode()
    return {f.name for f in text_string_to_metric_families(text)}


class TestTicketGauges:
    """The ticket gauges come from the leader only."""

    def test_the_leader_exports_them(self) -> None:
        snap = Snapshot(tickets=TICKETS, step_sla_seconds={2: 3600.0})
        assert families(snap) >= TICKET_FAMILIES

    def test_another_member_leaves_them_out(self) -> None:
        snap = Snapshot(tickets=TICKETS, step_sla_seconds={2: 3600.0}, leader=False)
        assert not TICKET_FAMILIES & families(snap)
        assert "pantau_devices_configured" in families(snap)  # the rest is all there


class TestTicketCounters:
    """The ticket counters and histograms come from the leader only, too."""

    COUNTED = ("pantau_tickets_opened_total", "pantau_ticket_step_breaches_total",
               "pantau_ticket_step_duration_seconds_count",
               "pantau_ticket_restoration_seconds_count")

    def exposed(self, leader: bool) -> set[str]:
        metrics = Metrics()
        metrics.breached(2)
        metrics.step_completed(2, 60.0)
        metrics.restoration_verified(600.0)
        metrics.tickets_opened.labels("auto", "device_down").inc()
        text = metrics.own_text(Snapshot(leader=leader)).decode()
        return {s.name for f in text_string_to_metric_families(text) for s in f.samples}

    def test_the_leader_exports_them(self) -> None:
        assert set(self.COUNTED) <= self.exposed(leader=True)

    def test_another_member_leaves_them_out(self) -> None:
        names = self.exposed(leader=False)
        assert not set(self.COUNTED) & names
        assert "pantau_build_info" in names


class FakeLeases:
    def __init__(self, holder: str) -> None:
        self.holder = holder

    async def take(self, duty: str, node: str, lease_seconds: float) -> Lease:
        return Lease(duty, self.holder, 1, lease_seconds)

    async def release(self, duty: str, node: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


class TestLeaderGauge:
    """`pantau_cluster_leader{node}` is 1 on the leader, 0 elsewhere."""

    async def test_an_agent_alone_is_its_own_leader(self) -> None:
        metrics = Metrics()
        async with contextlib.AsyncExitStack() as stack:
            leader, _ = leadership(None, FakeClock(), metrics.cluster_leader, stack,
                                   lambda: asyncio.sleep(0, FakeLeases("")), [])
        assert leader is None
        assert metrics.registry.get_sample_value(CLUSTER_LEADER, {"node": ""}) == 1.0

    async def test_a_member_follows_its_terms(self) -> None:
        for holder, expected in (("agent-a", 1.0), ("agent-b", 0.0)):
            metrics, clock = Metrics(), FakeClock()
            leases = FakeLeases(holder)

            async def connect(leases: FakeLeases = leases) -> FakeLeases:
                return leases

            async with contextlib.AsyncExitStack() as stack:
                leader, run = leadership(ClusterSettings(node="agent-a"), clock,
                                         metrics.cluster_leader, stack, connect, [])
                value = metrics.registry.get_sample_value(CLUSTER_LEADER, {"node": "agent-a"})
                assert value == 0.0  # until the first answer
                task = asyncio.create_task(run())
                assert leader is not None
                async with asyncio.timeout(5.0):  # real time: a bound on the first answer
                    # the leader tells nobody it has read an answer: polled, within the bound
                    while leader.holder != holder:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                assert metrics.registry.get_sample_value(
                    CLUSTER_LEADER, {"node": "agent-a"}) == expected
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert metrics.registry.get_sample_value(
                CLUSTER_LEADER, {"node": "agent-a"}) == 0.0  # stopped: no longer leading
