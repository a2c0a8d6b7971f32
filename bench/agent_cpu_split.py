"""Benchmark: where the running agent's CPU per echo goes, user against system time, beside
fping in the same lab. For comparing builds of the interpreter or changes on the echo path
between two runs; the bar itself is bench/agent_scale.py's.

Run as root from the repository, with the interpreter to measure (the agent runs on the same
one): `.venv/bin/python bench/agent_cpu_split.py [--devices 10000] [--seconds 60]`. The agent
runs ICMP-only on the agent-scale inventory (5 % blackholed), converges, settles one interval,
then its utime and stime over the window are divided by the echo requests the lab counted;
then fping sends the same echoes (one run per interval). Exit 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/agent_cpu_split.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.agent_scale import ICMP_COUNT, ICMP_SPACING_S, ICMP_TIMEOUT_S
from bench.agent_scale_lab import Counters, inventory
from bench.agent_scale_ref import fping_cycles
from bench.agent_scale_run import AgentRun

INTERVAL_S = 30.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def user_system(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=60.0, help="the agent's steady window")
    args = p.parse_args()
    if not 20 <= args.devices <= 50_000 or not 10 <= args.seconds <= 600:
        p.error("--devices must be 20..50000 and --seconds 10..600")
    from lab import lab as lablib

    problems = lablib.missing_prerequisites()
    if shutil.which("fping") is None:
        problems.append("fping not found: apt-get install fping")
    if problems:
        print("cannot run:", "; ".join(problems))
        return 2
    print(f"python {sys.version.split()[0]} ({sys.executable})", flush=True)
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="pantau-cpusplit-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        lab = lablib.start(workdir / "lab", name=f"pantau-cpusplit-{os.getpid()}")
        stack.callback(lab.stop)
        counters = Counters(lab)
        inv = inventory(lab, args.devices)
        lab.blackhole(*sorted(inv.dead_addresses))
        with AgentRun(lab, workdir / "icmp", inv.icmp_only(), INTERVAL_S) as run:
            converged = run.converge(inv, 10 * INTERVAL_S)
            print(f"agent converged in {converged}s", flush=True)
            run.watch(INTERVAL_S)
            u0, s0 = user_system(run.pid)
            window = run.window(args.seconds, counters)
            u1, s1 = user_system(run.pid)
        echoes = window.counted.echoes
        if not echoes:
            print("no echo requests counted")
            return 1
        print(f"agent: {echoes} echoes, user {(u1 - u0) / echoes * 1e6:.1f} µs, system "
              f"{(s1 - s0) / echoes * 1e6:.1f} µs, together {window.cpu / echoes * 1e6:.1f} µs "
              "per echo", flush=True)
        fp = fping_cycles(lab, [d.address for d in inv.devices], workdir, count=ICMP_COUNT,
                          spacing_s=ICMP_SPACING_S, timeout_s=ICMP_TIMEOUT_S,
                          interval_s=INTERVAL_S, cycles=max(1, round(args.seconds / INTERVAL_S)),
                          counters=counters)
        per_echo = fp.cpu / fp.sent * 1e6 if fp.sent else float("nan")
        print(f"fping: {fp.sent} echoes, {per_echo:.1f} µs per echo; agent / fping "
              f"{window.cpu / echoes * 1e6 / per_echo:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
