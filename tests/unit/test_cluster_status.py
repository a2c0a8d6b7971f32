"""`pantau cluster status`: members, leases and device counts from the members' rows."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from agent.cluster.assign import inventory_hash
from agent.cluster.cli import status
from agent.config import loads
from agent.core.cluster import MemberRow
from agent.core.leases import Lease

CONFIG = ('[agent]\ndatabase = "postgresql://pantau@127.0.0.1/pantau"\n'
          '[cluster]\nenabled = true\nnode = "agent-a"\n'
          + "".join(f'[[devices]]\nname = "sw-{i:02d}"\naddress = "127.2.0.{i + 1}"\n'
                    'owner = "Dinas Kesehatan"\n' for i in range(30)))
T = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def row(node: str, *, live: bool = True, hash_: str = "", epoch: int = 1) -> MemberRow:
    return MemberRow(node=node, address=f"{node}:9100", started_at=T, last_seen=T,
                     lease_until=T + timedelta(seconds=15 if live else -60),
                     inventory_hash=hash_, epoch=epoch, live=live)


class Rows:
    def __init__(self, rows: Sequence[MemberRow]) -> None:
        self.rows = rows
        self.closed = False

    async def members(self) -> Sequence[MemberRow]:
        return self.rows

    async def aclose(self) -> None:
        self.closed = True


class Leases:
    def __init__(self, lease: Lease | None) -> None:
        self.lease = lease
        self.closed = False

    async def read(self, duty: str) -> Lease | None:
        assert duty == "leader"
        return self.lease

    async def aclose(self) -> None:
        self.closed = True


def run(rows: Sequence[MemberRow], *, as_json: bool,
        leases: Leases | None = None) -> tuple[str, Rows]:
    config = loads(CONFIG)
    store, out = Rows(rows), io.StringIO()
    assert asyncio.run(status(config, store, out, as_json=as_json, leases=leases)) == 0
    return out.getvalue(), store


class TestStatus:
    """Live members split this file's inventory; an ended one polls nothing."""

    def test_json(self) -> None:
        mine = inventory_hash(loads(CONFIG).devices)
        text, store = run([row("agent-a", hash_=mine), row("agent-b", hash_=mine, epoch=3),
                           row("agent-c", live=False, hash_="old")], as_json=True)
        doc = json.loads(text)
        assert store.closed
        assert doc["live"] == 2
        counts = {m["node"]: m["devices"] for m in doc["members"]}
        assert counts["agent-c"] == 0
        assert counts["agent-a"] + counts["agent-b"] == 30
        assert min(counts["agent-a"], counts["agent-b"]) > 0
        assert [m["same_inventory"] for m in doc["members"]] == [True, True, False]
        assert doc["members"][1]["epoch"] == 3

    def test_table(self) -> None:
        text, _ = run([row("agent-a"), row("agent-b", live=False)], as_json=False)
        lines = text.splitlines()
        assert lines[0].startswith("members: 1 live of 2;")
        assert lines[2].split()[:5] == ["agent-a", "agent-a:9100", "1", "live",
                                        "2026-12-06T12:00:15+00:00"]
        assert lines[2].split()[-2:] == ["differs", "30"]
        assert lines[3].split()[3] == "ended"
        assert lines[3].split()[-1] == "-"

    def test_the_leader(self) -> None:
        leases = Leases(Lease("leader", "agent-b", 4, 2.25))
        text, _ = run([row("agent-a"), row("agent-b")], as_json=False, leases=leases)
        assert text.splitlines()[-1] == "leader: agent-b (epoch 4, 2.2 s of its lease left)"
        assert leases.closed
        doc = json.loads(run([row("agent-a")], as_json=True, leases=leases)[0])
        assert doc["leader"] == {"node": "agent-b", "epoch": 4, "live": True,
                                 "remaining_seconds": 2.25}

    def test_no_leader(self) -> None:
        text, _ = run([row("agent-a")], as_json=False, leases=Leases(None))
        assert text.splitlines()[-1] == "leader: none yet"
        text, _ = run([row("agent-a")], as_json=False,
                      leases=Leases(Lease("leader", "agent-c", 2, -12.0)))
        assert text.splitlines()[-1].startswith("leader: none (the lease of agent-c ended 12.0 s")
