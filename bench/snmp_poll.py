"""Benchmark: one SNMP poll of sysUpTime + 13 IF-MIB columns per lab device, pantau against
prometheus-snmp-exporter and net-snmp `snmpbulkwalk`: devices/s, CPU ms per device, equal values.

Run as root from the repository:
`.venv/bin/python bench/snmp_poll.py [--devices 100,1000] [--rounds 3] [--concurrency 50]
[--tools pantau,pantau-fast,exporter,bulkwalk] [--lab NAME] [--quick]`.
Without --lab it starts a throwaway lab (48 veth ports: 49 ifTable rows per device) and stops
it at the end. Every tool polls the same N devices once per round, with the same concurrency,
in a fixed cyclic order (pantau, pantau-fast, exporter, bulkwalk, pantau, ...); the table gives
the median over the rounds. The 32-bit ifInOctets/ifOutOctets columns are not walked: the lab
has the 64-bit ifHCInOctets/ifHCOutOctets.

How each tool's CPU is counted (start-up never is):
- pantau: a child process in the lab namespace polls the devices with SnmpCollector.check()
  (`pantau`) or FastSnmpClient get + bulk_walk directly (`pantau-fast`) and reports its own
  getrusage(RUSAGE_SELF) delta around the poll only.
- exporter: `prometheus-snmp-exporter` (0.21 config format: auth inside the module, written by
  hand with numeric OIDs into a temp dir) runs for the whole benchmark; each round scrapes
  `/snmp?module=bench&target=ADDR:PORT` for every device, and the exporter's utime+stime from
  /proc/PID/stat is read around the round (the HTTP client's CPU is not counted).
- bulkwalk: per device, one `snmpbulkwalk` process per OID (net-snmp 5.9 walks only the first
  OID it is given), counted by getrusage(RUSAGE_CHILDREN) around the round. The community
  reaches it through a temporary snmp.conf (defCommunity), never the command line.

Values: the names, descriptions, aliases, speeds and admin/oper status of every interface must
be identical across every run; sysUpTime and the counters must cover the same interfaces and
never decrease from one run to the next (the runs are sequential). Exits 1 on any mismatch or
device that did not answer, 2 when the benchmark cannot run here.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import http.client
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SYSUPTIME = "1.3.6.1.2.1.1.3"
# name -> numeric OID of the column (all walked; indexes are ifIndex)
COLUMNS: dict[str, str] = {
    "ifDescr": "1.3.6.1.2.1.2.2.1.2",
    "ifSpeed": "1.3.6.1.2.1.2.2.1.5",
    "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
    "ifOperStatus": "1.3.6.1.2.1.2.2.1.8",
    "ifInDiscards": "1.3.6.1.2.1.2.2.1.13",
    "ifInErrors": "1.3.6.1.2.1.2.2.1.14",
    "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19",
    "ifOutErrors": "1.3.6.1.2.1.2.2.1.20",
    "ifName": "1.3.6.1.2.1.31.1.1.1.1",
    "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6",
    "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10",
    "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15",
    "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
}
OIDS: dict[str, str] = {"sysUpTime": SYSUPTIME, **COLUMNS}
STRINGS = ("ifDescr", "ifName", "ifAlias")
STATIC = (*STRINGS, "ifSpeed", "ifHighSpeed", "ifAdminStatus", "ifOperStatus")
MOVING = (
    "sysUpTime",
    "ifInDiscards",
    "ifInErrors",
    "ifOutDiscards",
    "ifOutErrors",
    "ifHCInOctets",
    "ifHCOutOctets",
)
COUNTERS = {
    "ifInDiscards",
    "ifInErrors",
    "ifOutDiscards",
    "ifOutErrors",
    "ifHCInOctets",
    "ifHCOutOctets",
}
TOOLS = ("pantau", "pantau-fast", "exporter", "bulkwalk")
EXPORTER = "prometheus-snmp-exporter"
MODULE = "bench"
TIMEOUT_S = 2.0  # per request, no retries, for every tool
MAX_REPETITIONS = 25
ROUND_LIMIT_S = 600.0  # one tool's round may not take longer than this

# device address -> metric -> index ("0" for sysUpTime, else the ifIndex) -> value
Values = dict[str, dict[str, dict[str, int | str]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """One tool's poll of all devices in one round."""

    tool: str
    devices: int
    round_no: int
    wall: float  # seconds
    cpu: float  # seconds of the tool's own CPU
    values: Values = dataclasses.field(repr=False)
    errors: tuple[str, ...] = ()

    @property
    def per_second(self) -> float:
        return self.devices / self.wall if self.wall > 0 else float("inf")

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.devices


# --------------------------------------------------------------------------- pantau child


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


# --------------------------------------------------------------------------- collector samples

# SnmpCollector sample -> the IF-MIB column it reports unchanged
_SAMPLE_COLUMNS: dict[str, str] = {
    "interface_receive_bytes_total": "ifHCInOctets",
    "interface_transmit_bytes_total": "ifHCOutOctets",
    "interface_receive_errors_total": "ifInErrors",
    "interface_transmit_errors_total": "ifOutErrors",
    "interface_receive_discards_total": "ifInDiscards",
    "interface_transmit_discards_total": "ifOutDiscards",
}


def samples_to_values(
    samples: list[list[Any]],
    reference: dict[str, dict[str, int | str]],
) -> tuple[dict[str, dict[str, int | str]], list[str]]:
    """Turn one device's SnmpCollector samples back into the bench's raw IF-MIB form.

    Interfaces are matched by the `interface` label against ifName (then ifDescr) of the
    `reference` run of the same device. Derived samples map back as: admin/oper up (1/0) to
    status 1/2, speed to ifHighSpeed (Mbit/s) when the reference's ifHighSpeed is above 0
    (as the collector chooses), else to ifSpeed. Returns the values and what could not be mapped.
    """
    by_label: dict[str, str] = {}
    for column in ("ifDescr", "ifName"):  # ifName wins: assigned last
        for index, text in reference.get(column, {}).items():
            by_label[str(text)] = index
    out: dict[str, dict[str, int | str]] = {}
    problems: list[str] = []
    for name, value, labels in samples:
        label = dict(labels).get("interface")
        if label is None:
            if name == "snmp_uptime_seconds":
                out.setdefault("sysUpTime", {})["0"] = round(value * 100)
            continue
        # the collector appends "#<ifIndex>" to a name that is not unique on the device
        idx = label.rsplit("#", 1)[1] if "#" in label else by_label.get(label)
        if idx is None:
            problems.append(f"interface {label!r} not in the reference run")
            continue
        if name in _SAMPLE_COLUMNS:
            out.setdefault(_SAMPLE_COLUMNS[name], {})[idx] = round(value)
        elif name in ("interface_admin_up", "interface_oper_up"):
            column = "ifAdminStatus" if name == "interface_admin_up" else "ifOperStatus"
            out.setdefault(column, {})[idx] = 1 if value == 1 else 2
        elif name == "interface_speed_bits_per_second":
            high = reference.get("ifHighSpeed", {}).get(idx)
            if isinstance(high, int) and high > 0:
                out.setdefault("ifHighSpeed", {})[idx] = round(value / 1e6)
            else:
                out.setdefault("ifSpeed", {})[idx] = round(value)
    return out, problems


# --------------------------------------------------------------------------- the tools


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
        [sys.executable, __file__, "--child", mode],
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


def map_samples(run: Run, samples: dict[str, Any], runs: list[Run]) -> Run:
    """`run` (SnmpCollector's) with values mapped from its samples via another tool's run."""
    values: Values = {}
    errors = list(run.errors)
    for addr, device_samples in samples.items():
        ref = next((r.values[addr] for r in runs if r.tool != "pantau" and addr in r.values), None)
        if ref is None:
            errors.append(f"{addr}: no other tool's values to map the collector's interfaces")
            continue
        values[addr], problems = samples_to_values(device_samples, ref)
        errors += [f"{addr}: {p}" for p in problems[:3]]
    return dataclasses.replace(run, values=values, errors=tuple(errors))


def exporter_config(community: str) -> str:
    """The snmp_exporter 0.21 module (old format: auth inside the module), numeric OIDs."""
    lines = [f"{MODULE}:", "  walk:"]
    lines += [f"  - {oid}" for oid in OIDS.values()]
    lines.append("  metrics:")
    for name, oid in OIDS.items():
        kind = "DisplayString" if name in STRINGS else "counter" if name in COUNTERS else "gauge"
        lines += [f"  - name: {name}", f"    oid: {oid}", f"    type: {kind}"]
        if name != "sysUpTime":
            lines += ["    indexes:", "    - labelname: ifIndex", "      type: gauge"]
    lines += [
        "  version: 2",
        f"  max_repetitions: {MAX_REPETITIONS}",
        "  retries: 0",
        f"  timeout: {TIMEOUT_S:g}s",
        "  auth:",
        f"    community: {json.dumps(community)}",  # a JSON string is a YAML string
    ]
    return "\n".join(lines) + "\n"


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_exposition(text: str) -> dict[str, dict[str, int | str]]:
    """The bench's metrics from one /snmp scrape: strings from their label, numbers exact."""
    dev: dict[str, dict[str, int | str]] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None or m.group(1) not in OIDS:
            continue
        name, labels_text, number = m.groups()
        labels = {
            k: re.sub(r"\\[\\\"n]", lambda e: _UNESCAPE[e.group(0)], v)
            for k, v in _LABEL.findall(labels_text or "")
        }
        idx = labels.get("ifIndex", "0")
        # Go prints floats shortest-form ("4.294967295e+09"): exact below 2**53.
        dev.setdefault(name, {})[idx] = labels[name] if name in STRINGS else round(float(number))
    return dev


class Exporter:
    """prometheus-snmp-exporter in the lab namespace on 127.0.0.1:PORT, stopped by PID."""

    def __init__(self, lab: Any, workdir: Path, binary: str) -> None:
        self.lab = lab
        config = workdir / "snmp.yml"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(exporter_config(lab.community))
        with lab.inside():
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
            probe.close()
        self.log = workdir / "exporter.log"
        with open(self.log, "wb") as log:
            # `ip netns exec` execs the exporter in place: this PID is the exporter's.
            self.proc = lab.popen(
                [
                    binary,
                    f"--config.file={config}",
                    "--log.level=warn",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self._local = threading.local()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10.0
        with self.lab.inside():
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"{EXPORTER} exited: {self.log.read_text()[-1000:]}")
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                except OSError:
                    time.sleep(0.05)
        raise SystemExit(f"{EXPORTER} did not listen within 10s")

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def scrape(self, target: str) -> str:
        """GET /snmp for `target` on this thread's keep-alive connection (as Prometheus does)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=TIMEOUT_S * 30
            )
        conn.request("GET", f"/snmp?module={MODULE}&target={target}")
        resp = conn.getresponse()
        body = resp.read().decode()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body.strip()[:200]}")
        return body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pool_map(
    lab: Any, concurrency: int, fn: Callable[[str], Any], items: list[str]
) -> Iterator[tuple[str, Any, str | None]]:
    """fn over items on `concurrency` threads born in the lab namespace: (item, result, error)."""

    def guarded(item: str) -> tuple[str, Any, str | None]:
        try:
            return item, fn(item), None
        except Exception as exc:  # a bench reports every failure, then goes on
            return item, None, f"{item}: {type(exc).__name__}: {exc}"

    with lab.inside():  # the pool's threads start (and stay) in the lab namespace
        pool = ThreadPoolExecutor(max_workers=concurrency)
        futures = [pool.submit(guarded, item) for item in items]
    try:
        for fut in futures:
            yield fut.result(timeout=ROUND_LIMIT_S)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_exporter(
    lab: Any, exporter: Exporter, addresses: list[str], concurrency: int
) -> tuple[float, float, Values, list[str]]:
    values: Values = {}
    errors: list[str] = []
    c0 = exporter.cpu_seconds()
    t0 = time.perf_counter()
    for addr, body, error in _pool_map(
        lab, concurrency, exporter.scrape, [f"{a}:{lab.snmp_port}" for a in addresses]
    ):
        if error is not None:
            errors.append(error)
        else:
            values[addr.rsplit(":", 1)[0]] = parse_exposition(body)
    wall = time.perf_counter() - t0
    return wall, exporter.cpu_seconds() - c0, values, errors


def parse_bulkwalk(name: str, text: str) -> dict[str, int | str]:
    """`snmpbulkwalk -On -Oq -Ot -Oe` output for one OID: index -> value."""
    prefix = "." + OIDS[name] + "."
    rows: dict[str, int | str] = {}
    for line in text.splitlines():
        oid, _, value = line.partition(" ")
        if not oid.startswith(prefix):
            continue
        idx = oid[len(prefix) :]
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            rows[idx] = re.sub(r"\\(.)", r"\1", value[1:-1])
        else:
            rows[idx] = int(value)
    return rows


def run_bulkwalk(
    lab: Any, workdir: Path, addresses: list[str], concurrency: int
) -> tuple[float, float, Values, list[str]]:
    conf = workdir / "netsnmp"
    (conf / "mibs").mkdir(parents=True, exist_ok=True)
    fd = os.open(conf / "snmp.conf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"defCommunity {lab.community}\ndefVersion 2c\n")
    # Only our snmp.conf, no MIB files (Debian ships none of the IETF ones anyway).
    env = {
        **os.environ,
        "SNMPCONFPATH": str(conf),
        "MIBS": "",
        "MIBDIRS": str(conf / "mibs"),
        "SNMP_PERSISTENT_DIR": str(conf / "persist"),
    }
    argv = [
        "snmpbulkwalk",
        "-On",
        "-Oq",
        "-Ot",
        "-Oe",
        f"-Cr{MAX_REPETITIONS}",
        "-r0",
        f"-t{TIMEOUT_S:g}",
    ]

    def device(addr: str) -> dict[str, dict[str, int | str]]:
        dev = {}
        for name, oid in OIDS.items():
            proc = subprocess.run(
                [*argv, f"{addr}:{lab.snmp_port}", oid],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=TIMEOUT_S * 30,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"snmpbulkwalk {oid}: {proc.stderr.strip()[:200]}")
            dev[name] = parse_bulkwalk(name, proc.stdout)
        return dev

    values: Values = {}
    errors: list[str] = []
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for addr, dev, error in _pool_map(lab, concurrency, device, addresses):
        if error is not None:
            errors.append(error)
        else:
            values[addr] = dev
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, values, errors


# --------------------------------------------------------------------------- comparing


def compare(runs: list[Run], addresses: list[str]) -> list[str]:
    """Problems with the values of `runs` (in the order they ran); empty when all agree.

    STATIC metrics must be identical in every run; MOVING ones (sysUpTime, counters) must
    cover the same indexes and never decrease from one run to the next. Metrics a run did
    not report at all (SnmpCollector reports no strings) are skipped for that run.
    """
    problems: list[str] = []
    for run in runs:
        missing = [a for a in addresses if a not in run.values]
        if missing:
            problems.append(
                f"{run.tool} round {run.round_no}: {len(missing)} devices without "
                f"values (first {missing[0]})"
            )
    have = [r for r in runs if r.values]
    if not have:
        return problems
    mismatches: dict[str, int] = {}
    examples: list[str] = []

    def bad(key: str, text: str) -> None:
        mismatches[key] = mismatches.get(key, 0) + 1
        if len(examples) < 5:
            examples.append(text)

    for addr in addresses:
        devs = [(r, r.values[addr]) for r in have if addr in r.values]
        if not devs:
            continue
        ref_run, ref = next(((r, d) for r, d in devs if r.tool != "pantau"), devs[0])
        for metric in STATIC:
            for run, dev in devs:
                if metric in dev and metric in ref and dev[metric] != ref[metric]:
                    bad(
                        f"{run.tool} {metric}",
                        f"{addr} {metric}: {run.tool} round "
                        f"{run.round_no} {_diff(dev[metric], ref[metric])} {ref_run.tool}",
                    )
        for metric in MOVING:
            previous: tuple[Run, dict[str, int | str]] | None = None
            for run, dev in devs:
                if metric not in dev:
                    continue
                now = dev[metric]
                if metric in ref and now.keys() != ref[metric].keys():
                    bad(
                        f"{run.tool} {metric}",
                        f"{addr} {metric}: {run.tool} round "
                        f"{run.round_no} indexes differ from {ref_run.tool}'s",
                    )
                if previous is not None:
                    prev_run, prev = previous
                    for idx, value in now.items():
                        before = prev.get(idx)
                        if isinstance(before, int) and isinstance(value, int) and value < before:
                            bad(
                                f"{run.tool} {metric}",
                                f"{addr} {metric}.{idx}: {run.tool} "
                                f"round {run.round_no} {value} < {before} of {prev_run.tool}",
                            )
                previous = (run, now)
    problems += [f"{n} mismatches in {key}" for key, n in sorted(mismatches.items())]
    problems += [f"  e.g. {e}" for e in examples]
    return problems


def _diff(a: dict[str, int | str], b: dict[str, int | str]) -> str:
    keys = sorted(a.keys() ^ b.keys())
    if keys:
        return f"has other indexes ({', '.join(keys[:5])}) than"
    idx = next(k for k in sorted(a) if a[k] != b[k])
    return f"[{idx}]={a[idx]!r} vs {b[idx]!r} of"


# --------------------------------------------------------------------------- main


def bench_one(
    lab: Any,
    n: int,
    tools: list[str],
    args: argparse.Namespace,
    exporter: Exporter | None,
    workdir: Path,
) -> tuple[list[Run], list[str]]:
    addresses = [lab.address(i) for i in range(n)]
    runs: list[Run] = []
    samples: dict[int, dict[str, Any]] = {}  # position in runs -> SnmpCollector samples
    for round_no in range(1, args.rounds + 1):
        for tool in tools:
            if tool in ("pantau", "pantau-fast"):
                wall, cpu, values, errors = run_pantau(lab, tool, addresses, args)
                if tool == "pantau":
                    samples[len(runs)] = values
            elif tool == "exporter":
                assert exporter is not None
                wall, cpu, values, errors = run_exporter(lab, exporter, addresses, args.concurrency)
            else:
                wall, cpu, values, errors = run_bulkwalk(lab, workdir, addresses, args.concurrency)
            run = Run(tool, n, round_no, wall, cpu, values, tuple(errors))
            runs.append(run)
            if tool == "pantau":
                varbinds = sum(len(dev) for dev in values.values())
            else:
                varbinds = sum(len(rows) for dev in values.values() for rows in dev.values())
            what = "samples" if tool == "pantau" else "values"
            print(
                f"N={n:<5} round {round_no} {tool:11} wall {wall:7.2f}s "
                f"{run.per_second:7.1f} dev/s  cpu {cpu:7.3f}s {run.cpu_ms:7.2f} ms/dev  "
                f"answered {len(values)}/{n}  {what} {varbinds}"
                + (f"  ERRORS {len(errors)}: {errors[0]}" if errors else ""),
                flush=True,
            )
    for i, device_samples in samples.items():
        runs[i] = map_samples(runs[i], device_samples, runs)
    return runs, compare(runs, addresses)


def report(
    n: int, tools: list[str], runs: list[Run], problems: list[str], args: argparse.Namespace
) -> None:
    med = {
        t: (
            statistics.median(r.per_second for r in runs if r.tool == t),
            statistics.median(r.cpu_ms for r in runs if r.tool == t),
        )
        for t in tools
    }
    print(
        f"\nN={n} devices x 49 interfaces, concurrency {args.concurrency}, "
        f"{args.rounds} rounds, medians:"
    )
    print(f"  {'tool':12} {'devices/s':>10} {'CPU ms/device':>14}")
    for tool in tools:
        print(f"  {tool:12} {med[tool][0]:10.1f} {med[tool][1]:14.2f}")
    for mine in (t for t in tools if t.startswith("pantau")):
        for other in (t for t in tools if not t.startswith("pantau")):
            print(
                f"  {mine}/{other}: CPU per device {med[mine][1] / med[other][1]:.2f}x, "
                f"devices/s {med[mine][0] / med[other][0]:.2f}x"
            )
    print(f"  values equal: {'no' if problems else 'yes'}")
    for p in problems[:20]:
        print(f"    {p}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", default="100,1000", help="comma-separated device counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--tools",
        help=f"comma-separated, from {','.join(TOOLS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 50 devices, 1 round")
    parser.add_argument("--lab", help="use this running lab instead of starting one")
    parser.add_argument("--child", choices=("pantau", "pantau-fast"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if args.quick:
        args.devices, args.rounds = "50", 1
    try:
        counts = [int(x) for x in args.devices.split(",")]
    except ValueError:
        parser.error("--devices takes comma-separated numbers")
    if not all(1 <= n <= 20_000 for n in counts) or not 1 <= args.rounds <= 20:
        parser.error("--devices must be 1..20000 each and --rounds 1..20")
    if not 1 <= args.concurrency <= 1000:
        parser.error("--concurrency must be 1..1000")
    if args.tools:
        tools = args.tools.split(",")
        unknown = set(tools) - set(TOOLS)
        if unknown:
            parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
        tools = [t for t in TOOLS if t in tools]
    else:
        tools = list(TOOLS)

    from lab import lab as lablib

    problems = lablib.missing_prerequisites()
    if "bulkwalk" in tools and shutil.which("snmpbulkwalk") is None:
        problems.append("snmpbulkwalk not found: apt-get install snmp")
    if "exporter" in tools and shutil.which(EXPORTER) is None:
        problems.append(f"{EXPORTER} not found: apt-get install {EXPORTER}")
    if problems:
        print("cannot run:", "; ".join(problems))
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pantau-snmpbench-"))
    own = args.lab is None
    lab = (
        lablib.start(workdir / "lab", name=f"pantau-snmpbench-{os.getpid()}")
        if own
        else lablib.find(args.lab)
    )
    exporter = None
    failed = False
    try:
        print(
            f"lab {lab.name}: {len(lab.ports) + 1} interfaces per device; tools "
            f"{', '.join(tools)}; per request timeout {TIMEOUT_S:g}s, no retries, "
            f"max-repetitions {MAX_REPETITIONS}",
            flush=True,
        )
        if "exporter" in tools:
            exporter = Exporter(lab, workdir, shutil.which(EXPORTER) or EXPORTER)
        for n in counts:
            runs, problems = bench_one(lab, n, tools, args, exporter, workdir)
            report(n, tools, runs, problems, args)
            failed |= bool(problems) or any(r.errors for r in runs)
    finally:
        if exporter is not None:
            exporter.stop()
        if own:
            lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
