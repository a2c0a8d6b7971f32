"""Runs the real agent (`python -m agent run`) as a subprocess inside the lab namespace and
reads its /metrics, for integration tests and benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lab.inventory import LabDevice, TomlValue, to_toml
from lab.lab import Lab

Labels = frozenset[tuple[str, str]]
T = TypeVar("T")


def free_port(lab: Lab) -> int:
    """A free TCP port on the lab's loopback."""
    import socket

    with lab.inside():
        s = socket.socket()
    with s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AgentProcess:
    """`with AgentProcess(lab, tmp_path, devices, sections) as agent:` starts and stops it."""

    def __init__(
        self,
        lab: Lab,
        workdir: Path,
        devices: Sequence[LabDevice],
        sections: Mapping[str, Mapping[str, TomlValue]] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.lab = lab
        self.env = dict(env or {})  # e.g. secrets referenced as { env = "VAR" }
        self.workdir = workdir
        self.port = free_port(lab)
        merged: dict[str, dict[str, TomlValue]] = {k: dict(v) for k, v in (sections or {}).items()}
        merged.setdefault("agent", {})
        merged["agent"].setdefault("listen", f"127.0.0.1:{self.port}")
        merged["agent"].setdefault("database", f"sqlite:///{workdir}/pantau.db")
        self.config = workdir / "pantau.toml"
        # an admin user for the authenticated /api/v1 routes; its token lives in a file beside
        # the config (mode 600, in the test's temp dir), so every `pantau ... -c` run finds it
        self.token = secrets.token_urlsafe(24)
        token_file = workdir / "lab-admin.token"
        token_file.touch(mode=0o600)
        token_file.write_text(self.token + "\n")
        self.config.write_text(to_toml(devices, merged) + '\n[[users]]\nname = "lab-admin"\n'
                               'role = "admin"\ntoken = { file = "lab-admin.token" }\n')
        self.log = workdir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    def start(self, ready_timeout: float = 20.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as log:
            self.proc = self.lab.popen(
                [sys.executable, "-m", "agent", "run", "-c", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"agent not ready after {ready_timeout}s:\n{self.logs()}")

    def client(self) -> httpx.Client:
        if self._client is None:
            with self.lab.inside():
                # the transport's sockets are created lazily, so connect inside the namespace
                self._client = httpx.Client(
                    base_url=f"http://127.0.0.1:{self.port}", timeout=5,
                    headers={"Authorization": f"Bearer {self.token}"})
        return self._client

    def get(self, path: str) -> httpx.Response:
        with self.lab.inside():
            return self.client().get(path)

    def metrics(self) -> dict[str, dict[Labels, float]]:
        text = self.get("/metrics").text
        out: dict[str, dict[Labels, float]] = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
        return out

    def states(self) -> dict[str, str]:
        """device -> current state."""
        return {
            dict(labels)["device"]: dict(labels)["state"]
            for labels, v in self.metrics().get("pantau_device_state", {}).items()
            if v == 1.0
        }

    def tickets(self, action: str, *args: str, timeout: float = 60
                ) -> subprocess.CompletedProcess[str]:
        """`pantau tickets ACTION -c CONFIG ARGS...` inside the lab, as a person would run it."""
        return self.lab.run([sys.executable, "-m", "agent", "tickets", action, "-c",
                             str(self.config), *args], capture_output=True, text=True,
                            timeout=timeout, env={**self.env, "PATH": "/usr/bin:/bin"})

    def wait(self, cond: Callable[[], T], timeout: float) -> T:
        """Poll `cond()` until it returns something truthy (returned); fail with the agent's
        log after `timeout` seconds."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            value = cond()
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"not within {timeout}s\n{self.logs()}")

    def took(self, cond: Callable[[], bool], timeout: float, every: float = 0.1) -> float:
        """Seconds until `cond()` held, polled every `every` s; fail after `timeout` with the
        devices as the API shows them and the end of the agent's log."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if cond():
                return time.monotonic() - start
            time.sleep(every)
        raise AssertionError(f"not within {timeout}s:\n"
                             f"{self.get('/api/v1/devices').text[:3000]}\n{self.logs()[-5000:]}")

    def stop(self, timeout: float = 5.0) -> float:
        """SIGTERM by PID; returns how long the agent took to exit (raises if > timeout)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"agent did not stop within {timeout}s of SIGTERM") from None
        return time.monotonic() - started

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def __enter__(self) -> AgentProcess:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
