"""`pantau probe`: one live check (ICMP, and SNMP where configured) of each named device,
printed as a table or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TextIO

from agent.config import Config
from agent.core.clock import SystemClock
from agent.core.errors import ConfigError, ConfigProblem
from agent.core.model import CheckResult
from agent.scheduler import Scheduler
from agent.status import result_json
from agent.wiring import open_collectors


async def probe(config: Config, names: Sequence[str], out: TextIO, *, as_json: bool) -> int:
    """Probe `names` concurrently; exit 0 when every check answered, 1 otherwise."""
    known = {d.name: d for d in config.devices}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(
            config.source,
            [
                ConfigProblem(path="devices", message=f"no device named {n!r} in the inventory")
                for n in missing
            ],
        )
    clock = SystemClock()
    async with open_collectors(config, clock) as collectors:
        scheduler = Scheduler(
            clock=clock, sink=lambda r: None, retrying=lambda d, c: False,
            max_in_flight=config.polling.max_in_flight,
        )
        jobs = collectors.jobs(config, [known[n] for n in names])
        results = await asyncio.gather(*(scheduler.run_check(j) for j in jobs))
    by_device: dict[str, list[CheckResult]] = {n: [] for n in names}
    for r in results:
        by_device[r.device].append(r)
    if as_json:
        doc = {"devices": [
            {"name": n, "address": known[n].address, "owner": known[n].owner,
             "checks": {r.check: result_json(r) for r in by_device[n]}}
            for n in names
        ]}
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        _table(by_device, {n: known[n].address for n in names}, out)
    return 0 if all(r.status.answered for r in results) else 1


def _detail(r: CheckResult) -> tuple[str, str, str]:
    """(RTT/uptime, LOSS/interfaces, DETAIL) columns for one result."""
    if r.check == "icmp":
        rtt = r.sample("icmp_rtt_seconds")
        loss = r.sample("icmp_packet_loss_ratio")
        return (f"{rtt * 1000:.2f} ms" if rtt is not None else "-",
                f"{loss * 100:.0f} % loss" if loss is not None else "-", r.reason)
    uptime = r.sample("snmp_uptime_seconds")
    ifaces: dict[str, dict[str, float]] = {}
    for s in r.samples:
        if s.labels:
            ifaces.setdefault(s.labels[0][1], {})[s.name] = s.value
    up = sum(1 for v in ifaces.values() if v.get("interface_oper_up") == 1.0)
    faults = sorted(n for n, v in ifaces.items() if v.get("interface_monitored") == 1.0
                    and v.get("interface_admin_up") == 1.0 and v.get("interface_oper_up") != 1.0)
    info = dict(r.info)
    detail = r.reason or f"sysName={info.get('sysName', '?')}"
    if faults:
        detail += f"; monitored interfaces down: {', '.join(faults)}"
    return (f"up {uptime / 86400:.1f} d" if uptime is not None else "-",
            f"{up}/{len(ifaces)} if up" if ifaces else "-", detail)


def _table(by_device: dict[str, list[CheckResult]], addresses: dict[str, str],
           out: TextIO) -> None:
    rows = [("DEVICE", "ADDRESS", "CHECK", "STATUS", "RTT/UPTIME", "LOSS/IFACES", "DETAIL")]
    for name, results in by_device.items():
        for r in results:
            rows.append((name, addresses[name], r.check, r.status.value.upper(), *_detail(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
