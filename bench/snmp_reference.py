"""The reference tools of the SNMP benchmark: prometheus-snmp-exporter (its config, process and
scrapes) and net-snmp `snmpbulkwalk`, each polling the lab devices and parsed into Values."""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.snmp_values import (
    COUNTERS,
    MAX_REPETITIONS,
    OIDS,
    ROUND_LIMIT_S,
    STRINGS,
    TIMEOUT_S,
    Values,
)

EXPORTER = "prometheus-snmp-exporter"
MODULE = "bench"


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

