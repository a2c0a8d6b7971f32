"""Named network namespaces for the lab: create/delete via `ip netns`, commands inside one, and
`enter()`, which moves only the calling thread into a namespace (ctypes setns; Python 3.11 has
no os.setns).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000


class LabError(RuntimeError):
    """The lab could not be built, found or changed; the message says what to do."""


def path(name: str) -> Path:
    """The bind-mounted namespace file `ip netns add NAME` creates."""
    return NETNS_DIR / name


def exists(name: str) -> bool:
    """Whether `ip netns` knows a namespace called `name`."""
    return path(name).exists()


def create(name: str) -> None:
    """`ip netns add NAME`. Raises LabError if it exists or `ip` refuses."""
    _ip("netns", "add", name)


def delete(name: str) -> None:
    """`ip netns delete NAME`: its interfaces, rules and sockets go with it."""
    _ip("netns", "delete", name)


def exec_argv(name: str, argv: Iterable[str]) -> list[str]:
    """`argv` run inside namespace `name` (`ip netns exec` execs it in place: same PID)."""
    return ["ip", "netns", "exec", name, *argv]


def batch(name: str, commands: list[str]) -> None:
    """`ip -n NAME -batch -`: any number of `ip` commands in one process. Raises LabError."""
    proc = subprocess.run(["ip", "-n", name, "-batch", "-"], input="\n".join(commands) + "\n",
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"ip -n {name} failed: {proc.stderr.strip()}")


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def enter(name: str) -> Iterator[None]:
    """Run the body with the calling thread in namespace `name`, then switch it back.

    Only this thread moves. Sockets created inside stay in `name` after exit; threads and
    subprocesses started inside are born in `name` (threads keep it after exit). Needs
    CAP_SYS_ADMIN. Raises LabError when the namespace does not exist.
    """
    try:
        target = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LabError(f"network namespace {name!r} does not exist") from None
    try:
        # thread-self, not self: /proc/self/ns/net is the main thread's namespace.
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(original)
        finally:
            os.close(original)
    finally:
        os.close(target)
