"""`pantau probe`: one live check of each named device, printed as a table or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TextIO

from agent.app import icmp_spec, result_json
from agent.clock import SystemClock
from agent.config import Config
from agent.errors import ConfigError, ConfigProblem
from agent.model import CheckResult
from agent.scheduler import Job, Scheduler
from collectors.icmp import IcmpCollector, Pinger


async def probe(config: Config, names: Sequence[str], out: TextIO, *, as_json: bool) -> int:
    """Probe `names` concurrently; exit 0 when every device answered, 1 otherwise."""
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
    pinger = await Pinger.open(privileged=config.icmp.privileged, clock=clock)
    try:
        icmp = IcmpCollector(
            pinger, clock, count=config.icmp.count, spacing_seconds=config.icmp.spacing_seconds
        )
        scheduler = Scheduler(
            clock=clock,
            sink=lambda r: None,
            retrying=lambda d, c: False,
            max_in_flight=config.polling.max_in_flight,
        )
        spec = icmp_spec(config)
        results = await asyncio.gather(
            *(scheduler.run_check(Job(known[n], spec, icmp)) for n in names)
        )
    finally:
        await pinger.aclose()
    if as_json:
        doc = {
            "devices": [
                {
                    "name": r.device,
                    "address": known[r.device].address,
                    "checks": {r.check: result_json(r)},
                }
                for r in results
            ]
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
    else:
        _table(results, known_addresses={n: known[n].address for n in names}, out=out)
    return 0 if all(r.status.value in ("ok", "warning") for r in results) else 1


def _table(results: Sequence[CheckResult], known_addresses: dict[str, str], out: TextIO) -> None:
    rows = [("DEVICE", "ADDRESS", "CHECK", "STATUS", "RTT", "LOSS", "DETAIL")]
    for r in results:
        rtt = r.sample("icmp_rtt_seconds")
        loss = r.sample("icmp_packet_loss_ratio")
        rows.append(
            (
                r.device,
                known_addresses[r.device],
                r.check,
                r.status.value.upper(),
                f"{rtt * 1000:.2f} ms" if rtt is not None else "-",
                f"{loss * 100:.0f} %" if loss is not None else "-",
                r.reason,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
