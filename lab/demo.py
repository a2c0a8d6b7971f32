"""`scripts/demo`: the lab, a demo inventory, the agent on it, and scripted outages to watch.

Timeline (repeats): at 20 s one switch is blackholed, restored at 60 s; at 80 s the core switch
and its 20 access points are blackholed (the core goes DOWN, the access points UNREACHABLE),
restored at 120 s. The device table is printed every 5 s from the agent's own /metrics.
The pages are at http://127.0.0.1:9806/ with one demo user per role and a password made up
for this run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from agent.web.passwords import hash_password
from lab import forward
from lab.inventory import AGENCIES, CORE, lab_devices, to_toml
from lab.lab import Lab, start

DEMO_DEVICES = 30
CHILDREN = 20
#: demo user -> role; all sign in with one password made up at start and printed
DEMO_USERS = {"kadis": "kepala_dinas", "kabid": "kabid", "kasi": "kasi", "teknisi": "teknisi",
              "dinas": "perangkat_daerah", "admin": "admin"}


def demo_users(password: str) -> str:
    """[[users]] for the demo: one per role (the agency user acts for the first agency)."""
    digest = hash_password(password)
    return "".join(
        f'\n[[users]]\nname = "{name}"\nrole = "{role}"\npassword_hash = "{digest}"\n'
        + (f'owner = "{AGENCIES[0]}"\n' if role == "perangkat_daerah" else "")
        for name, role in DEMO_USERS.items())


def scrape(port: int) -> dict[str, str]:
    """device -> state, read from the agent's /metrics through the forward."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
        text = resp.read().decode()
    states: dict[str, str] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "pantau_device_state":
            for s in fam.samples:
                if s.value == 1.0:
                    states[s.labels["device"]] = s.labels["state"]
    return states


def render(elapsed: float, states: dict[str, str], note: str) -> str:
    counts: dict[str, int] = {}
    for st in states.values():
        counts[st] = counts.get(st, 0) + 1
    summary = "  ".join(f"{k.upper()}={v}" for k, v in sorted(counts.items()))
    not_up = sorted((d, s) for d, s in states.items() if s != "up")
    shown = ", ".join(f"{d}:{s.upper()}" for d, s in not_up[:8])
    if len(not_up) > 8:
        shown += f", ... (+{len(not_up) - 8})"
    return f"[{elapsed:5.0f}s] {summary:<40} {shown or 'all devices UP'}  {note}"


async def run_demo(port: int, keep: bool) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="pantau-demo-"))
    password = secrets.token_urlsafe(9)
    lab: Lab = start(workdir / "lab", name="pantau-demo", ports=8)
    devices = lab_devices(lab.address, DEMO_DEVICES, children=CHILDREN)
    victim = devices[-2]
    outage = [d.address for d in devices if d.name == CORE or d.parent == CORE]
    config = workdir / "pantau.toml"
    config.write_text(to_toml(devices, {
        "agent": {"listen": f"127.0.0.1:{port}", "database": f"sqlite:///{workdir}/pantau.db"},
        "polling": {"interval_seconds": 5, "timeout_seconds": 2, "down_after": 3,
                    "up_after": 2, "retry_interval_seconds": 2},
        "tickets": {"verification_probes": 3, "verification_hold_seconds": 4},
    }) + demo_users(password))
    agent = lab.popen([sys.executable, "-m", "agent", "run", "-c", str(config)],
                      stdout=subprocess.DEVNULL, stderr=(workdir / "agent.log").open("w"))
    server = await forward.serve(lab.name, port, port)
    print(f"pantau demo: {DEMO_DEVICES} lab devices, agent pid {agent.pid}, "
          f"metrics at http://127.0.0.1:{port}/metrics (Ctrl-C stops)")
    print(f"  config {config}, agent log {workdir / 'agent.log'}")
    print(f"  pages at http://127.0.0.1:{port}/ : sign in as {', '.join(DEMO_USERS)} "
          f"with the password {password}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    note = ""
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - t0
            phase = elapsed % 140
            if 20 <= phase < 25 and not note.startswith("blackholed " + victim.name):
                lab.blackhole(victim.address)
                note = f"blackholed {victim.name} ({victim.address})"
            elif 60 <= phase < 65 and note.startswith("blackholed " + victim.name):
                lab.restore(victim.address)
                note = f"restored {victim.name}"
            elif 80 <= phase < 85 and not note.startswith("blackholed core"):
                lab.blackhole(*outage)
                note = f"blackholed core {CORE} and its {CHILDREN} access points"
            elif 120 <= phase < 125 and note.startswith("blackholed core"):
                lab.restore_all()
                note = "restored the core and its access points"
            if agent.poll() is not None:
                print(f"the agent exited with {agent.returncode}; see {workdir / 'agent.log'}")
                return 1
            try:
                # off the loop: the forward that carries this request runs on it
                states = await asyncio.to_thread(scrape, port)
                print(render(elapsed, states, note), flush=True)
            except OSError as exc:
                print(f"[{elapsed:5.0f}s] waiting for the agent ({exc})", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
    finally:
        server.close()
        agent.terminate()  # by PID: SIGTERM, the agent stops cleanly
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        if not keep:
            lab.stop()
        print("pantau demo: stopped" + ("" if not keep else f"; lab {lab.name} left running"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pantau-demo", description=__doc__)
    parser.add_argument("--port", type=int, default=9806)
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab running")
    args = parser.parse_args(argv)
    return asyncio.run(run_demo(args.port, args.keep_lab))


if __name__ == "__main__":
    sys.exit(main())
