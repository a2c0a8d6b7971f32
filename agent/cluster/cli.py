"""`pantau cluster status -c FILE`: the members the database holds (address, epoch, lease,
inventory) and how many devices of this file's inventory each live member polls."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from agent.cluster.assign import assign, inventory_hash
from agent.cluster.leader import LEADER_DUTY
from agent.config import Config
from agent.core.cluster import MemberRow
from agent.core.leases import Lease

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class MemberReader(Protocol):
    async def members(self) -> Sequence[MemberRow]: ...

    async def aclose(self) -> None: ...


class LeaseReader(Protocol):
    async def read(self, duty: str) -> Lease | None: ...

    async def aclose(self) -> None: ...


def add_parser(sub: Any, with_config: Any) -> None:
    cluster = sub.add_parser("cluster", help="several agents on one database")
    csub = cluster.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    status = csub.add_parser("status", help="members, leases and device counts")
    with_config(status)
    status.add_argument("--json", action="store_true")


def status_doc(config: Config, members: Sequence[MemberRow],
               leader: Lease | None = None) -> dict[str, Any]:
    """The status as JSON: every member, with the devices of this config's inventory that
    each live one polls (when it runs the same inventory), and the leader's lease."""
    mine = inventory_hash(config.devices)
    live = [m.node for m in members if m.live]
    counts = Counter(assign(config.devices, live).values())
    return {
        "inventory_hash": mine,
        "devices": len(config.devices),
        "live": len(live),
        "leader": None if leader is None else {
            "node": leader.holder, "epoch": leader.epoch, "live": leader.remaining_seconds > 0,
            "remaining_seconds": round(leader.remaining_seconds, 3)},
        "members": [{
            "node": m.node, "address": m.address, "epoch": m.epoch, "live": m.live,
            "started_at": m.started_at.isoformat(), "last_seen": m.last_seen.isoformat(),
            "lease_until": m.lease_until.isoformat(), "inventory_hash": m.inventory_hash,
            "same_inventory": m.inventory_hash == mine,
            "devices": counts.get(m.node, 0) if m.live else 0,
        } for m in members],
    }


def render(doc: dict[str, Any], out: TextIO) -> None:
    out.write(f"members: {doc['live']} live of {len(doc['members'])}; this file's inventory "
              f"{doc['inventory_hash'][:12]} ({doc['devices']} devices)\n")
    out.write(f"{'NODE':<20} {'ADDRESS':<24} {'EPOCH':>5} {'LEASE':<7} {'LEASE UNTIL':<33}"
              f" {'INVENTORY':<12} DEVICES\n")
    for m in doc["members"]:
        inventory = m["inventory_hash"][:12] if m["same_inventory"] else "differs"
        out.write(f"{m['node']:<20} {m['address']:<24} {m['epoch']:>5} "
                  f"{'live' if m['live'] else 'ended':<7} {m['lease_until']:<33} "
                  f"{inventory:<12} {m['devices'] if m['live'] else '-'}\n")
    lead = doc.get("leader")
    if lead is None:
        out.write("leader: none yet\n")
    elif lead["live"]:
        out.write(f"leader: {lead['node']} (epoch {lead['epoch']}, "
                  f"{lead['remaining_seconds']:.1f} s of its lease left)\n")
    else:
        out.write(f"leader: none (the lease of {lead['node']} ended "
                  f"{-lead['remaining_seconds']:.1f} s ago; a member takes it at its next "
                  f"heartbeat)\n")


async def status(config: Config, store: MemberReader, out: TextIO, *, as_json: bool,
                 leases: LeaseReader | None = None) -> int:
    try:
        members = await store.members()
        leader = None if leases is None else await leases.read(LEADER_DUTY)
    finally:
        await store.aclose()
        if leases is not None:
            await leases.aclose()
    doc = status_doc(config, members, leader)
    if as_json:
        json.dump(doc, out, indent=2)
        out.write("\n")
    else:
        render(doc, out)
    return EXIT_OK


def main_cluster(config: Config, args: argparse.Namespace) -> int:
    if config.cluster is None:
        print(f"pantau: {config.source}: [cluster] is not enabled", file=sys.stderr)
        return EXIT_USAGE
    from agent.wiring import lease_store, member_store  # stores are concrete parts

    async def run() -> int:
        return await status(config, member_store(config), sys.stdout, as_json=args.json,
                            leases=await lease_store(config))

    return asyncio.run(run())
