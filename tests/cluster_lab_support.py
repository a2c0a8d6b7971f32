"""Three agents on one PostgreSQL in the lab (issue 15): the server listening on one
loopback address per agent (so one agent can be cut off with iptables), the agents' configs,
and reads of who polls what (their /metrics) and of what the store holds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import create_engine, func, select

from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.lab_postgres import LabPostgres
from ticketing.store.engine import database_url
from ticketing.store.schema import cluster_members, ticket_events

NODES = ("agent-a", "agent-b", "agent-c")
DB_ADDRESS = {"agent-a": "127.0.0.31", "agent-b": "127.0.0.32", "agent-c": "127.0.0.33"}
INTERVAL, HEARTBEAT, LEASE = 2.0, 1.0, 3.0
CHAIN = "PANTAU-LAB"  # the lab's own chain (lab/lab.py): flushed after every lab test


class ClusterPostgres(LabPostgres):
    """LabPostgres listening on 127.0.0.1 and on each agent's own address."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(lab, extra_hosts=tuple(DB_ADDRESS.values()))

    def url_for(self, node: str) -> str:
        return f"postgresql://pantau@{DB_ADDRESS[node]}:{self.port}/postgres"

    def writers(self) -> dict[str, set[str]]:
        """ticket id -> the members that wrote its events."""
        with self.lab.inside():
            engine = create_engine(database_url(self.url))
            try:
                with engine.begin() as conn:
                    rows = conn.execute(select(ticket_events.c.ticket_id,
                                               ticket_events.c.writer)).all()
            finally:
                engine.dispose()
        out: dict[str, set[str]] = {}
        for ticket_id, writer in rows:
            out.setdefault(ticket_id, set()).add(writer)
        return out

    def live(self) -> set[str]:
        """The members whose lease is fresh by the database's clock."""
        with self.lab.inside():
            engine = create_engine(database_url(self.url))
            try:
                with engine.begin() as conn:
                    rows = conn.execute(select(cluster_members.c.node).where(
                        cluster_members.c.lease_until > func.clock_timestamp())).all()
            finally:
                engine.dispose()
        return {r.node for r in rows}

    @contextlib.contextmanager
    def cut_off(self, node: str) -> Iterator[None]:
        """`node`'s packets to the database dropped (inside the lab) for the block."""
        rule = [CHAIN, "-d", f"{DB_ADDRESS[node]}/32", "-p", "tcp", "--dport", str(self.port),
                "-j", "DROP"]
        self.lab.run(["iptables", "-A", *rule], check=True)
        try:
            yield
        finally:
            self.lab.run(["iptables", "-D", *rule], check=True)


SECTIONS: dict[str, dict[str, TomlValue]] = {
    "polling": {"interval_seconds": INTERVAL, "timeout_seconds": 1, "down_after": 2,
                "up_after": 2, "retry_interval_seconds": 1},
    "icmp": {"count": 1},
    "sla": {"calendar": "calendar"},
}


def member(lab: Lab, tmp_path: Path, server: ClusterPostgres, node: str,
           devices: Sequence[LabDevice]) -> AgentProcess:
    workdir = tmp_path / node
    workdir.mkdir()
    return AgentProcess(lab, workdir, devices, {
        **SECTIONS,
        "agent": {"database": server.url_for(node), "journal": str(workdir / "journal.db")},
        "cluster": {"enabled": True, "node": node, "heartbeat_seconds": HEARTBEAT,
                    "lease_seconds": LEASE},
    })


def family(agent: AgentProcess, name: str) -> set[str]:
    """The devices of `name`'s series in the agent's /metrics (icmp series only for checks)."""
    out = set()
    for labels in agent.metrics().get(name, {}):
        d = dict(labels)
        if d.get("check", "icmp") == "icmp" and "device" in d:
            out.add(d["device"])
    return out


def polled(agent: AgentProcess) -> set[str]:
    """The devices the agent exports a check result of (it polls them)."""
    return family(agent, "pantau_check_up")


def assigned(agent: AgentProcess) -> set[str]:
    """The devices in the agent's inventory now, i.e. whose jobs it runs (from the API, which
    reads it live; /metrics is rendered ahead of scrapes, so it may be a moment older)."""
    return {doc["name"] for doc in agent.get("/api/v1/devices").json()["devices"]}


def gauge(agent: AgentProcess, name: str) -> float:
    return sum(agent.metrics().get(name, {}).values())


def settled(agents: dict[str, AgentProcess], names: set[str]) -> dict[str, set[str]] | None:
    """Each device polled by exactly one of `agents`, all of `names` covered: who polls what."""
    split = {node: polled(a) for node, a in agents.items()}
    seen = [d for devices in split.values() for d in devices]
    if len(seen) == len(set(seen)) and set(seen) == names and all(
            gauge(a, "pantau_cluster_members") == len(agents) for a in agents.values()):
        return split
    return None


def observed(agent: AgentProcess, names: set[str]) -> dict[str, str]:
    """device -> when its last ICMP check was made, for `names` the agent polls."""
    out = {}
    for doc in agent.get("/api/v1/devices").json()["devices"]:
        icmp = doc["checks"].get("icmp")
        if doc["name"] in names and icmp is not None:
            out[doc["name"]] = icmp["observed_at"]
    return out
