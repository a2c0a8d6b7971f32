"""Benchmark: CPU per SNMP device poll of the running agent (`python -m agent run`) against
prometheus-snmp-exporter scraping the same lab devices in the same minutes.

Run as root from the repository: `.venv/bin/python bench/snmp_agent.py [--devices 200]
[--interval 10] [--window 30] [--rounds 3] [--lab NAME] [--profile SECONDS]`.

N lab devices (48 veth ports: 49 ifTable rows each), all polled over SNMP v2c with pantau's
defaults except `polling.interval_seconds`. After two intervals of warm-up, each round is one
window in which the agent's utime+stime (/proc/PID/stat) and its checks
(`pantau_collector_checks_total`) are counted while snmp_exporter scrapes every device once per
interval (each at its own offset, as Prometheus does; its CPU read the same way). A second
agent on the same devices without SNMP gives the CPU of an ICMP check, which is taken out of
the first agent's CPU. Prints per-round and median CPU ms per device poll, the ratio, and the
load average. --profile S records the SNMP agent with py-spy (PYSPY env: its path) for S
seconds into pyspy-snmp-agent.txt (raw, collapsed stacks) before the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/snmp_agent.py`: import bench.* from root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.snmp_reference import EXPORTER, Exporter
from lab.agentproc import AgentProcess
from lab.inventory import AGENCIES, LabDevice, TomlValue


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checks(agent: AgentProcess) -> tuple[float, dict[str, float]]:
    """(monotonic time, checks run so far per collector), from /metrics."""
    with agent.lab.inside():
        text = httpx.get(f"http://127.0.0.1:{agent.port}/metrics", timeout=60).text
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "pantau_collector_checks_total":
                key = s.labels.get("collector", "")
                out[key] = out.get(key, 0.0) + s.value
    return time.monotonic(), out


def stop_agent(agent: AgentProcess) -> None:
    try:
        agent.stop(timeout=30)
    except RuntimeError as exc:  # killed after the timeout: say so, the figures still stand
        print(f"warning: {exc}")


def start_agent(lab: Any, workdir: Path, n: int, interval: float, snmp: bool) -> AgentProcess:
    devices = [
        LabDevice(f"sw-{i:05d}", lab.address(i), AGENCIES[i % len(AGENCIES)],
                  snmp_auth="lab" if snmp else None, snmp_port=lab.snmp_port if snmp else None)
        for i in range(n)
    ]  # fmt: skip
    sections: dict[str, dict[str, TomlValue]] = {
        "agent": {"log_level": "warning"},
        "polling": {"interval_seconds": interval},
        "snmp.auth.lab": {"version": "2c", "community": {"env": "LAB_COMMUNITY"}},
    }
    workdir.mkdir(parents=True, exist_ok=True)
    agent = AgentProcess(lab, workdir, devices, sections, env={"LAB_COMMUNITY": lab.community})
    agent.start()
    return agent


def scrape_for(lab: Any, exporter: Exporter, n: int, interval: float, seconds: float) -> list[str]:
    """Scrape every device once per interval, spread evenly, for `seconds`; returns errors."""
    targets = [f"{lab.address(i)}:{lab.snmp_port}" for i in range(n)]
    errors: list[str] = []
    stop_at = time.monotonic() + seconds
    step = interval / n

    def worker(offset: int, stride: int) -> None:
        k = offset
        start = time.monotonic()
        while True:
            due = start + k * step
            if due >= stop_at:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                exporter.scrape(targets[k % n])
            except Exception as exc:  # a bench reports every failure, then goes on
                errors.append(f"{targets[k % n]}: {exc}")
            k += stride

    stride = 8
    with lab.inside():  # threads born in the lab namespace
        threads = [threading.Thread(target=worker, args=(i, stride)) for i in range(stride)]
        for t in threads:
            t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    return errors


def window(agent: AgentProcess, seconds: float, during: Any = None
           ) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Agent CPU seconds over `seconds` (running `during` meanwhile) and the checks run in
    them per collector. /metrics is read outside the CPU window (rendering it costs CPU), and
    the checks are scaled from the time between the two reads to the CPU window."""
    pid = agent.proc.pid if agent.proc else 0
    t0, k0 = checks(agent)
    time.sleep(1.0)
    w0, c0 = time.monotonic(), proc_cpu(pid)
    if during is None:
        time.sleep(seconds)
    else:
        during()
    w1, c1 = time.monotonic(), proc_cpu(pid)
    time.sleep(1.0)
    t1, k1 = checks(agent)
    scale = (w1 - w0) / (t1 - t0)
    return c1 - c0, {c: (k1.get(c, 0.0) - k0.get(c, 0.0)) * scale for c in ("snmp", "icmp")}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lab", help="use this running lab instead of starting one")
    parser.add_argument("--profile", type=float, default=0.0)
    args = parser.parse_args()
    if not 1 <= args.devices <= 5000 or not 1 <= args.rounds <= 20 or args.window > 600:
        parser.error("--devices 1..5000, --rounds 1..20, --window at most 600")
    binary = shutil.which(EXPORTER)
    if binary is None:
        print(f"cannot run: {EXPORTER} not found")
        return 2
    from lab import lab as lablib

    workdir = Path(tempfile.mkdtemp(prefix="pantau-snmpagent-"))
    own = args.lab is None
    lab = lablib.start(workdir / "lab", name=f"pantau-snmpagent-{os.getpid()}") if own \
        else lablib.find(args.lab)  # fmt: skip
    exporter = Exporter(lab, workdir, binary)
    n, iv = args.devices, args.interval
    try:
        icmp_agent = start_agent(lab, workdir / "icmp", n, iv, snmp=False)
        try:
            time.sleep(2 * iv)
            cpu, k = window(icmp_agent, args.window)
            per_icmp = cpu / max(k["icmp"], 1)
        finally:
            stop_agent(icmp_agent)
        print(f"ICMP-only agent: {k['icmp']:.0f} checks, {per_icmp * 1e3:.3f} ms CPU per check")

        agent = start_agent(lab, workdir / "snmp", n, iv, snmp=True)
        try:
            time.sleep(2 * iv)
            if args.profile:
                pyspy = os.environ.get("PYSPY", "py-spy")
                subprocess.run([pyspy, "record", "-p", str(agent.proc.pid if agent.proc else 0),
                                "-d", str(int(args.profile)), "-f", "raw", "-r", "200",
                                "-o", "pyspy-snmp-agent.txt"], check=False)  # fmt: skip
            ours, theirs = [], []
            for r in range(1, args.rounds + 1):
                c0 = exporter.cpu_seconds()
                errors: list[str] = []

                def scrape(errors: list[str] = errors) -> None:
                    errors.extend(scrape_for(lab, exporter, n, iv, args.window))

                cpu, k = window(agent, args.window, scrape)
                exp_cpu = exporter.cpu_seconds() - c0
                scrapes = round(args.window / iv) * n
                mine = (cpu - k["icmp"] * per_icmp) / max(k["snmp"], 1)
                exp = exp_cpu / scrapes
                ours.append(mine)
                theirs.append(exp)
                print(f"round {r}: agent {cpu:.2f} CPU-s, {k['snmp']:.0f} SNMP + {k['icmp']:.0f}"
                      f" ICMP checks -> {mine * 1e3:.2f} ms/poll; exporter {exp_cpu:.2f} CPU-s,"
                      f" {scrapes} scrapes -> {exp * 1e3:.2f} ms/poll; ratio {mine / exp:.2f}"
                      f"{'; exporter errors ' + str(len(errors)) if errors else ''}", flush=True)
        finally:
            stop_agent(agent)
        m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        load = os.getloadavg()
        print(f"\nN={n} SNMP devices, interval {iv:g}s, {args.rounds} windows of {args.window:g}s;"
              f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"  pantau agent   {m_ours * 1e3:6.2f} ms CPU per device poll (median)")
        print(f"  snmp_exporter  {m_theirs * 1e3:6.2f} ms CPU per device poll (median)")
        print(f"  ratio {m_ours / m_theirs:.2f}x (median of per-round ratios "
              f"{statistics.median(ratios):.2f}x)")
    finally:
        exporter.stop()
        if own:
            lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
