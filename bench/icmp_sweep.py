"""Benchmark: pantau's Pinger.sweep against `fping -i0` and icmplib's `async_multiping` on a
10,000-address lab sweep.

Run as root from the repository: `.venv/bin/python bench/icmp_sweep.py [--rounds 5]
[--targets 10000] [--mode unprivileged|privileged] [--lab NAME] [--tools pantau,fping,icmplib]`.
Without --lab it starts a throwaway device lab (network namespace) and stops it at the end.
5 % of the targets are blackholed (every 20th). Every tool runs as a child process inside the
lab namespace, in rotating order, and is measured from outside interpreter start-up: the
pantau and icmplib children time only their sweep (wall and their own rusage), fping is timed
as a whole process (wall and wait4 rusage). A child that outlives --max-seconds is killed and
counted WRONG. Exits 1 when any run's set of dead addresses is not exactly the blackholed set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FPING_LINE = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/")
MODES = {"unprivileged": "no", "privileged": "yes"}
TOOLS = ("pantau", "fping", "icmplib")
ICMPLIB_TASKS = 50  # async_multiping's own default


@dataclass(frozen=True, slots=True)
class Run:
    tool: str
    wall: float
    cpu: float
    dead: frozenset[str]
    sent: int


def child(args: argparse.Namespace) -> None:
    """A Python side (pantau or icmplib): sweep once, print mode/wall/CPU/sent/dead as JSON."""
    addresses = Path(args.file).read_text().split()
    sweep = sweep_icmplib if args.child == "icmplib" else sweep_pantau
    print(json.dumps(asyncio.run(sweep(addresses, args))))


async def sweep_pantau(addresses: list[str], args: argparse.Namespace) -> dict[str, object]:
    """pantau: one socket, every echo sent as fast as the socket takes it."""
    from agent.core.clock import SystemClock
    from collectors.icmp import Pinger

    pinger = await Pinger.open(privileged=MODES[args.mode], clock=SystemClock())
    out: dict[str, object] = {"mode": pinger.mode}
    try:
        with measuring(out):
            replies = await pinger.sweep(addresses, count=1, timeout_seconds=args.timeout)
    finally:
        await pinger.aclose()
    out["sent"] = sum(r.sent for r in replies)
    out["dead"] = [r.address for r in replies if r.received == 0]
    return out


async def sweep_icmplib(addresses: list[str], args: argparse.Namespace) -> dict[str, object]:
    """icmplib: one socket and one task per address, at most --icmplib-tasks at a time."""
    from icmplib import async_multiping

    # each task holds its own socket: let the tasks have the file descriptors they ask for
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.icmplib_tasks + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    out: dict[str, object] = {"mode": args.mode}
    with measuring(out):
        hosts = await async_multiping(addresses, count=1, timeout=args.timeout,
                                      concurrent_tasks=args.icmplib_tasks,
                                      privileged=args.mode == "privileged")
    out["sent"] = sum(h.packets_sent for h in hosts)
    out["dead"] = [h.address for h in hosts if h.packets_received == 0]
    return out


@contextlib.contextmanager
def measuring(out: dict[str, object]) -> Iterator[None]:
    """Put the body's wall time and this process's CPU time into out["wall"], out["cpu"]."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    yield
    out["wall"] = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def run_child(tool: str, lab: object, file: Path, args: argparse.Namespace) -> Run | None:
    """Run the pantau or icmplib side in the lab; None when it outlived --max-seconds."""
    from lab.lab import Lab

    assert isinstance(lab, Lab)
    argv = [
        sys.executable,
        __file__,
        "--child",
        tool,
        "--file",
        str(file),
        "--mode",
        args.mode,
        "--timeout",
        str(args.timeout),
        "--icmplib-tasks",
        str(args.icmplib_tasks),
    ]
    with lab.inside():  # born in the lab namespace, no `ip netns exec` in between
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=args.max_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    if proc.returncode != 0:
        raise SystemExit(f"{tool} child failed ({proc.returncode}): {stderr.strip()[-500:]}")
    out = json.loads(stdout)
    if out["mode"] != args.mode:
        raise SystemExit(f"{tool} child ran {out['mode']}, not {args.mode}")
    return Run(tool, out["wall"], out["cpu"], frozenset(out["dead"]), out["sent"])


def run_fping(lab: object, file: Path, args: argparse.Namespace) -> Run | None:
    """Run fping in the lab; None when it outlived --max-seconds."""
    from lab.lab import Lab

    assert isinstance(lab, Lab)
    argv = ["fping", "-q", "-c1", f"-t{round(args.timeout * 1000)}", "-i0", "-f", str(file)]
    with lab.inside():
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(args.max_seconds, proc.kill)
    killer.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode == -signal.SIGKILL and wall >= args.max_seconds:
        return None
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


def line(label: str, tool: str, wall: float, cpu: float, echoes: int) -> str:
    per_echo = cpu / echoes * 1e6 if echoes else float("nan")
    return (f"{label} {tool:7} wall {wall:7.3f}s  cpu {cpu:7.3f}s  "
            f"cpu/echo {per_echo:7.1f}us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--mode", choices=sorted(MODES), default="unprivileged")
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--lab", help="use this running lab instead of starting one")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated, from {', '.join(TOOLS)} (default: all)")
    parser.add_argument("--icmplib-tasks", type=int, default=ICMPLIB_TASKS,
                        help="icmplib's concurrent_tasks: sockets open at once")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="kill a run that takes longer (counted WRONG)")
    parser.add_argument("--child", choices=("pantau", "icmplib"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not 1 <= args.rounds <= 100 or not 20 <= args.targets <= 100_000:
        parser.error("--rounds must be 1..100 and --targets 20..100000")
    if not tools or set(tools) - set(TOOLS) or len(set(tools)) != len(tools):
        parser.error(f"--tools takes each of {', '.join(TOOLS)} at most once")
    if not 1 <= args.icmplib_tasks <= 10_000 or not 1 <= args.max_seconds <= 3600:
        parser.error("--icmplib-tasks must be 1..10000 and --max-seconds 1..3600")

    from lab import lab as lablib

    problems = lablib.missing_prerequisites()
    if "fping" in tools and not Path("/usr/bin/fping").exists():
        problems.append("fping missing (apt-get install fping)")
    if problems:
        print("cannot run:", "; ".join(problems))
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
    runs: dict[str, list[Run]] = {t: [] for t in tools}
    try:
        lab.blackhole(*sorted(blackholed))
        print(
            f"{args.targets} targets, {len(blackholed)} blackholed, 1 echo, "
            f"{args.timeout}s timeout, mode {args.mode}, icmplib {args.icmplib_tasks} tasks, "
            f"lab {lab.name}"
        )
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(tools)
            for tool in tools[shift:] + tools[:shift]:  # each tool goes first in turn
                run = (run_fping(lab, file, args) if tool == "fping"
                       else run_child(tool, lab, file, args))
                if run is None:
                    failures += 1
                    print(f"round {round_no} {tool:7} killed after {args.max_seconds}s  WRONG")
                    continue
                ok = run.dead == blackholed and run.sent == args.targets
                failures += not ok
                runs[tool].append(run)
                print(
                    line(f"round {round_no}", tool, run.wall, run.cpu, run.sent)
                    + f"  sent {run.sent:6}  dead {len(run.dead):5}  "
                    + ("exact" if ok else f"WRONG (missed {len(blackholed - run.dead)}, "
                                          f"false {len(run.dead - blackholed)})")
                )
    finally:
        if own:
            lab.stop()
        else:
            lab.restore(*sorted(blackholed))
        shutil.rmtree(workdir, ignore_errors=True)
    med = {
        t: (statistics.median(r.wall for r in rs), statistics.median(r.cpu for r in rs))
        for t, rs in runs.items() if rs
    }
    for tool, (wall, cpu) in med.items():
        print(line("median", tool, wall, cpu, args.targets))
    if "pantau" in med:
        for other in (t for t in med if t != "pantau"):
            print(
                f"pantau/{other}: wall {med['pantau'][0] / med[other][0]:.2f}x  "
                f"cpu {med['pantau'][1] / med[other][1]:.2f}x"
            )
    print("all runs exact" if not failures else f"{failures} runs WRONG")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
