"""The lab's net-snmp `snmpd`: its config file (the lab's random credentials) and its process,
spawned inside the lab namespace and stopped by PID, never by name."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from lab import netns
from lab.netns import LabError


def pid_running(pid: int) -> bool:
    """True while `pid` runs; reaps it when it is our child. A zombie counts as gone."""
    if pid <= 0:  # waitpid(0) would reap any child of ours
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by another `pantau-lab` process)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def write_conf(path: Path, *, sys_name: str, community: str,
               v3_users: Sequence[tuple[str, str, str]], v3_auth_key: str,
               v3_priv_key: str, extra: Sequence[str] = ()) -> None:
    """Write snmpd.conf (mode 0600): read-only v1/v2c `community`, each (user, auth, priv)
    of `v3_users` as an authPriv user with the lab's keys, then the `extra` lines (the
    notification set-up of `lab.traps.Notifications.conf_lines`)."""
    lines = [
        "# pantau device lab: written at each start; random credentials, do not share",
        "view all included .1",
        f"rocommunity {community} default -V all",
        *(f"createUser {u} {a} {v3_auth_key} {p} {v3_priv_key}" for u, a, p in v3_users),
        *(f"rouser {u} priv -V all" for u, _, _ in v3_users),
        "dontLogTCPWrappersConnects yes",
        f"sysName {sys_name}",
        "sysLocation pantau device lab",
        "sysContact root@localhost",
        *extra,
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")


def spawn(namespace: str, workdir: Path, port: int) -> int:
    """Start snmpd in `namespace` on udp:0.0.0.0:`port` with workdir/snmpd.conf; its PID."""
    w = workdir
    argv = netns.exec_argv(namespace, [
        "snmpd", "-f", "-C", "-c", str(w / "snmpd.conf"), "-p", str(w / "snmpd.pid"),
        "-Lf", str(w / "snmpd.log"), f"udp:0.0.0.0:{port}"])
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(w / "persist"),
           # no MIB files: Debian ships none of the IETF ones, and loading the rest only
           # fills the log with errors
           "MIBS": "", "MIBDIRS": str(w / "no-mibs")}
    out = os.open(w / "snmpd.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # posix_spawn rather than Popen: `pantau-lab up` exits while snmpd keeps running.
        # `ip netns exec` execs snmpd in place, so this PID is snmpd's.
        return os.posix_spawnp(argv[0], argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, out, 2),
        ])
    finally:
        os.close(out)


def is_lab_snmpd(pid: int, namespace: str) -> bool:
    """Whether `pid` is an snmpd in `namespace`: guards against PID reuse when the PID comes
    from a state file."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        ns = os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return False
    return comm == "snmpd" and netns.exists(namespace) and ns == (
        os.stat(netns.path(namespace)).st_ino)


def stop(pid: int, namespace: str) -> None:
    """SIGTERM, then SIGKILL, the snmpd `pid` of `namespace`; returns once it has exited.
    Raises LabError when `pid` is some other process or does not exit."""
    if not pid_running(pid):
        return
    if not is_lab_snmpd(pid, namespace):
        raise LabError(f"PID {pid} is not this lab's snmpd; not killing it")
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not pid_running(pid):
                return
            time.sleep(0.02)
    raise LabError(f"snmpd (PID {pid}) did not exit")
