"""`pantau-lab` (also `python -m lab`): start, inspect, break and stop the device lab by hand."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from lab.lab import STATE_DIR, Lab, LabError, find, list_labs, missing_prerequisites, start
from lab.traps import Notifications

DEFAULT_NAME = "pantau-lab"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default=DEFAULT_NAME, help="lab name (default %(default)s)")
    parser = argparse.ArgumentParser(prog="pantau-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", parents=[common], help="start a lab")
    up.add_argument("--ports", type=int, default=48, help="veth ports (default %(default)s)")
    up.add_argument("--workdir", help=f"snmpd files (default {STATE_DIR}/NAME)")
    up.add_argument("--snmp-port", type=int, default=16100, help="default %(default)s")
    sub.add_parser("down", parents=[common], help="stop the lab and delete its namespaces")
    sub.add_parser("status", help="list running labs")

    fail = sub.add_parser("fail", parents=[common], help="make devices fail")
    fail.add_argument("addrs", nargs="+", metavar="ADDR")
    fail.add_argument("--mode", choices=["dead", "snmp", "loss"], required=True,
                      help="dead: drop all; snmp: drop SNMP only; loss: drop at random")
    fail.add_argument("--probability", type=float, default=0.3, help="for --mode loss")

    restore = sub.add_parser("restore", parents=[common], help="remove fault rules")
    restore.add_argument("addrs", nargs="*", metavar="ADDR")
    restore.add_argument("--all", action="store_true", help="remove every fault rule")

    port = sub.add_parser("port", parents=[common], help="cut or restore a port's link")
    port.add_argument("port", metavar="NAME")
    port.add_argument("state", choices=["up", "down"])
    port.add_argument("--admin", action="store_true",
                      help="set the port itself admin up/down instead of its link")

    notify = sub.add_parser("notify", parents=[common],
                            help="snmpd announces port changes (linkDown/linkUp, v2c)")
    notify.add_argument("--to", metavar="HOST:PORT", help="the trap receiver, in the lab")
    notify.add_argument("--from", dest="sources", action="append", metavar="ADDR",
                        help="device address they come from (repeat for more; default the "
                             "first device)")
    notify.add_argument("--every", type=int, default=1, help="seconds between checks")
    notify.add_argument("--off", action="store_true", help="stop announcing")

    trap = sub.add_parser("trap", parents=[common], help="send one trap as a device")
    trap.add_argument("address", metavar="ADDR", help="the device (UDP source)")
    trap.add_argument("oid", metavar="TRAP-OID", help="numeric, e.g. .1.3.6.1.6.3.1.1.5.3")
    trap.add_argument("varbinds", nargs="*", metavar="OID TYPE VALUE")
    trap.add_argument("--to", metavar="HOST:PORT", required=True, help="the trap receiver")
    trap.add_argument("--version", choices=["1", "2c", "3"], default="2c")
    trap.add_argument("--inform", action="store_true", help="an inform (2c, 3): wait for "
                      "the answer")

    ex = sub.add_parser("exec", parents=[common], help="run a command inside the lab: exec -- CMD")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)

    cred = sub.add_parser("credentials", parents=[common], help="print the lab's credentials")
    cred.add_argument("--json", action="store_true")
    return parser


def _credentials(lab: Lab) -> dict[str, str | int | None]:
    return {
        "PANTAU_LAB_NAME": lab.name, "PANTAU_LAB_SNMP_PORT": lab.snmp_port,
        "PANTAU_LAB_COMMUNITY": lab.community, "PANTAU_LAB_V3_USER": lab.v3_user,
        "PANTAU_LAB_V3_AUTH_PROTOCOL": "sha", "PANTAU_LAB_V3_PRIV_PROTOCOL": "aes128",
        "PANTAU_LAB_V3_AUTH_KEY": lab.v3_auth_key, "PANTAU_LAB_V3_PRIV_KEY": lab.v3_priv_key,
        "PANTAU_LAB_V3_USER_SHA256": lab.v3_user_sha256,
    }


def _status() -> int:
    names = list_labs()
    if not names:
        print("no lab is running")
        return 1
    for name in names:
        lab = find(name)
        alive = "running" if lab.snmpd_running() else "NOT RUNNING"
        print(f"{lab.name}: snmpd pid {lab.snmpd_pid} {alive}, udp port {lab.snmp_port}, "
              f"{len(lab.ports)} ports, {len(lab.rules())} fault rules, "
              f"devices {lab.address(0)}, {lab.address(1)}, ... workdir {lab.workdir}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "status":
        return _status()
    if args.command == "up":
        workdir = Path(args.workdir) if args.workdir else STATE_DIR / args.name
        lab = start(workdir, name=args.name, ports=args.ports, snmp_port=args.snmp_port)
        print(f"lab {lab.name} up: snmpd pid {lab.snmpd_pid} on udp port {lab.snmp_port}, "
              f"{len(lab.ports)} ports; devices {lab.address(0)}, {lab.address(1)}, ...\n"
              f"credentials: pantau-lab credentials --name {lab.name}")
        return 0
    lab = find(args.name)
    if args.command == "down":
        lab.stop()
        if lab.workdir == STATE_DIR / lab.name:
            shutil.rmtree(lab.workdir, ignore_errors=True)
        print(f"lab {lab.name} down")
    elif args.command == "fail":
        fault = {"dead": lab.blackhole, "snmp": lab.snmp_dead}.get(args.mode)
        if fault is None:
            lab.lossy(*args.addrs, probability=args.probability)
        else:
            fault(*args.addrs)
    elif args.command == "restore":
        if args.all == bool(args.addrs):
            raise _Usage("restore: give addresses or --all, not both")
        if args.all:
            lab.restore_all()
        else:
            lab.restore(*args.addrs)
    elif args.command == "port":
        setter = lab.set_admin if args.admin else lab.set_port
        setter(args.port, args.state == "up")
    elif args.command == "notify":
        _notify(lab, args)
    elif args.command == "trap":
        v = args.varbinds
        if len(v) % 3:
            raise _Usage("trap: varbinds come in threes: OID TYPE VALUE")
        lab.send_trap(args.address, args.oid, [tuple(v[i:i + 3]) for i in range(0, len(v), 3)],
                      sink=_host_port(args.to), version=args.version, inform=args.inform)
    elif args.command == "exec":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            raise _Usage("exec: give a command, e.g. pantau-lab exec -- ping -c1 127.20.1.1")
        return int(lab.run(cmd).returncode)
    elif args.command == "credentials":
        creds = _credentials(lab)
        if args.json:
            print(json.dumps(creds, indent=1))
        else:
            for key, value in creds.items():
                print(f"{key}={shlex.quote(str(value if value is not None else ''))}")
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise _Usage(f"expected HOST:PORT, e.g. 127.0.0.1:1162, not {text!r}")
    return host, int(port)


def _notify(lab: Lab, args: argparse.Namespace) -> None:
    if args.off == bool(args.to):
        raise _Usage("notify: give --to HOST:PORT or --off")
    if args.off:
        lab.set_notifications(None)
        return
    host, port = _host_port(args.to)
    lab.set_notifications(Notifications(host=host, port=port, community=lab.community,
                                        sources=tuple(args.sources or [lab.address(0)]),
                                        check_seconds=args.every))
    print(f"snmpd (pid {lab.snmpd_pid}) announces port changes to {host}:{port} from "
          f"{', '.join(lab.notifications.sources if lab.notifications else ())}")


class _Usage(Exception):
    """Bad command line that argparse could not catch."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `pantau-lab`. Exit codes: 0 ok, 1 lab failure, 2 bad usage."""
    args = _parser().parse_args(argv)
    problems = missing_prerequisites()
    if problems:
        for problem in problems:
            print(f"pantau-lab: {problem}", file=sys.stderr)
        return 1
    try:
        return _run(args)
    except _Usage as exc:
        print(f"pantau-lab: {exc}", file=sys.stderr)
        return 2
    except LabError as exc:
        print(f"pantau-lab: {exc}", file=sys.stderr)
        return 1
