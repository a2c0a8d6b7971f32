"""pantau's side of the SNMP benchmark: the child process that polls the lab devices with
SnmpCollector (`pantau`) or FastSnmpClient (`pantau-fast`), and the parent's call to it."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.snmp_values import (
    COLUMNS,
    MAX_REPETITIONS,
    ROUND_LIMIT_S,
    SYSUPTIME,
    TIMEOUT_S,
    Values,
)

SCRIPT = Path(__file__).with_name("snmp_poll.py")  # the child is `snmp_poll.py --child MODE`


def _index(arcs: Sequence[int]) -> str:
    return ".".join(map(str, arcs))


def _plain(name: str, value: object) -> int | str:
    """A varbind value from ber.py as the bench compares it: str for strings, else int."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, int):
        return int(value)
    raise ValueError(f"{name}: unexpected value {value!r}")


async def _poll_fast(job: dict[str, Any]) -> dict[str, Any]:
    """FastSnmpClient directly: GET sysUpTime.0, then one multi-column bulk walk."""
    from agent.core.clock import SystemClock
    from collectors.snmp import ber
    from collectors.snmp.fastclient import FastSnmpClient

    community = job["community"].encode()
    port = int(job["port"])
    columns = [tuple(map(int, oid.split("."))) for oid in COLUMNS.values()]
    uptime_oid = (*map(int, SYSUPTIME.split(".")), 0)
    sem = asyncio.Semaphore(int(job["concurrency"]))
    client = FastSnmpClient(SystemClock())
    raw: dict[str, tuple[Any, Any]] = {}
    errors: list[str] = []

    async def one(addr: str) -> None:
        async with sem:
            try:
                up = await client.get(
                    (addr, port),
                    community,
                    ber.V2C,
                    [uptime_oid],
                    timeout=TIMEOUT_S,
                    retries=0,
                    device=addr,
                )
                walked = await client.bulk_walk(
                    (addr, port),
                    community,
                    ber.V2C,
                    columns,
                    max_repetitions=MAX_REPETITIONS,
                    timeout=TIMEOUT_S,
                    retries=0,
                    total_timeout=30.0,
                    device=addr,
                )
            except Exception as exc:  # a bench reports every failure, then goes on
                errors.append(f"{addr}: {type(exc).__name__}: {exc}")
                return
            raw[addr] = (up, walked)

    try:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for addr in job["addresses"]:
                tg.create_task(one(addr))
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await client.aclose()
    # Converting to the bench's JSON form happens after the measurement: it is not polling.
    names = dict(zip(columns, COLUMNS, strict=True))
    values: Values = {}
    for addr, (up, walked) in raw.items():
        dev: dict[str, dict[str, int | str]] = {"sysUpTime": {"0": _plain("sysUpTime", up[0][1])}}
        for prefix, rows in walked.items():
            name = names[prefix]
            dev[name] = {_index(i): _plain(name, v) for i, v in rows}
        values[addr] = dev
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"wall": wall, "cpu": cpu, "values": values, "errors": errors}


async def _poll_collector(job: dict[str, Any]) -> dict[str, Any]:
    """SnmpCollector.check() for each device: pantau's own SNMP code path, samples included."""
    from agent.config import SnmpAuth, SnmpSettings
    from agent.core.clock import SystemClock
    from agent.core.model import CheckSpec, Device, Secret
    from collectors.snmp.client import PysnmpClient
    from collectors.snmp.collector import SnmpCollector
    from collectors.snmp.fastclient import FastSnmpClient

    clock = SystemClock()
    settings = SnmpSettings(
        timeout_seconds=TIMEOUT_S,
        retries=0,
        max_repetitions=MAX_REPETITIONS,
        auth={"bench": SnmpAuth(name="bench", version="2c", community=Secret(job["community"]))},
    )
    spec = CheckSpec(
        check="snmp", interval_seconds=60.0, timeout_seconds=30.0, retry_interval_seconds=10.0
    )
    devices = [
        Device(
            name=addr, address=addr, owner="bench", snmp_auth="bench", snmp_port=int(job["port"])
        )
        for addr in job["addresses"]
    ]
    sem = asyncio.Semaphore(int(job["concurrency"]))
    fast = FastSnmpClient(clock)
    v3 = PysnmpClient(clock)  # SNMPv3 only: never used for these v2c devices
    collector = SnmpCollector(fast, v3, clock, settings=settings)
    results: dict[str, Any] = {}
    errors: list[str] = []

    async def one(device: Device) -> None:
        async with sem:
            try:
                result = await collector.check(device, spec)
            except Exception as exc:  # a bench reports every failure, then goes on
                errors.append(f"{device.address}: {type(exc).__name__}: {exc}")
                return
            if result.status != "ok":
                errors.append(f"{device.address}: {result.status} {result.reason}")
            results[device.address] = result

    try:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for device in devices:
                tg.create_task(one(device))
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await fast.aclose()
        await v3.aclose()
    samples = {
        addr: [[s.name, s.value, [list(kv) for kv in s.labels]] for s in r.samples]
        for addr, r in results.items()
    }
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"wall": wall, "cpu": cpu, "samples": samples, "errors": errors}


def child(mode: str) -> int:
    """Child side: job JSON on stdin (community included), result JSON on stdout."""
    job = json.loads(sys.stdin.read())
    poll = _poll_collector if mode == "pantau" else _poll_fast
    print(json.dumps(asyncio.run(poll(job))))
    return 0



def run_pantau(
    lab: Any, mode: str, addresses: list[str], args: argparse.Namespace
) -> tuple[float, float, dict[str, Any], list[str]]:
    """One pantau child; its values (pantau-fast) or its samples per device (pantau)."""
    job = {
        "community": lab.community,
        "port": lab.snmp_port,
        "addresses": addresses,
        "concurrency": args.concurrency,
    }
    proc = lab.popen(
        [sys.executable, str(SCRIPT), "--child", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(json.dumps(job), timeout=ROUND_LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"{mode} child did not finish within {ROUND_LIMIT_S:.0f}s") from None
    if proc.returncode != 0:
        raise SystemExit(f"{mode} child failed ({proc.returncode}): {err.strip()[-2000:]}")
    result = json.loads(out)
    data = result["values"] if mode == "pantau-fast" else result["samples"]
    return result["wall"], result["cpu"], data, list(result["errors"])

