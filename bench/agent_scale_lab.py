"""The agent-scale benchmark's instruments in the lab: its inventory, packet counters in the lab
namespace, a running process's CPU and peak RSS from /proc, the agent's log read as it grows
(state changes), and CPU hogs. Everything started here is stopped by PID.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lab.inventory import LabDevice, lab_devices
from lab.lab import Lab

CHAIN = "PANTAU-BENCH"
DEAD_EVERY, DEAD_AT = 20, 7  # 5 % blackholed: every 20th device, from the 8th
SNMP_EVERY, SNMP_AT = 10, 3  # 10 % polled over SNMP (never a blackholed one)
# sysUpTime's OID (1.3.6.1.2.1.1.3) in BER: in exactly one request of every poll, both of
# pantau's (a GET of sysUpTime.0 with the system group) and snmp_exporter's (a GETBULK walk
# of the column, answered in one response); no IF-MIB OID contains these bytes.
SYSUPTIME_BER = "2b060102010103"
AUTH = "lab"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Inventory:
    """One size's devices: `devices` with SNMP on 10 %, the names and addresses of the dead."""

    devices: tuple[LabDevice, ...]
    dead: frozenset[str]  # device names, blackholed
    dead_addresses: frozenset[str]

    @property
    def live(self) -> frozenset[str]:
        return frozenset(d.name for d in self.devices) - self.dead

    @property
    def snmp(self) -> tuple[LabDevice, ...]:
        return tuple(d for d in self.devices if d.snmp_auth)

    def icmp_only(self) -> tuple[LabDevice, ...]:
        return tuple(replace(d, snmp_auth=None, snmp_port=None) for d in self.devices)


def inventory(lab: Lab, n: int) -> Inventory:
    """`n` lab devices (a core with 20 children, the rest alone), SNMP on every 10th."""
    devices = [
        replace(d, snmp_auth=AUTH, snmp_port=lab.snmp_port) if i % SNMP_EVERY == SNMP_AT else d
        for i, d in enumerate(lab_devices(lab.address, n))
    ]
    dead = [d for i, d in enumerate(devices) if i % DEAD_EVERY == DEAD_AT]
    return Inventory(tuple(devices), frozenset(d.name for d in dead),
                     frozenset(d.address for d in dead))


# --- packets counted in the lab namespace -------------------------------------------------

@dataclass(frozen=True, slots=True)
class Count:
    echoes: int  # ICMP echo requests sent to any lab address
    snmp_polls: int  # SNMP requests carrying sysUpTime: one per device poll

    def __sub__(self, other: Count) -> Count:
        return Count(self.echoes - other.echoes, self.snmp_polls - other.snmp_polls)


class Counters:
    """iptables rules without a target in the lab's OUTPUT (every packet to a lab address
    passes there once, dead or alive), read with `iptables-save -c`."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        rules = [
            f"-N {CHAIN}",
            f"-A OUTPUT -j {CHAIN}",
            f"-A {CHAIN} -p icmp --icmp-type echo-request -m comment --comment echoes",
            f"-A {CHAIN} -p udp --dport {lab.snmp_port} -m string --algo bm "
            f"--hex-string |{SYSUPTIME_BER}| -m comment --comment snmp-polls",
        ]
        self._restore(rules)

    def _restore(self, rules: list[str]) -> None:
        proc = self.lab.run(["iptables-restore", "--noflush"], capture_output=True, text=True,
                            input="\n".join(["*filter", *rules, "COMMIT", ""]))
        if proc.returncode != 0:
            raise SystemExit(f"iptables-restore in {self.lab.name}: {proc.stderr.strip()}")

    def read(self) -> Count:
        proc = self.lab.run(["iptables-save", "-c", "-t", "filter"], capture_output=True,
                            text=True)
        counts: dict[str, int] = {}
        for line in str(proc.stdout).splitlines():
            m = re.match(rf"\[(\d+):\d+\] -A {CHAIN} .*--comment (\S+)", line)
            if m:
                counts[m.group(2)] = int(m.group(1))
        if set(counts) != {"echoes", "snmp-polls"}:
            raise SystemExit(f"counters missing from {self.lab.name}: {proc.stdout[-500:]}")
        return Count(counts["echoes"], counts["snmp-polls"])

    def remove(self) -> None:
        self._restore([f"-D OUTPUT -j {CHAIN}", f"-F {CHAIN}", f"-X {CHAIN}"])


# --- a process from /proc ------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def peak_rss_bytes(pid: int) -> int:
    """VmHWM of `pid`: the most resident memory it has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# --- the agent's log -----------------------------------------------------------------------

_CHANGE = re.compile(r" INFO agent\.detect\.detector: (device|check) state changed (.*)$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
_MODE = re.compile(r"agent started .*icmp_mode=(\S+)")


@dataclass(frozen=True, slots=True)
class Change:
    """One logged state change, `at` seconds (monotonic) when this process read it."""

    at: float
    device: str
    check: str
    item: str
    old: str
    new: str
    reason: str


@dataclass(slots=True)
class LogWatcher:
    """Reads the agent's log as it grows: every detector state change, in order, and each
    device's current state (check "icmp"; "unknown" until its first change)."""

    path: Path
    changes: list[Change] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    icmp_mode: str = "?"
    _offset: int = 0
    _partial: bytes = b""

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        now = time.monotonic()
        for raw in lines:
            line = raw.decode(errors="replace")
            m = _CHANGE.search(line)
            if m is None:
                mode = _MODE.search(line)
                if mode:
                    self.icmp_mode = mode.group(1)
                continue
            kv = {k: json.loads(v) if v.startswith('"') else v for k, v in _FIELD.findall(
                m.group(2))}
            change = Change(now, kv.get("device", ""), kv.get("check", ""), kv.get("item", ""),
                            kv.get("old", ""), kv.get("new", ""), kv.get("reason", ""))
            self.changes.append(change)
            if change.check == "icmp" and not change.item:
                self.states[change.device] = change.new

    def converged(self, inv: Inventory) -> bool:
        """Every live device UP and every dead one DOWN, as the log tells."""
        if len(self.states) < len(inv.devices):
            return False
        return all(self.states.get(d) == "down" for d in inv.dead) and all(
            self.states.get(d) == "up" for d in inv.live)

    def false_downs(self, inv: Inventory, since: int = 0, until: int | None = None
                    ) -> list[Change]:
        """Changes of live devices to DOWN or UNREACHABLE in changes[since:until]."""
        return [c for c in self.changes[since:until] if c.check == "icmp" and not c.item
                and c.device in inv.live and c.new in ("down", "unreachable")]

    def false_snmp_downs(self, inv: Inventory, since: int = 0, until: int | None = None
                         ) -> list[Change]:
        """SNMP checks of live devices changing to DOWN in changes[since:until]."""
        return [c for c in self.changes[since:until] if c.check == "snmp"
                and c.device in inv.live and c.new == "down"]

    def missed(self, inv: Inventory) -> set[str]:
        """Dead devices never logged DOWN."""
        seen = {c.device for c in self.changes if c.check == "icmp" and c.new == "down"}
        return set(inv.dead) - seen


def reasons(changes: Iterable[Change], top: int = 3) -> list[str]:
    """The most frequent reasons of `changes`, numbers blurred ("cancelled after #.#s")."""
    counts: dict[str, int] = {}
    for c in changes:
        key = re.sub(r"\d+(\.\d+)?", "#", c.reason.split(" probing ")[0].split(" to ")[0])
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return [f"{n}x {reason}" for reason, n in ranked]


# --- CPU hogs --------------------------------------------------------------------------------

class Hogs:
    """`n` busy-loop processes at `nice` (below 0: a higher priority than the agent's), on
    the CPUs `cpus` only when given."""

    def __init__(self, n: int, nice: int, cpus: set[int] | None = None) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        for _ in range(n):
            proc = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                    stdin=subprocess.DEVNULL)
            self.procs.append(proc)
            os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
            if cpus is not None:
                os.sched_setaffinity(proc.pid, cpus)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
