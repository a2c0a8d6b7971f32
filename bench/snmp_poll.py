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
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/snmp_poll.py`: import bench.* from the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.snmp_pantau import child, run_pantau
from bench.snmp_reference import EXPORTER, Exporter, run_bulkwalk, run_exporter
from bench.snmp_values import MAX_REPETITIONS, TIMEOUT_S, Run, compare, map_samples

TOOLS = ("pantau", "pantau-fast", "exporter", "bulkwalk")


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
