"""The agent-scale benchmark's reference tools, run at the agent's own rate in the same lab:
fping (one run per interval over the same targets, same echoes per device) and snmp_exporter
(each SNMP device scraped once per interval, spread over it, as Prometheus would)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.agent_scale_lab import Count, Counters
from bench.snmp_reference import Exporter, parse_exposition
from lab.lab import Lab

FPING_LINE = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/")
EXPORTER_CONCURRENCY = 50


@dataclass(frozen=True, slots=True)
class FpingRun:
    cycles: int
    cpu: float  # seconds, wait4 rusage of every fping run
    sent: int  # echo requests, as fping reports them
    counted: Count  # what the lab counted meanwhile
    dead: frozenset[str]  # addresses with no reply in some cycle
    problems: tuple[str, ...]
    per_cycle: tuple[tuple[float, int], ...] = ()  # (cpu, echoes sent) of each run


def fping_cycles(lab: Lab, targets: Sequence[str], workdir: Path, *, count: int,
                 spacing_s: float, timeout_s: float, interval_s: float, cycles: int,
                 counters: Counters) -> FpingRun:
    """`cycles` runs of `fping -c COUNT -p SPACING -i0` over `targets`, one per interval."""
    file = workdir / "fping-targets.txt"
    file.write_text("\n".join(targets) + "\n")
    # fping keeps -t within -p in count mode; on loopback a reply takes microseconds
    argv = ["fping", "-q", "-c", str(count), "-p", str(max(10, round(spacing_s * 1000))),
            "-i", "0", "-t", str(round(timeout_s * 1000)), "-f", str(file)]
    cpu, sent, dead, problems = 0.0, 0, set[str](), list[str]()
    per_cycle: list[tuple[float, int]] = []
    start = time.monotonic()
    before = counters.read()
    for cycle in range(cycles):
        _sleep_until(start + cycle * interval_s)
        with lab.inside():
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
        killer = threading.Timer(interval_s * 3, proc.send_signal, (signal.SIGKILL,))
        killer.start()
        try:
            assert proc.stderr is not None
            err = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: fping goes with us
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        sent_before = sent
        if proc.returncode not in (0, 1):  # 1: some target unreachable, as expected
            problems.append(f"fping exited {proc.returncode}: {err.strip()[-300:]}")
        seen = 0
        for line in err.splitlines():
            m = FPING_LINE.match(line)
            if m:
                seen += 1
                sent += int(m.group(2))
                if int(m.group(3)) == 0:
                    dead.add(m.group(1))
        if seen != len(targets):
            problems.append(f"fping cycle {cycle + 1} reported {seen} of {len(targets)} targets")
        per_cycle.append((usage.ru_utime + usage.ru_stime, sent - sent_before))
    counted = counters.read() - before
    return FpingRun(cycles, cpu, sent, counted, frozenset(dead), tuple(problems),
                    tuple(per_cycle))


@dataclass(frozen=True, slots=True)
class ExporterRun:
    cycles: int
    cpu: float  # seconds of the exporter's utime + stime
    scrapes: int
    counted: Count
    problems: tuple[str, ...]


def exporter_cycles(lab: Lab, exporter: Exporter, addresses: Sequence[str], *,
                    interval_s: float, cycles: int, counters: Counters) -> ExporterRun:
    """Scrape /snmp for every address once per interval, each at its own offset within it."""
    targets = [f"{a}:{lab.snmp_port}" for a in addresses]

    def scrape(target: str) -> str | None:
        try:
            values = parse_exposition(exporter.scrape(target))
        except Exception as exc:  # a bench reports every failure, then goes on
            return f"{target}: {type(exc).__name__}: {exc}"
        rows = len(values.get("ifOperStatus", {}))
        if "0" not in values.get("sysUpTime", {}) or rows == 0:
            return f"{target}: no sysUpTime or ifOperStatus rows ({rows})"
        return None

    pool = ThreadPoolExecutor(max_workers=EXPORTER_CONCURRENCY)
    futures: list[Future[str | None]] = []
    try:
        before, c0 = counters.read(), exporter.cpu_seconds()
        start = time.monotonic()
        step = interval_s / max(1, len(targets))
        # the pool starts its threads on submit, so submit from inside the lab namespace:
        # they are born (and stay) there, where the exporter listens
        with lab.inside():
            for cycle in range(cycles):
                for i, target in enumerate(targets):
                    _sleep_until(start + cycle * interval_s + i * step)
                    futures.append(pool.submit(scrape, target))
        errors = [e for f in futures if (e := f.result(timeout=interval_s * 4)) is not None]
        cpu, counted = exporter.cpu_seconds() - c0, counters.read() - before
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    problems = [f"{len(errors)} exporter scrapes failed, e.g. {errors[0]}"] if errors else []
    return ExporterRun(cycles, cpu, len(futures), counted, tuple(problems))


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)
