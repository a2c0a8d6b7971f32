"""30 % random loss on every lab device for 5 minutes: how many false DOWNs?

Runs the real agent (default polling settings unless overridden) inside the lab against 200
devices, applies iptables random loss to all of them, and prints what the agent measured:
checks run, failed cycles (no echo answered), the loss it saw, and DOWN transitions (the
issue's bar: zero). Needs root. `python bench/loss_soak.py [--seconds 300] [--devices 200]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lab.agentproc import AgentProcess
from lab.inventory import lab_devices
from lab.lab import start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--probability", type=float, default=0.3)
    ap.add_argument("--interval", type=float, default=None,
                    help="polling.interval_seconds (default: pantau's default, 30)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pantau-soak-"))
    lab = start(work / "lab", name=f"pantau-soak-{int(time.time())}", ports=4)
    try:
        devices = lab_devices(lab.address, args.devices, children=20)
        sections = {"polling": {"interval_seconds": args.interval}} if args.interval else {}
        with AgentProcess(lab, work, devices, sections) as agent:
            deadline = time.monotonic() + 60
            while sum(1 for s in agent.states().values() if s == "up") < args.devices:
                if time.monotonic() > deadline:
                    print("not all devices came UP before the soak", file=sys.stderr)
                    return 2
                time.sleep(0.5)
            before = agent.metrics()
            lab.lossy(*(d.address for d in devices), probability=args.probability)
            print(f"soak: {args.devices} devices, {args.probability:.0%} random loss, "
                  f"{args.seconds:.0f} s, config {agent.config}")
            t0 = time.monotonic()
            worst_states: dict[str, int] = {}
            loss_samples: list[float] = []
            while time.monotonic() - t0 < args.seconds:
                states = agent.states()
                for s in states.values():
                    if s != "up":
                        worst_states[s] = worst_states.get(s, 0) + 1
                m = agent.metrics()
                loss_samples.extend(m.get("pantau_icmp_packet_loss_ratio", {}).values())
                time.sleep(2)
            after = agent.metrics()
            lab.restore_all()

        def total(m: dict[str, dict[frozenset[tuple[str, str]], float]], name: str,
                  **match: str) -> float:
            return sum(v for labels, v in m.get(name, {}).items()
                       if all(dict(labels).get(k) == w for k, w in match.items()))

        checks = total(after, "pantau_collector_checks_total") - total(
            before, "pantau_collector_checks_total")
        failed = total(after, "pantau_collector_checks_total", status="down") - total(
            before, "pantau_collector_checks_total", status="down")
        downs = total(after, "pantau_state_transitions_total", state="down") - total(
            before, "pantau_state_transitions_total", state="down")
        mean_loss = sum(loss_samples) / len(loss_samples) if loss_samples else 0.0
        print(f"checks run            {checks:.0f}")
        print(f"failed cycles         {failed:.0f} (no echo answered; soft failures)")
        print(f"mean loss measured    {mean_loss:.3f}")
        print(f"non-UP states polled  {worst_states or 'none'}")
        print(f"DOWN transitions      {downs:.0f}  ({'PASS' if downs == 0 else 'FAIL'})")
        return 0 if downs == 0 else 1
    finally:
        lab.stop()


if __name__ == "__main__":
    sys.exit(main())
