"""The agent-scale benchmark's results, per size and for the starvation run, and the table it
prints at the end (one column per size)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.agent_scale_lab import Change, median
from bench.agent_scale_ref import ExporterRun, FpingRun
from bench.agent_scale_run import Scrapes, Window

NA = "n/a"


@dataclass(slots=True)
class SizeResult:
    n: int
    dead: int
    snmp: int
    interval: float
    converged: float | None = None  # seconds from start, full run
    icmp_converged: float | None = None
    icmp_mode: str = "?"
    full: Window | None = None
    icmp: Window | None = None
    fping: FpingRun | None = None
    exporter: ExporterRun | None = None
    metrics: Scrapes | None = None
    api: dict[str, str] | str = ""
    rss: int = 0
    false_down: list[Change] = field(default_factory=list)
    false_down_http: list[Change] = field(default_factory=list)  # after the /metrics GETs
    false_down_icmp: list[Change] = field(default_factory=list)
    false_snmp: list[Change] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # -- derived figures (None when a phase did not run) -------------------------------------

    def agent_per_echo(self) -> float | None:
        w = self.icmp
        return w.cpu / w.counted.echoes if w and w.counted.echoes else None

    def fping_per_echo(self) -> float | None:
        f = self.fping
        return f.cpu / f.counted.echoes if f and f.counted.echoes else None

    def agent_per_poll(self) -> float | None:
        w, per_echo = self.full, self.agent_per_echo()
        if w is None or per_echo is None or not w.counted.snmp_polls:
            return None
        return (w.cpu - w.counted.echoes * per_echo) / w.counted.snmp_polls

    def exporter_per_poll(self) -> float | None:
        e = self.exporter
        return e.cpu / e.counted.snmp_polls if e and e.counted.snmp_polls else None

    def api_summary(self) -> str:
        if isinstance(self.api, str):
            return f"failed: {self.api[:40]}" if self.api else NA
        counts: dict[str, int] = {}
        for state in self.api.values():
            counts[state] = counts.get(state, 0) + 1
        return " ".join(f"{k} {v}" for k, v in sorted(counts.items()))


@dataclass(slots=True)
class Starvation:
    n: int
    hog_seconds: float
    stop_seconds: float
    nice: int
    converged: float | None = None
    phases: list[list[Change]] = field(default_factory=list)  # hogs, SIGSTOP, after
    reconverged: bool = False
    reasons: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _us(x: float | None) -> str:
    return f"{x * 1e6:.1f} µs" if x is not None else NA


def _ms(x: float | None) -> str:
    return f"{x * 1e3:.2f} ms" if x is not None else NA


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else NA


def _conv(r: SizeResult, seconds: float | None) -> str:
    if seconds is None:
        return "not converged"
    return f"{seconds:.0f} s = {seconds / r.interval:.1f} iv"


def _unsteady(*converged: float | None) -> str:
    return " *" if None in converged else ""


def _false(changes: Sequence[Change]) -> str:
    devices = len({c.device for c in changes})
    return f"{len(changes)} ({devices} devices)"


ROWS: list[tuple[str, Callable[[SizeResult], str]]] = [
    ("devices (dead / with SNMP)", lambda r: f"{r.n} ({r.dead}/{r.snmp})"),
    ("convergence (full run)", lambda r: _conv(r, r.converged)),
    ("convergence (ICMP-only run)", lambda r: _conv(r, r.icmp_converged)),
    ("agent CPU per minute", lambda r: f"{r.full.cpu / r.full.seconds * 60:.1f} s"
     + _unsteady(r.converged) if r.full else NA),
    ("agent average cores", lambda r: f"{r.full.cores:.2f}" + _unsteady(r.converged)
     if r.full else NA),
    ("CPU/echo agent (ICMP-only run)", lambda r: _us(r.agent_per_echo())
     + _unsteady(r.icmp_converged)),
    ("CPU/echo fping", lambda r: _us(r.fping_per_echo())),
    ("  agent / fping", lambda r: _ratio(r.agent_per_echo(), r.fping_per_echo())),
    ("CPU/SNMP poll agent (full-echoes)", lambda r: _ms(r.agent_per_poll())
     + _unsteady(r.converged, r.icmp_converged)),
    ("CPU/SNMP poll snmp_exporter", lambda r: _ms(r.exporter_per_poll())),
    ("  agent / snmp_exporter", lambda r: _ratio(r.agent_per_poll(), r.exporter_per_poll())),
    ("echoes / SNMP polls in window", lambda r: f"{r.full.counted.echoes}/"
     f"{r.full.counted.snmp_polls}" if r.full else NA),
    ("peak RSS (VmHWM)", lambda r: f"{r.rss / 2**20:.0f} MiB"),
    ("/metrics median / max", lambda r: f"{median(r.metrics.seconds):.2f}/"
     f"{max(r.metrics.seconds):.2f} s" if r.metrics and r.metrics.seconds else "failed"),
    ("/metrics size", lambda r: f"{r.metrics.size / 1e6:.1f} MB" if r.metrics else NA),
    ("false DOWN/UNREACH (full run)", lambda r: _false(r.false_down)),
    ("  after /metrics+API GETs", lambda r: _false(r.false_down_http)),
    ("false DOWN/UNREACH (ICMP-only)", lambda r: _false(r.false_down_icmp)),
    ("false SNMP DOWN (full run)", lambda r: _false(r.false_snmp)),
]


def print_table(results: Sequence[SizeResult], starved: Starvation | None,
                load: Sequence[tuple[float, float, float]]) -> None:
    if results:
        width = max(16, *(len(f(r)) for r in results for _, f in ROWS))
        print()
        print(f"{'':34}" + "".join(f"{r.n:>{width + 2},}" for r in results))
        for label, f in ROWS:
            print(f"{label:34}" + "".join(f"  {f(r):>{width}}" for r in results))
        print("CPU/echo: agent CPU over the steady window of an ICMP-only run / echo requests")
        print("  the lab counted then; fping the same way, one run per interval, same targets.")
        print("CPU/SNMP poll: (full run's CPU - its echoes x the ICMP-only CPU/echo) / its SNMP")
        print("  polls; snmp_exporter's CPU over the same number of scrapes, same rate.")
        print("*: a run that had not converged: its window is no steady state (and the SNMP")
        print("  figure, a difference of two such runs, can even come out below zero).")
    for r in results:
        print(f"N={r.n}: icmp mode {r.icmp_mode}; API states at the end: {r.api_summary()}")
        if r.metrics is not None:
            print(f"  agent's own: {r.metrics.lateness()}"
                  + (f"; /metrics failures: {r.metrics.failures}" if r.metrics.failures else ""))
        for reason in r.reasons:
            print(f"  false DOWN reason: {reason}")
        for note in filter(None, r.notes):
            print(f"  note: {note}")
    if starved is not None:
        s = starved
        counts = [_false(p) for p in s.phases] or [NA] * 3
        converged = f"in {s.converged:.0f} s" if s.converged is not None else "NOT"
        print(f"\nstarvation, {s.n} devices: converged {converged}; "
              f"2 hogs at nice {s.nice} for {s.hog_seconds:g} s, then SIGSTOP {s.stop_seconds:g}"
              f" s, then 2 intervals")
        print(f"  false DOWN/UNREACH: during hogs {counts[0]}, during SIGSTOP {counts[1]}, "
              f"after SIGCONT {counts[2]}; converged again at the end: "
              f"{'yes' if s.reconverged else 'no'}")
        for reason in s.reasons:
            print(f"  false DOWN reason: {reason}")
    print("load average (1/5/15 min) at start and after each run: "
          + ", ".join("/".join(f"{x:.1f}" for x in la) for la in load))
