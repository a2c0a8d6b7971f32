"""The device lab: one network namespace in which a real net-snmp `snmpd` answers on every
127.x address, veth ports give it a realistic IF-MIB, and iptables rules make devices fail.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab import netns, snmpd, traps
from lab.netns import LabError
from lab.traps import Notifications, TrapVersion, Varbind

__all__ = ["CHAIN", "STATE_DIR", "Lab", "LabError", "find", "list_labs", "missing_prerequisites",
           "start"]

log = logging.getLogger(__name__)

STATE_DIR = Path("/run/pantau-lab")
CHAIN = "PANTAU-LAB"
SYSUPTIME = ".1.3.6.1.2.1.1.3.0"
SnmpVersion = Literal["1", "2c", "3", "3-sha256"]

# tool -> Debian package that provides it
_TOOLS = {
    "ip": "iproute2",
    "snmpd": "snmpd",
    "snmpget": "snmp",
    "snmptrap": "snmp",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "iptables-restore": "iptables",
    "ping": "iputils-ping",
}
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_ADDRESS_BLOCKS = 254 - 20 + 1  # second octet 20..254, 62,500 addresses each


def missing_prerequisites() -> list[str]:
    """What stops a lab from starting here: not root, or a tool missing. Empty when ready."""
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root: the lab creates network namespaces and iptables rules")
    for tool, package in _TOOLS.items():
        if shutil.which(tool) is None:
            problems.append(f"{tool} not found: apt-get install {package}")
    return problems


def _check_address(addr: str) -> str:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        raise LabError(f"not an IPv4 address: {addr!r}") from None
    if ip not in _LOOPBACK:
        raise LabError(f"lab addresses are in 127.0.0.0/8, not {addr}")
    return str(ip)


@dataclass(slots=True)
class Lab:
    """A running lab. A handle with state (snmpd's PID changes on restart), not a value.

    Credentials are random per lab; `repr()` never shows them.
    """

    name: str
    workdir: Path
    snmp_port: int
    ports: list[str]
    snmpd_pid: int
    community: str = field(repr=False)
    v3_user: str  # SHA / AES-128, authPriv
    v3_auth_key: str = field(repr=False)
    v3_priv_key: str = field(repr=False)
    # SHA-256 / AES-256 user with the same keys; None when this net-snmp lacks them.
    v3_user_sha256: str | None = None
    # where snmpd sends linkDown/linkUp (None: it sends nothing); see set_notifications
    notifications: Notifications | None = None

    # --- addresses and processes -------------------------------------------------------

    @property
    def peer_netns(self) -> str:
        """The namespace holding the far ends of the veth ports (`lab-p01b`, ...)."""
        return f"{self.name}-peers"

    @staticmethod
    def address(i: int) -> str:
        """The i-th device address (i from 0): 127.(20+i//62500).(i//250%250+1).(i%250+1).

        Never 127.0.0.1, never a .0 or .255 octet; 14.6 million distinct addresses.
        """
        if not 0 <= i < _ADDRESS_BLOCKS * 62500:
            raise LabError(f"device index out of range: {i}")
        return f"127.{20 + i // 62500}.{(i // 250) % 250 + 1}.{i % 250 + 1}"

    def inside(self) -> contextlib.AbstractContextManager[None]:
        """Switch the calling thread into the lab namespace for the `with` body."""
        return netns.enter(self.name)

    def _argv(self, argv: Iterable[str]) -> list[str]:
        return netns.exec_argv(self.name, argv)

    def run(self, argv: Iterable[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """subprocess.run of `argv` inside the lab namespace (check defaults to False)."""
        kw.setdefault("check", False)
        return subprocess.run(self._argv(argv), **kw)

    def popen(self, argv: Iterable[str], **kw: Any) -> subprocess.Popen[Any]:
        """subprocess.Popen of `argv` inside the lab namespace."""
        return subprocess.Popen(self._argv(argv), **kw)

    def _must(self, argv: list[str], stdin: str | None = None) -> str:
        proc = self.run(argv, input=stdin, capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabError(f"{argv[0]} in lab {self.name} failed: {proc.stderr.strip()}")
        return str(proc.stdout)

    # --- SNMP ------------------------------------------------------------------------------

    def snmp_args(self, version: SnmpVersion = "2c") -> list[str]:
        """net-snmp command-line options for this lab's credentials (secrets included)."""
        if version in ("1", "2c"):
            return ["-v", version, "-c", self.community]
        if version == "3":
            user, auth, priv = self.v3_user, "SHA", "AES"
        elif self.v3_user_sha256 is not None:
            user, auth, priv = self.v3_user_sha256, "SHA-256", "AES-256"
        else:
            raise LabError("this net-snmp has no SHA-256/AES-256 user")
        return ["-v", "3", "-l", "authPriv", "-u", user, "-a", auth, "-A", self.v3_auth_key,
                "-x", priv, "-X", self.v3_priv_key]

    def snmpget(
        self, address: str, *oids: str, version: SnmpVersion = "2c", timeout: float = 1.0
    ) -> dict[str, str] | None:
        """GET numeric `oids` from `address` with snmpget (one try, `timeout` seconds).

        Returns {oid: value} with raw numbers (timeticks in hundredths), or None on timeout.
        Raises LabError for any other failure.
        """
        argv = ["snmpget", *self.snmp_args(version), "-Onqt", "-t", str(timeout), "-r", "0",
                f"{_check_address(address)}:{self.snmp_port}", *oids]
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "client")}
        proc = self.run(argv, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            if "Timeout" in proc.stderr:
                return None
            raise LabError(f"snmpget {address} failed: {proc.stderr.strip()}")
        values = {}
        for line in str(proc.stdout).splitlines():
            oid, _, value = line.partition(" ")
            values[oid] = value.strip().strip('"')
        return values

    def send_trap(self, address: str, oid: str, varbinds: Sequence[Varbind] = (), *,
                  sink: tuple[str, int], version: TrapVersion = "2c", inform: bool = False,
                  uptime: int | None = None, timeout: float = 1.0, retries: int = 0) -> None:
        """Send one notification as device `address` would, with net-snmp's snmptrap inside
        the lab, from `address` as UDP source, with the lab's credentials (v3: authPriv,
        SHA/AES, engine ID `traps.engine_id(address)`). See `traps.trap_argv` for the rest.

        Returns once sent; an inform once answered. Raises LabError when snmptrap fails or an
        inform gets no answer; its message never shows a credential.
        """
        credentials = self.snmp_args(version)
        argv = traps.trap_argv(credentials, address, oid, varbinds, sink=sink,
                               version=version, inform=inform, uptime=uptime,
                               timeout=timeout, retries=retries)
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "client"), "MIBS": ""}
        proc = self.run(argv, capture_output=True, text=True, env=env,
                        timeout=10 + timeout * (retries + 1))
        if proc.returncode != 0:
            why = traps.redact(str(proc.stderr).strip(), [self.community, self.v3_auth_key,
                                                           self.v3_priv_key])
            raise LabError(f"snmptrap -v {version}{' inform' if inform else ''} from "
                           f"{address} to {sink[0]}:{sink[1]} failed: {why}")

    def _wait_snmpd(self, deadline_s: float = 10.0) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if not snmpd.pid_running(self.snmpd_pid):
                raise LabError(f"snmpd exited at start-up; see {self.workdir / 'snmpd.log'}")
            if self.snmpget(self.address(0), SYSUPTIME, timeout=0.2) is not None:
                return
        raise LabError(f"snmpd did not answer within {deadline_s:.0f}s")

    def _spawn_snmpd(self) -> None:
        self.snmpd_pid = snmpd.spawn(self.name, self.workdir, self.snmp_port)
        self._wait_snmpd()
        log.info("snmpd started", extra={"lab": self.name, "pid": self.snmpd_pid})

    def snmpd_running(self) -> bool:
        """Whether the lab's snmpd process is alive (a zombie counts as dead)."""
        return snmpd.pid_running(self.snmpd_pid)

    def _stop_snmpd(self) -> None:
        snmpd.stop(self.snmpd_pid, self.name)

    def restart_snmpd(self) -> None:
        """Stop snmpd by PID and start it again; returns once it answers (sysUpTime ~0)."""
        self._stop_snmpd()
        self._spawn_snmpd()
        self._save()

    def set_notifications(self, notifications: Notifications | None) -> None:
        """Make snmpd send linkDown/linkUp as `notifications` says (None: stop sending), by
        rewriting snmpd.conf and restarting snmpd (sysUpTime starts again from 0).

        Returns once snmpd has taken its first look at the ports: that look announces
        nothing (no burst at start-up), so a change made before it would go unannounced.
        The restart itself is announced as a switch's reboot is: nsNotifyShutdown to the old
        receiver, coldStart to the new one.
        """
        self.notifications = notifications
        _write_conf(self)
        self.restart_snmpd()
        self._await_first_check()

    def _await_first_check(self) -> None:
        if self.notifications is not None:
            # the first check runs check_seconds after snmpd read its config, which is
            # before it answered
            time.sleep(self.notifications.check_seconds + 0.2)

    # --- faults (all in the lab's INPUT chain, via the PANTAU-LAB chain) --------------------

    def _add_rules(self, addrs: Iterable[str], match: str) -> None:
        lines = [f"-A {CHAIN} -d {_check_address(a)}/32 {match}-j DROP" for a in addrs]
        if lines:
            # one iptables-restore for any number of rules: 500 rules load in ~30 ms
            self._must(["iptables-restore", "--noflush"],
                       "\n".join(["*filter", *lines, "COMMIT", ""]))

    def blackhole(self, *addrs: str) -> None:
        """Drop everything sent to `addrs`: ICMP and SNMP time out (a dead device)."""
        self._add_rules(addrs, "")

    def snmp_dead(self, *addrs: str) -> None:
        """Drop only UDP to the SNMP port of `addrs`: ping works, SNMP times out."""
        self._add_rules(addrs, f"-p udp --dport {self.snmp_port} ")

    def lossy(self, *addrs: str, probability: float = 0.3) -> None:
        """Drop each packet sent to `addrs` with `probability` (0 < p <= 1)."""
        if not 0 < probability <= 1:
            raise LabError(f"probability must be in (0, 1], not {probability}")
        self._add_rules(addrs, f"-m statistic --mode random --probability {probability:.4f} ")

    def rules(self) -> list[str]:
        """The fault rules now in force, as `iptables-save` prints them."""
        out = self._must(["iptables-save", "-t", "filter"])
        return [line for line in out.splitlines() if line.startswith(f"-A {CHAIN} ")]

    def restore(self, *addrs: str) -> None:
        """Remove every fault rule for `addrs`; other addresses keep theirs."""
        targets = {f"{_check_address(a)}/32" for a in addrs}
        deletes = []
        for rule in self.rules():
            words = rule.split()
            if "-d" in words and words[words.index("-d") + 1] in targets:
                deletes.append("-D" + rule[2:])
        if deletes:
            self._must(["iptables-restore", "--noflush"],
                       "\n".join(["*filter", *deletes, "COMMIT", ""]))

    def restore_all(self) -> None:
        """Remove every fault rule (flush the PANTAU-LAB chain)."""
        self._must(["iptables", "-F", CHAIN])

    # --- ports -------------------------------------------------------------------------------

    def _port(self, name: str) -> str:
        if name not in self.ports:
            raise LabError(f"no port {name!r} in lab {self.name}")
        return name

    def set_port(self, name: str, up: bool) -> None:
        """The interface fault: take the far end of port `name` down (or up again).

        `name` stays admin-up while its ifOperStatus turns down(2), as a cut cable does.
        snmpd caches ifTable for a few seconds, so the change shows within ~5 s.
        """
        peer = f"{self._port(name)}b"
        netns.batch(self.peer_netns, [f"link set {peer} {'up' if up else 'down'}"])

    def set_admin(self, name: str, up: bool) -> None:
        """Set port `name` itself admin up/down: ifAdminStatus and ifOperStatus both follow."""
        netns.batch(self.name, [f"link set {self._port(name)} {'up' if up else 'down'}"])

    def reset_ports(self) -> None:
        """Back to the start state: every far end up, every 4th port admin-down."""
        netns.batch(self.peer_netns, [f"link set {p}b up" for p in self.ports])
        netns.batch(self.name, [f"link set {p} {_default_state(i)}"
                                for i, p in enumerate(self.ports, 1)])

    def if_index(self, name: str) -> int:
        """ifIndex of port `name` (net-snmp on Linux uses the kernel's ifindex)."""
        out = subprocess.run(["ip", "-n", self.name, "-j", "link", "show", "dev",
                              self._port(name)], capture_output=True, text=True, check=True)
        return int(json.loads(out.stdout)[0]["ifindex"])

    # --- lifecycle ---------------------------------------------------------------------------

    def state_file(self) -> Path:
        """Where `pantau-lab` finds this lab: /run/pantau-lab/NAME.json (root only)."""
        return STATE_DIR / f"{self.name}.json"

    def _save(self) -> None:
        STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = {
            "name": self.name, "workdir": str(self.workdir), "snmp_port": self.snmp_port,
            "ports": self.ports, "snmpd_pid": self.snmpd_pid, "community": self.community,
            "v3_user": self.v3_user, "v3_auth_key": self.v3_auth_key,
            "v3_priv_key": self.v3_priv_key, "v3_user_sha256": self.v3_user_sha256,
            "notifications": self.notifications and self.notifications.state(),
        }
        tmp = self.state_file().with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=1)
        tmp.replace(self.state_file())

    def stop(self) -> None:
        """Kill snmpd by its PID, delete both namespaces (veths and rules go with them) and
        the state file. The workdir is left to its owner. Safe to call twice."""
        self._stop_snmpd()
        for ns in (self.name, self.peer_netns):
            if netns.exists(ns):
                netns.delete(ns)
        self.state_file().unlink(missing_ok=True)
        log.info("lab stopped", extra={"lab": self.name})


def _default_state(i: int) -> str:
    return "down" if i % 4 == 0 else "up"  # every 4th port admin-down: IF-MIB has both


def _write_conf(lab: Lab) -> None:
    users = [(lab.v3_user, "SHA", "AES")]
    if lab.v3_user_sha256 is not None:
        users.append((lab.v3_user_sha256, "SHA-256", "AES-256"))
    n = lab.notifications
    snmpd.write_conf(lab.workdir / "snmpd.conf", sys_name=lab.name, community=lab.community,
                     v3_users=users, v3_auth_key=lab.v3_auth_key, v3_priv_key=lab.v3_priv_key,
                     extra=() if n is None else n.conf_lines(secrets.token_hex(16)))


def start(
    workdir: Path, *, name: str | None = None, ports: int = 48, snmp_port: int = 16100,
    notifications: Notifications | None = None,
) -> Lab:
    """Build a lab and return once snmpd answers (about a second).

    Creates namespace `name` (default `pantau-lab-<pid>`) with `lo` up and unprivileged
    ICMP allowed, `ports` veth ports `lab-pNN` whose far ends (`lab-pNNb`) sit in
    `<name>-peers` (so ifTable has lo + `ports` rows), the PANTAU-LAB iptables chain, and
    snmpd on udp:0.0.0.0:`snmp_port`, sending linkDown/linkUp per `notifications` (see
    `Lab.set_notifications`). Raises LabError; on failure nothing is left behind.
    """
    problems = missing_prerequisites()
    if problems:
        raise LabError("; ".join(problems))
    if not 1 <= ports <= 999:
        raise LabError(f"ports must be 1..999, not {ports}")
    name = name or f"pantau-lab-{os.getpid()}"
    token = secrets.token_hex
    lab = Lab(
        name=name, workdir=workdir.resolve(), snmp_port=snmp_port,
        ports=[f"lab-p{i:02d}" for i in range(1, ports + 1)], snmpd_pid=0,
        community=f"lab-{token(8)}", v3_user="pantau-lab", v3_auth_key=token(12),
        v3_priv_key=token(12), v3_user_sha256="pantau-lab-sha256", notifications=notifications,
    )
    for ns in (lab.name, lab.peer_netns):
        if netns.exists(ns):
            raise LabError(f"network namespace {ns} exists: is the lab up? "
                           f"(pantau-lab down --name {lab.name})")
    lab.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        netns.create(lab.name)
        netns.create(lab.peer_netns)
        lab._must(["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"])
        netns.batch(lab.name, ["link set lo up", *_port_commands(lab)])
        netns.batch(lab.peer_netns, [f"link set {p}b up" for p in lab.ports])
        lab._must(["iptables", "-N", CHAIN])
        lab._must(["iptables", "-A", "INPUT", "-j", CHAIN])
        _write_conf(lab)
        lab._spawn_snmpd()
        if lab.snmpget(lab.address(0), SYSUPTIME, version="3-sha256") is None:
            # older net-snmp without SHA-256/AES-256: drop that user and start again
            lab.v3_user_sha256 = None
            _write_conf(lab)
            lab.restart_snmpd()
        lab._save()
        lab._await_first_check()
    except BaseException:
        with contextlib.suppress(LabError, OSError):
            lab.stop()
        raise
    log.info("lab started", extra={"lab": lab.name, "ports": ports,
                                   "seconds": round(time.monotonic() - started, 3)})
    return lab


def _port_commands(lab: Lab) -> Iterator[str]:
    for i, port in enumerate(lab.ports, 1):
        yield f"link add {port} type veth peer name {port}b netns {lab.peer_netns}"
        yield f"link set {port} {_default_state(i)}"


def list_labs() -> list[str]:
    """Names of the labs with a state file (running or left over)."""
    if not STATE_DIR.is_dir():
        return []
    return sorted(p.stem for p in STATE_DIR.glob("*.json"))


def find(name: str) -> Lab:
    """The running lab `name`, from its state file. Raises LabError if there is none."""
    try:
        state = json.loads((STATE_DIR / f"{name}.json").read_text())
    except FileNotFoundError:
        raise LabError(f"no lab {name!r} (start one: pantau-lab up --name {name})") from None
    return Lab(
        name=state["name"], workdir=Path(state["workdir"]), snmp_port=state["snmp_port"],
        ports=list(state["ports"]), snmpd_pid=state["snmpd_pid"], community=state["community"],
        v3_user=state["v3_user"], v3_auth_key=state["v3_auth_key"],
        v3_priv_key=state["v3_priv_key"], v3_user_sha256=state["v3_user_sha256"],
        notifications=Notifications.from_state(state.get("notifications")),
    )
