"""Benchmark: pantau's Pinger.sweep against `fping -i0` on a 10,000-address lab sweep.

Run as root from the repository: `.venv/bin/python bench/icmp_sweep.py [--rounds 5]
[--targets 10000] [--mode unprivileged|privileged] [--lab NAME]`. Without --lab it starts a
throwaway device lab (network namespace) and stops it at the end. 5 % of the targets are
blackholed (every 20th). Both tools run as child processes inside the lab namespace,
alternating, and each is measured from outside interpreter start-up: the pantau child
times only its sweep (wall and its own rusage), fping is timed as a whole process (wall and
wait4 rusage). Exits 1 when any run's set of dead addresses is not exactly the blackholed set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FPING_LINE = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/")
MODES = {"unprivileged": "no", "privileged": "yes"}


@dataclass(frozen=True, slots=True)
class Run:
    tool: str
    wall: float
    cpu: float
    dead: frozenset[str]
    sent: int


def child(args: argparse.Namespace) -> None:
    """The pantau side: open a Pinger, sweep once, print wall/CPU/dead as JSON."""
    from agent.core.clock import SystemClock
    from collectors.icmp import Pinger

    addresses = Path(args.file).read_text().split()

    async def sweep() -> dict[str, object]:
        pinger = await Pinger.open(privileged=MODES[args.mode], clock=SystemClock())
        try:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            replies = await pinger.sweep(addresses, count=1, timeout_seconds=args.timeout)
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            await pinger.aclose()
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        return {
            "mode": pinger.mode,
            "wall": wall,
            "cpu": cpu,
            "sent": sum(r.sent for r in replies),
            "dead": [r.address for r in replies if r.received == 0],
        }

    print(json.dumps(asyncio.run(sweep())))


def run_pantau(lab: object, file: Path, args: argparse.Namespace) -> Run:
    from lab.lab import Lab

    assert isinstance(lab, Lab)
    argv = [
        sys.executable,
        __file__,
        "--child",
        "--file",
        str(file),
        "--mode",
        args.mode,
        "--timeout",
        str(args.timeout),
    ]
    with lab.inside():  # born in the lab namespace, no `ip netns exec` in between
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"pantau child failed ({proc.returncode}): {proc.stderr.strip()}")
    out = json.loads(proc.stdout)
    if out["mode"] != args.mode:
        raise SystemExit(f"pantau child ran {out['mode']}, not {args.mode}")
    return Run("pantau", out["wall"], out["cpu"], frozenset(out["dead"]), out["sent"])


def run_fping(lab: object, file: Path, timeout: float) -> Run:
    from lab.lab import Lab

    assert isinstance(lab, Lab)
    argv = ["fping", "-q", "-c1", f"-t{round(timeout * 1000)}", "-i0", "-f", str(file)]
    with lab.inside():
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: some target unreachable, as expected
        raise SystemExit(f"fping failed ({proc.returncode}): {err.strip()[:500]}")
    dead, sent = set(), 0
    for line in err.splitlines():
        m = FPING_LINE.match(line)
        if m:
            sent += int(m.group(2))
            if int(m.group(3)) == 0:
                dead.add(m.group(1))
    return Run("fping", wall, usage.ru_utime + usage.ru_stime, frozenset(dead), sent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--mode", choices=sorted(MODES), default="unprivileged")
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--lab", help="use this running lab instead of starting one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if not 1 <= args.rounds <= 100 or not 20 <= args.targets <= 100_000:
        parser.error("--rounds must be 1..100 and --targets 20..100000")

    from lab import lab as lablib

    problems = lablib.missing_prerequisites()
    if problems or not Path("/usr/bin/fping").exists():
        print("cannot run:", "; ".join(problems) or "fping missing (apt-get install fping)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pantau-icmpbench-"))
    own = args.lab is None
    lab = (
        lablib.start(workdir, name=f"pantau-icmpbench-{os.getpid()}", ports=1)
        if own
        else (lablib.find(args.lab))
    )
    targets = [lab.address(i) for i in range(args.targets)]
    blackholed = frozenset(a for i, a in enumerate(targets) if i % 20 == 7)
    file = workdir / "targets.txt"
    file.write_text("\n".join(targets) + "\n")
    failures = 0
    runs: dict[str, list[Run]] = {"pantau": [], "fping": []}
    try:
        lab.blackhole(*sorted(blackholed))
        print(
            f"{args.targets} targets, {len(blackholed)} blackholed, 1 echo, "
            f"{args.timeout}s timeout, pantau mode {args.mode}, lab {lab.name}"
        )
        for round_no in range(1, args.rounds + 1):
            order = ("pantau", "fping") if round_no % 2 else ("fping", "pantau")
            for tool in order:
                if tool == "pantau":
                    run = run_pantau(lab, file, args)
                else:
                    run = run_fping(lab, file, args.timeout)
                ok = run.dead == blackholed and run.sent == args.targets
                failures += not ok
                runs[tool].append(run)
                print(
                    f"round {round_no} {tool:6} wall {run.wall:6.3f}s  cpu {run.cpu:6.3f}s  "
                    f"sent {run.sent:6}  dead {len(run.dead):5}  "
                    f"{'exact' if ok else 'WRONG'}"
                    + (
                        ""
                        if ok
                        else f" (missed {len(blackholed - run.dead)}, "
                        f"false {len(run.dead - blackholed)})"
                    )
                )
    finally:
        if own:
            lab.stop()
        else:
            lab.restore(*sorted(blackholed))
        shutil.rmtree(workdir, ignore_errors=True)
    med = {
        t: (statistics.median(r.wall for r in rs), statistics.median(r.cpu for r in rs))
        for t, rs in runs.items()
    }
    for tool, (wall, cpu) in med.items():
        print(f"median {tool:6} wall {wall:6.3f}s  cpu {cpu:6.3f}s")
    print(
        f"pantau/fping: wall {med['pantau'][0] / med['fping'][0]:.2f}x  "
        f"cpu {med['pantau'][1] / med['fping'][1]:.2f}x  "
        f"({'all runs exact' if not failures else f'{failures} runs WRONG'})"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
