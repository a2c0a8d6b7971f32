"""Benchmark: the whole running agent (`pantau run`) in the lab at city scale, against fping and
snmp_exporter in the same run.

Run as root from the repository: `.venv/bin/python bench/agent_scale.py [--sizes 1000,5000,10000]
[--interval 30] [--window-intervals 2] [--starvation] [--quick]`. It starts its own lab (48
veth ports: 49 ifTable rows per SNMP device) and removes it on exit, Ctrl-C included.

Per size N: N lab devices (a core with 20 children, the rest alone; owners cycling), every 20th
blackholed (5 %), every 10th polled over SNMP v2c (10 %, none of them dead); pantau's defaults
except `polling.interval_seconds`. Phases, one after the other, each bounded in time:
1. full run: the agent on the whole inventory. Convergence is read from its log (the detector's
   "device state changed" lines, as this process reads them): start → every live device UP and
   every dead one DOWN. One interval later, a steady window of --window-intervals intervals: the
   agent's utime+stime (/proc/PID/stat), echo requests and SNMP polls counted by iptables
   rules in the lab's OUTPUT chain (an SNMP poll is the one request that carries sysUpTime's
   OID). Then 5 GETs of /metrics, one of /api/v1/devices, the peak RSS (VmHWM).
2. snmp_exporter scrapes the same SNMP devices with the same IF-MIB columns (sysUpTime + 13),
   each once per interval at its own offset, for the same number of intervals.
3. ICMP-only run: the agent on the same inventory without SNMP; its steady window gives the
   agent's CPU per echo request.
4. fping over the same targets, one `fping -c COUNT -p SPACING -i0` per interval (the agent's
   echoes per device per cycle), --fping-cycles times (default 4: one run's CPU per echo varies
   more than the agent's); CPU from wait4.
The agent's CPU per SNMP poll is the full run's CPU minus its echoes at the ICMP-only run's CPU
per echo, divided by its SNMP polls. False DOWN: a live device logged DOWN or UNREACHABLE.

--starvation adds a run at --starvation-devices (default: the largest size): after convergence,
two busy-loop processes at nice -5 (the agent at 0) for --hog-seconds, then SIGSTOP of the agent
for --stop-seconds, then SIGCONT and two intervals more; it counts the false DOWNs of each phase.

Exits 1 when a run was not exact: fping or snmp_exporter did not see exactly the blackholed /
answering devices, the lab's counters disagree with their own counts, the agent never reported
a dead device DOWN, or the agent died. A missed bar (slow convergence, false DOWN, CPU) is a
figure in the table, never a failure. 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as `python bench/agent_scale.py`: import bench.* from the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.agent_scale_lab import Counters, Hogs, inventory, peak_rss_bytes, reasons
from bench.agent_scale_ref import exporter_cycles, fping_cycles
from bench.agent_scale_report import SizeResult, Starvation, print_table
from bench.agent_scale_run import AgentRun
from bench.snmp_reference import EXPORTER, Exporter
from lab.lab import Lab

ICMP_COUNT, ICMP_SPACING_S, ICMP_TIMEOUT_S = 5, 0.02, 1.8  # pantau's [icmp] defaults
METRICS_GETS = 5
HOG_NICE = -5


def measure_size(lab: Lab, n: int, args: argparse.Namespace, exporter: Exporter,
                 counters: Counters, workdir: Path) -> SizeResult:
    inv = inventory(lab, n)
    lab.blackhole(*sorted(inv.dead_addresses))
    interval, cycles = args.interval, args.window_intervals
    limit = args.converge_intervals * interval
    res = SizeResult(n=n, dead=len(inv.dead), snmp=len(inv.snmp), interval=interval)
    say = _say(f"N={n}")
    try:
        say(f"full run: {n} devices, {len(inv.dead)} blackholed, {len(inv.snmp)} with SNMP, "
            f"interval {interval:g}s")
        with AgentRun(lab, workdir / f"full-{n}", inv.devices, interval) as run:
            res.converged = run.converge(inv, limit)
            say(f"converged in {res.converged:.1f}s" if res.converged is not None
                else f"not converged within {limit:g}s")
            res.icmp_mode = run.log.icmp_mode
            run.watch(interval)
            res.full = run.window(cycles * interval, counters)
            say(f"steady window {res.full.seconds:.0f}s: cpu {res.full.cpu:.1f}s, "
                f"{res.full.counted.echoes} echoes, {res.full.counted.snmp_polls} SNMP polls")
            run.log.poll()
            mark = len(run.log.changes)
            res.false_down = run.log.false_downs(inv, 0, mark)
            res.false_snmp = run.log.false_snmp_downs(inv, 0, mark)
            res.metrics = run.scrape_metrics(METRICS_GETS)
            res.api = run.api_states()
            say(f"/metrics {' '.join(f'{t:.2f}' for t in res.metrics.seconds)} s, "
                f"{res.metrics.size} B; watching one more interval")
            run.watch(interval)  # a check made late by the GETs turns DOWN within it
            res.false_down_http = run.log.false_downs(inv, mark)
            res.reasons = reasons([*res.false_down, *res.false_down_http])
            res.rss = peak_rss_bytes(run.pid)
            missed = run.log.missed(inv)
            if missed:
                res.problems.append(f"full run: {len(missed)} dead devices never DOWN")
            res.notes.append(run.stop())
        say(f"false DOWN {len(res.false_down)} before the GETs, "
            f"{len(res.false_down_http)} after")

        ex = exporter_cycles(lab, exporter, [d.address for d in inv.snmp],
                             interval_s=interval, cycles=args.fping_cycles, counters=counters)
        res.exporter = ex
        res.problems += ex.problems
        if ex.counted.snmp_polls != ex.scrapes:
            res.problems.append(f"exporter: {ex.scrapes} scrapes but {ex.counted.snmp_polls} "
                                "SNMP polls counted")
        say(f"snmp_exporter: {ex.scrapes} scrapes, cpu {ex.cpu:.2f}s")

        with AgentRun(lab, workdir / f"icmp-{n}", inv.icmp_only(), interval) as run:
            res.icmp_converged = run.converge(inv, limit)
            run.watch(interval)
            res.icmp = run.window(cycles * interval, counters)
            run.log.poll()
            res.false_down_icmp = run.log.false_downs(inv)
            missed = run.log.missed(inv)
            if missed:
                res.problems.append(f"ICMP-only run: {len(missed)} dead devices never DOWN")
            res.notes.append(run.stop())
        say(f"ICMP-only window {res.icmp.seconds:.0f}s: cpu {res.icmp.cpu:.1f}s, "
            f"{res.icmp.counted.echoes} echoes")

        fp = fping_cycles(lab, [d.address for d in inv.devices], workdir, count=ICMP_COUNT,
                          spacing_s=ICMP_SPACING_S, timeout_s=ICMP_TIMEOUT_S,
                          interval_s=interval, cycles=args.fping_cycles, counters=counters)
        res.fping = fp
        res.problems += fp.problems
        if fp.dead != inv.dead_addresses:
            res.problems.append(f"fping: {len(fp.dead ^ inv.dead_addresses)} devices dead "
                                "or alive against the blackholed set")
        if fp.sent != fp.counted.echoes:
            res.problems.append(f"fping: sent {fp.sent} echoes, {fp.counted.echoes} counted")
        spread = [c / n * 1e6 for c, n in fp.per_cycle if n]
        say(f"fping: {fp.sent} echoes, cpu {fp.cpu:.2f}s"
            + (f"; per run {min(spread):.1f}-{max(spread):.1f} µs/echo" if spread else ""))
    finally:
        lab.restore(*sorted(inv.dead_addresses))
    return res


def starvation(lab: Lab, n: int, args: argparse.Namespace, workdir: Path) -> Starvation:
    inv = inventory(lab, n)
    lab.blackhole(*sorted(inv.dead_addresses))
    say = _say(f"starvation N={n}")
    out = Starvation(n=n, hog_seconds=args.hog_seconds, stop_seconds=args.stop_seconds,
                     nice=HOG_NICE)
    try:
        with AgentRun(lab, workdir / f"starve-{n}", inv.devices, args.interval) as run:
            out.converged = run.converge(inv, args.converge_intervals * args.interval)
            say("not converged" if out.converged is None else
                f"converged in {out.converged:.1f}s; settling one interval")
            run.watch(args.interval)
            marks = [len(run.log.changes)]
            say(f"2 hogs at nice {HOG_NICE} for {args.hog_seconds:g}s")
            hogs = Hogs(2, HOG_NICE)
            try:
                run.watch(args.hog_seconds)
            finally:
                hogs.stop()
            run.log.poll()
            marks.append(len(run.log.changes))
            say(f"SIGSTOP for {args.stop_seconds:g}s")
            os.kill(run.pid, signal.SIGSTOP)
            try:
                time.sleep(args.stop_seconds)
            finally:
                os.kill(run.pid, signal.SIGCONT)
            run.log.poll()
            marks.append(len(run.log.changes))
            run.watch(2 * args.interval)
            marks.append(len(run.log.changes))
            out.phases = [run.log.false_downs(inv, a, b) for a, b in itertools.pairwise(marks)]
            out.reconverged = run.log.converged(inv)
            out.reasons = reasons(c for phase in out.phases for c in phase)
            if run.log.missed(inv):
                out.problems.append(f"{len(run.log.missed(inv))} dead devices never DOWN")
            run.stop()
    finally:
        lab.restore(*sorted(inv.dead_addresses))
    say(f"false DOWN per phase {[len(p) for p in out.phases]}")
    return out


def _say(prefix: str) -> Callable[[str], None]:
    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {prefix}: {text}", flush=True)
    return say


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sizes", default="1000,5000,10000",
                   help="comma-separated device counts ('' for none)")
    p.add_argument("--interval", type=float, default=30.0, help="polling.interval_seconds")
    p.add_argument("--window-intervals", type=int, default=2,
                   help="steady window (and reference runs), in intervals")
    p.add_argument("--fping-cycles", type=int, default=4,
                   help="fping runs (one per interval) for the CPU-per-echo reference: one run "
                        "varied 13-21 µs/echo at 10,000 devices")
    p.add_argument("--converge-intervals", type=float, default=10,
                   help="give up waiting for convergence after this many intervals")
    p.add_argument("--starvation", action="store_true", help="add the starvation run")
    p.add_argument("--starvation-devices", type=int,
                   help="devices in the starvation run (default: the largest size)")
    p.add_argument("--hog-seconds", type=float, default=60.0)
    p.add_argument("--stop-seconds", type=float, default=10.0)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 100 devices, 5 s interval, 1-interval windows; with "
                        "--starvation 10 s of hogs and a 3 s SIGSTOP")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.interval, args.window_intervals = "100", 5.0, 1
        args.fping_cycles = 1
        args.starvation_devices, args.hog_seconds, args.stop_seconds = 100, 10.0, 3.0
    try:
        args.size_list = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        p.error("--sizes takes comma-separated numbers")
    if not all(20 <= n <= 50_000 for n in args.size_list):
        p.error("each size must be 20..50000")
    if not 3 <= args.interval <= 600 or not 1 <= args.window_intervals <= 20:
        p.error("--interval must be 3..600 s and --window-intervals 1..20")
    if not 1 <= args.fping_cycles <= 20:
        p.error("--fping-cycles must be 1..20")
    if args.starvation_devices is None:
        args.starvation_devices = max(args.size_list, default=1000)
    if not 2 <= args.converge_intervals <= 30 or not 20 <= args.starvation_devices <= 50_000:
        p.error("--converge-intervals must be 2..30 and --starvation-devices 20..50000")
    if not 0 <= args.hog_seconds <= 600 or not 0 <= args.stop_seconds <= 120:
        p.error("--hog-seconds must be 0..600 and --stop-seconds 0..120")
    return args


def main() -> int:
    args = parse_args()
    from lab import lab as lablib

    problems = lablib.missing_prerequisites()
    for tool, package in (("fping", "fping"), (EXPORTER, EXPORTER)):
        if shutil.which(tool) is None:
            problems.append(f"{tool} not found: apt-get install {package}")
    if problems:
        print("cannot run:", "; ".join(problems))
        return 2
    signal.signal(signal.SIGTERM, _interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="pantau-scalebench-"))
    results: list[SizeResult] = []
    starved: Starvation | None = None
    load = [os.getloadavg()]
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        lab = lablib.start(workdir / "lab", name=f"pantau-scale-{os.getpid()}")
        stack.callback(lab.stop)
        counters = Counters(lab)
        exporter = Exporter(lab, workdir, shutil.which(EXPORTER) or EXPORTER)
        stack.callback(exporter.stop)
        print(f"lab {lab.name}; interval {args.interval:g}s, windows of "
              f"{args.window_intervals} intervals, {args.fping_cycles} fping runs; load average "
              f"{load[0]}; python {sys.version.split()[0]} ({sys.executable})", flush=True)
        for n in args.size_list:
            results.append(measure_size(lab, n, args, exporter, counters, workdir))
            load.append(os.getloadavg())
        if args.starvation:
            starved = starvation(lab, args.starvation_devices, args, workdir)
            load.append(os.getloadavg())
    print_table(results, starved, load)
    failed = [p for r in results for p in r.problems] + (starved.problems if starved else [])
    for p in failed:
        print(f"NOT EXACT: {p}")
    print("all runs exact" if not failed else f"{len(failed)} problems: not exact")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
