"""One agent run of the agent-scale benchmark: `pantau run` in the lab on an inventory, watched
through its log, measured from /proc and the lab's packet counters, scraped over HTTP."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from bench.agent_scale_lab import AUTH, Count, Counters, Inventory, LogWatcher, cpu_seconds
from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab

HTTP_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
# what the benchmark reads of /metrics (the rest can be 500,000 interface series)
_WANTED = ("pantau_scheduler_", "pantau_collector_errors_total", "pantau_collector_checks_total")
_SAMPLE = re.compile(r'^([a-z_:]+)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class AgentDied(RuntimeError):
    """The agent exited while being measured."""


@dataclass(frozen=True, slots=True)
class Window:
    seconds: float
    cpu: float  # agent CPU seconds in the window
    counted: Count  # packets the lab counted in the window

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds


@dataclass(slots=True)
class Scrapes:
    """Several GETs of /metrics: their times, the body size, and what the last one said."""

    seconds: list[float] = field(default_factory=list)
    size: int = 0
    failures: list[str] = field(default_factory=list)
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def total(self, name: str, **match: str) -> float:
        return sum(v for n, labels, v in self.samples
                   if n == name and all(labels.get(k) == w for k, w in match.items()))

    def lateness(self) -> str:
        """Checks the agent itself says were late or cut by their deadline, per check, and
        its scheduler lag, as far as exposed."""
        parts = []
        for what, name, match in (("late checks", "pantau_checks_late_total", {}),
                                  ("deadline-cancelled", "pantau_collector_errors_total",
                                   {"kind": "deadline"})):
            per_check: dict[str, float] = {}
            for n, labels, v in self.samples:
                if n == name and all(labels.get(k) == w for k, w in match.items()):
                    check = labels.get("check") or labels.get("collector", "?")
                    per_check[check] = per_check.get(check, 0.0) + v
            split = ", ".join(f"{c} {v:.0f}" for c, v in sorted(per_check.items()) if v)
            parts.append(f"{what} {sum(per_check.values()):.0f}" + (f" ({split})" if split else ""))
        count = self.total("pantau_scheduler_lag_seconds_count")
        if count:
            over_1s = count - self.total("pantau_scheduler_lag_seconds_bucket", le="1.0")
            mean = self.total("pantau_scheduler_lag_seconds_sum") / count
            parts.append(f"lag mean {mean:.2f}s, >1s {over_1s / count:.1%} of {count:.0f}")
        return "; ".join(parts)


class AgentRun:
    """`with AgentRun(lab, workdir, devices, interval) as run:` the agent, started at
    `run.started` (monotonic), its log watched in `run.log`; `polling` adds [polling] keys.
    Stopped (SIGCONT, then SIGTERM, then SIGKILL, by PID) on exit."""

    def __init__(self, lab: Lab, workdir: Path, devices: Sequence[LabDevice],
                 interval_s: float, polling: Mapping[str, TomlValue] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        sections: dict[str, dict[str, TomlValue]] = {
            "polling": {"interval_seconds": interval_s, **(polling or {})}}
        if any(d.snmp_auth for d in devices):
            sections[f"snmp.auth.{AUTH}"] = {"version": "2c", "community": {"env": "LAB_COMM"}}
        self.lab = lab
        self.agent = AgentProcess(lab, workdir, devices, sections,
                                  env={"LAB_COMM": lab.community})
        self.log = LogWatcher(self.agent.log)
        self.started = 0.0
        self._client: httpx.Client | None = None

    @property
    def pid(self) -> int:
        assert self.agent.proc is not None
        return self.agent.proc.pid

    def __enter__(self) -> AgentRun:
        self.started = time.monotonic()
        try:
            self.agent.start(ready_timeout=READY_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> str:
        """Stop the agent; a note when it was slow or had to be killed."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc = self.agent.proc
        if proc is None or proc.poll() is not None:
            return ""
        os.kill(proc.pid, signal.SIGCONT)  # in case a starvation run stopped it
        try:
            took = self.agent.stop(timeout=STOP_TIMEOUT_S)
        except RuntimeError as exc:
            return str(exc)
        return f"stopped in {took:.1f}s" if took > 10 else ""

    def alive(self) -> None:
        proc = self.agent.proc
        if proc is None or proc.poll() is not None:
            raise AgentDied(f"agent exited ({proc and proc.returncode}):\n{self.agent.logs()}")

    def watch(self, seconds: float) -> None:
        """Keep reading the log for `seconds`."""
        end = time.monotonic() + seconds
        while True:
            self.log.poll()
            self.alive()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.25, left))

    def converge(self, inv: Inventory, limit_s: float) -> float | None:
        """Seconds from start until the log shows every live device UP and every dead one
        DOWN; None when that has not happened `limit_s` seconds after the start."""
        while time.monotonic() - self.started < limit_s:
            self.watch(0.25)
            if self.log.converged(inv):
                return self.log.changes[-1].at - self.started if self.log.changes else 0.0
        return None

    def window(self, seconds: float, counters: Counters) -> Window:
        """The agent's CPU and the lab's packet counts over `seconds` of steady running."""
        c0, k0, t0 = cpu_seconds(self.pid), counters.read(), time.monotonic()
        self.watch(seconds)
        c1, k1, t1 = cpu_seconds(self.pid), counters.read(), time.monotonic()
        return Window(t1 - t0, c1 - c0, k1 - k0)

    def client(self) -> httpx.Client:
        if self._client is None:
            with self.lab.inside():  # its sockets are made lazily, by this thread, in the lab
                self._client = httpx.Client(
                    base_url=f"http://127.0.0.1:{self.agent.port}", timeout=HTTP_TIMEOUT_S,
                    headers={"Authorization": f"Bearer {self.agent.token}"})
        return self._client

    def get(self, path: str) -> httpx.Response:
        with self.lab.inside():
            return self.client().get(path)

    def scrape_metrics(self, times: int) -> Scrapes:
        """GET /metrics `times` times in a row; parse what the benchmark reads of the last."""
        out = Scrapes()
        text = ""
        for _ in range(times):
            t0 = time.perf_counter()
            try:
                resp = self.get("/metrics")
            except httpx.HTTPError as exc:
                out.failures.append(f"{type(exc).__name__} after {time.perf_counter() - t0:.1f}s")
                continue
            out.seconds.append(time.perf_counter() - t0)
            out.size, text = len(resp.content), resp.text
        for line in text.splitlines():
            if line.startswith(_WANTED):
                m = _SAMPLE.match(line)
                if m:
                    out.samples.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")),
                                        float(m.group(3))))
        return out

    def api_states(self) -> dict[str, str] | str:
        """device -> state from /api/v1/devices, or why it could not be read."""
        try:
            resp = self.get("/api/v1/devices")
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return {d["name"]: d["state"] for d in resp.json()["devices"]}
