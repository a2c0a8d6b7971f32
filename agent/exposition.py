"""The text of the snapshot's families, rendered per device and cached while the device's view
is unchanged, and the /metrics body scrapes read: the last render, refreshed in the
background (on the loop in short slices; joined and compressed in a thread)."""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from prometheus_client.utils import floatToGoString

from agent.core.clock import Clock
from agent.core.model import CheckResult, Device, DeviceState
from agent.metrics import (
    CHECK_DURATION,
    CHECK_UP,
    DEVICE_REBOOTS,
    DEVICE_STATE,
    DEVICE_UP,
    DEVICES_CONFIGURED,
    ICMP_LOSS,
    ICMP_RTT,
    INTERFACE_FAMILIES,
    SCHEDULER_IN_FLIGHT,
    SNMP_INFO,
    SNMP_UP,
    SNMP_UPTIME,
    STATE_TRANSITIONS,
    STATES,
    STEP_REMAINING,
    STEP_SLA,
    TICKETS_OPEN,
    DeviceView,
    Metrics,
    Snapshot,
)

log = logging.getLogger(__name__)

# The per-device families, in exposition order: (name, help, type).
_HEAD = (
    (DEVICE_UP, "1 when the device is UP (hard state), else 0.", "gauge"),
    (DEVICE_STATE, "1 for the device's current state.", "gauge"),
    (ICMP_RTT, "Mean ICMP round-trip time of the last cycle.", "gauge"),
    (ICMP_LOSS, "ICMP packet loss over the last cycle (0..1).", "gauge"),
    (CHECK_UP, "1 when the last check of that kind succeeded.", "gauge"),
    (CHECK_DURATION, "Duration of the last check.", "gauge"),
)
_SNMP = (
    (SNMP_UP, "1 when the last SNMP poll answered.", "gauge"),
    (SNMP_UPTIME, "sysUpTime of the device.", "gauge"),
    # sysDescr stays out: free text (often several lines and a firmware build) would make
    # a new series at every upgrade; /api/v1/devices shows it.
    (SNMP_INFO, "The device's SNMP system group.", "gauge"),
)
_IFACES = tuple((fam, text, "counter" if counter else "gauge")
                for fam, text, counter in INTERFACE_FAMILIES.values())
_SLOT = {sample: i for i, sample in enumerate(INTERFACE_FAMILIES)}
_IFACE_SAMPLES = tuple(f"{fam}_total" if kind == "counter" else fam for fam, _, kind in _IFACES)
_N = len(_HEAD) + len(_SNMP) + len(_IFACES)
_INF = math.inf


def _value(value: float) -> str:
    """A sample value as prometheus_client writes it ("1.0", "1e+06", "NaN")."""
    if value.__class__ is float and -_INF < value < 1e6:
        return repr(value)  # what floatToGoString writes for these, at a third of its cost
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]  # untyped library


def _escape(value: str) -> str:
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(pairs: Iterable[tuple[str, str]]) -> str:
    """`a="1",b="2"`, escaped as the text format wants."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def family(name: str, text: str, kind: str, lines: Iterable[str]) -> str:
    """A family's HELP and TYPE lines, then its samples."""
    doc = text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n{''.join(lines)}"


def tickets_text(snap: Snapshot) -> str:
    """The open tickets' families: per step and owner, each step's SLA, the time left;
    none at all on a cluster member that is not the leader (sums over agents stay right)."""
    if not snap.leader:
        return ""
    counts: dict[tuple[str, str], int] = {}
    urgent: dict[tuple[str, str, str], float] = {}
    for t in snap.tickets:
        step = str(t.step)
        counts[(step, t.owner)] = counts.get((step, t.owner), 0) + 1
        if t.remaining_seconds is not None:
            key = (t.device, t.owner, step)
            urgent[key] = min(urgent.get(key, t.remaining_seconds), t.remaining_seconds)
    return "".join((
        family(TICKETS_OPEN, "Open tickets waiting in each step.", "gauge",
               (_sample(TICKETS_OPEN, (("step", st), ("owner", o)), n)
                for (st, o), n in sorted(counts.items()))),
        family(STEP_SLA, "Each SOP step's SLA (nominal).", "gauge",
               (_sample(STEP_SLA, (("step", str(no)),), sec)
                for no, sec in sorted(snap.step_sla_seconds.items()))),
        family(STEP_REMAINING, "Time left before the open step of the device's ticket "
               "breaches (negative once breached; the most urgent when a device has several).",
               "gauge", (_sample(STEP_REMAINING, (("device", d), ("owner", o), ("step", st)), sec)
                         for (d, o, st), sec in sorted(urgent.items()))),
    ))


def _sample(name: str, pairs: Iterable[tuple[str, str]], value: float) -> str:
    return f"{name}{{{labels(pairs)}}} {_value(value)}\n"


class HeadLines:
    """Writes one device's lines of the `_HEAD` families. What depends only on the device
    (label sets), its state, or a check's status is made once and kept, so a render of a
    device with a new result formats just its values (duration, RTT, loss)."""

    __slots__ = ("_checks", "_dev", "_loss", "_rtt", "_state", "_state_lines", "_up", "device")

    def __init__(self, device: Device) -> None:
        self.device = device
        self._dev = dev = (("device", device.name),)
        self._up = _prefix(DEVICE_UP, (*dev, ("owner", device.owner)))
        self._rtt = _prefix(ICMP_RTT, dev)
        self._loss = _prefix(ICMP_LOSS, dev)
        self._state: DeviceState | None = None
        self._state_lines = ("", "")
        self._checks: dict[str, tuple[str, str, str]] = {}  # check -> up 1, up 0, duration

    def lines(self, view: DeviceView) -> tuple[str, ...]:
        state = view.state
        if state is not self._state:
            dev = self._dev
            self._state = state
            self._state_lines = (
                f"{self._up}{'1.0' if state is DeviceState.UP else '0.0'}\n",
                "".join(_sample(DEVICE_STATE, (*dev, ("state", s.value)),
                                1.0 if state is s else 0.0) for s in STATES))
        results: Mapping[str, CheckResult] = view.results
        ups: list[str] = []
        durations: list[str] = []
        for check in sorted(results) if len(results) > 1 else results:
            result = results[check]
            prefixes = self._checks.get(check)
            if prefixes is None:
                prefixes = self._checks[check] = self._check_prefixes(check)
            ups.append(prefixes[0] if result.status.answered else prefixes[1])
            durations.append(f"{prefixes[2]}{_value(result.duration_seconds)}\n")
        rtt = loss = ""
        icmp = results.get("icmp")
        if icmp is not None:
            value = icmp.sample("icmp_rtt_seconds")
            rtt = "" if value is None else f"{self._rtt}{_value(value)}\n"
            value = icmp.sample("icmp_packet_loss_ratio")
            loss = "" if value is None else f"{self._loss}{_value(value)}\n"
        return (*self._state_lines, rtt, loss, "".join(ups), "".join(durations))

    def _check_prefixes(self, check: str) -> tuple[str, str, str]:
        pairs = (*self._dev, ("check", check))
        up = _prefix(CHECK_UP, pairs)
        return f"{up}1.0\n", f"{up}0.0\n", _prefix(CHECK_DURATION, pairs)


def _prefix(name: str, pairs: Iterable[tuple[str, str]]) -> str:
    """`name{labels} `: a sample line without its value."""
    return f"{name}{{{labels(pairs)}}} "


def snmp_text(name: str, snmp: CheckResult | None) -> tuple[str, ...]:
    """Device `name`'s lines of the `_SNMP` and `_IFACES` families, from its last SNMP result
    only (the bulk of the exposition: kept while that result is the same)."""
    out = [""] * (len(_SNMP) + len(_IFACES))
    if snmp is None:
        return tuple(out)
    dev = (("device", name),)
    out[0] = _sample(SNMP_UP, dev, 1.0 if snmp.status.answered else 0.0)
    if not snmp.status.answered:
        return tuple(out)  # stale interface data would lie: their series vanish while down
    facts = dict(snmp.info)
    if facts:
        out[2] = _sample(SNMP_INFO, (*dev, ("sys_name", facts.get("sysName", "")),
                                     ("sys_object_id", facts.get("sysObjectID", ""))), 1.0)
    parts: list[list[str]] = [[] for _ in _IFACES]
    first = len(_SNMP)
    device_label = labels(dev)
    for s in snmp.samples:
        if not s.labels:
            if s.name == "snmp_uptime_seconds":
                out[1] = _sample(SNMP_UPTIME, dev, s.value)
            continue
        slot = _SLOT.get(s.name)
        if slot is not None:  # the bulk of the exposition: one f-string per line
            parts[slot].append(f'{_IFACE_SAMPLES[slot]}{{{device_label},interface='
                               f'"{_escape(s.labels[0][1])}"}} {_value(s.value)}\n')
    for slot, lines in enumerate(parts):
        out[first + slot] = "".join(lines)
    return tuple(out)


@dataclass(slots=True)
class _Cached:
    view: DeviceView
    head: HeadLines
    text: tuple[bytes, ...]  # encoded once, so a render joins bytes and copies the body once


def _head(name: str, text: str, kind: str) -> bytes:
    return family(name, text, kind, ()).encode()


class DeviceTexts:
    """Per-device text, kept while the device's view is the same: same device, state and
    results mapping (the pipeline replaces a device's mapping whenever a result arrives).
    Not thread-safe: one renderer at a time (the app's Exposition runs one render at a time)."""

    def __init__(self) -> None:
        self._cache: dict[str, _Cached] = {}
        self.rendered = 0  # devices rendered anew: the work counter the tests read
        self.snmp_rendered = 0  # of which with their SNMP and interface lines

    def text(self, snap: Snapshot) -> str:
        """The exposition of every snapshot family (devices, SNMP, interfaces, tickets)."""
        return b"".join(self.chunks(snap)).decode()

    def chunks(self, snap: Snapshot) -> list[bytes]:
        """`text(snap)` as encoded pieces, in order (mostly each device's cached lines)."""
        return self.assemble(snap, self.refresh(snap.devices))

    def refresh(self, views: Sequence[DeviceView]) -> list[tuple[bytes, ...]]:
        """Each view's lines, encoded: kept from the last render while the view is the same,
        else rendered anew. A render may refresh the snapshot's devices in slices (see
        `render_parts`) and hand all of them, in order, to `assemble`."""
        cache = self._cache
        texts: list[tuple[bytes, ...]] = []
        for view in views:
            hit = cache.get(view.device.name)
            if hit is None or (hit.view.device is not view.device
                               and hit.view.device != view.device):
                head = HeadLines(view.device)
                snmp = view.results.get("snmp")
                text = tuple(t.encode() for t in (
                    *head.lines(view), *snmp_text(view.device.name, snmp)))
                hit = cache[view.device.name] = _Cached(view, head, text)
                self.rendered += 1
                self.snmp_rendered += snmp is not None
            elif hit.view.results is not view.results or hit.view.state is not view.state:
                snmp = view.results.get("snmp")
                if snmp is hit.view.results.get("snmp"):  # e.g. an ICMP result: keep the SNMP part
                    tail = hit.text[len(_HEAD):]
                else:
                    tail = tuple(t.encode() for t in snmp_text(view.device.name, snmp))
                    self.snmp_rendered += snmp is not None
                text = tuple(t.encode() for t in hit.head.lines(view)) + tail
                hit.view, hit.text = view, text
                self.rendered += 1
            texts.append(hit.text)
        return texts

    def assemble(self, snap: Snapshot, texts: list[tuple[bytes, ...]]) -> list[bytes]:
        """The exposition's pieces: `texts` (`refresh` of every device of `snap`, in order)
        family by family, with the snapshot's other families between them."""
        cache = self._cache
        if len(cache) > len(texts):  # removed devices: their series (and text) go
            names = {v.device.name for v in snap.devices}
            for gone in [n for n in cache if n not in names]:
                del cache[gone]
        out: list[bytes] = []

        def per_device(first: int, families: tuple[tuple[str, str, str], ...]) -> None:
            for i, (name, text, kind) in enumerate(families, first):
                out.append(_head(name, text, kind))
                out.extend([x[i] for x in texts])

        per_device(0, _HEAD)
        out.append("".join((
            family(f"{STATE_TRANSITIONS}", "Hard state changes, by check and new state.",
                   "counter", (_sample(f"{STATE_TRANSITIONS}_total", (("check", c), ("state", s)),
                                       n) for (c, s), n in sorted(snap.transitions.items()))),
            family(DEVICES_CONFIGURED, "Devices in the inventory.", "gauge",
                   [f"{DEVICES_CONFIGURED} {_value(len(snap.devices))}\n"]),
            family(SCHEDULER_IN_FLIGHT, "Checks running right now.", "gauge",
                   [f"{SCHEDULER_IN_FLIGHT} {_value(snap.in_flight)}\n"]),
        )).encode())
        per_device(len(_HEAD), _SNMP)
        out.append(family(DEVICE_REBOOTS, "Reboots seen (sysUpTime went back).", "counter",
                          (_sample(f"{DEVICE_REBOOTS}_total", (("device", d),), n)
                           for d, n in sorted(snap.reboots.items()))).encode())
        per_device(len(_HEAD) + len(_SNMP), _IFACES)
        out.append(tickets_text(snap).encode())
        return out


@dataclass(frozen=True, slots=True)
class Body:
    """One render's bytes: the text, and its gzip (unless the exposition was made without)."""

    plain: bytes
    gzipped: bytes | None = None


# A render refreshes devices in slices and lets the loop run between slices that took this
# long: rendering in a thread instead holds the GIL for whole switch intervals, and the
# loop's syscalls (an echo's sendto, an HTTP write) can each wait up to 5 ms for it. It comes
# and goes: bench/gil_convoy.py's bursts of 333 sendto take 1-2 ms alone; beside a rendering
# thread most runs stay so, some reach 0.1-1.9 s (one run's median was 540 ms).
SLICE_DEVICES = 64
SLICE_SECONDS = 0.005


async def render_parts(metrics: Metrics, snap: Snapshot, clock: Clock,
                       slice_seconds: float = SLICE_SECONDS) -> list[bytes]:
    """The pieces of the body for `snap`, rendered on the loop: the devices in slices, the
    loop let through whenever a slice ends `slice_seconds` after the last pause."""
    texts = metrics.device_texts
    devices = snap.devices
    done: list[tuple[bytes, ...]] = []
    began = clock.monotonic()
    for first in range(0, len(devices), SLICE_DEVICES):
        done += texts.refresh(devices[first:first + SLICE_DEVICES])
        if clock.monotonic() - began >= slice_seconds:
            await asyncio.sleep(0)
            began = clock.monotonic()
    chunks = texts.assemble(snap, done)
    chunks.append(metrics.own_text(snap))
    return chunks


def pack_body(chunks: list[bytes], gzip: bool) -> Body:
    """Join and compress (in a thread: joining is one copy; zlib drops the GIL as it works)."""
    plain = b"".join(chunks)
    # level 1: 45 MB of exposition in ~0.2 s to ~1/17
    return Body(plain, zlib.compress(plain, 1, wbits=31) if gzip else None)


MAX_PERIOD_SECONDS = 10.0  # a served body is at most this old (plus one render) while scraped
# A scraper whose last CADENCE_SCRAPES scrapes came at intervals within CADENCE_TOLERANCE of
# their median (one Prometheus, in practice) gets one render per scrape, ready LEAD before it.
CADENCE_SCRAPES = 4
CADENCE_TOLERANCE = 0.2
MIN_LEAD_SECONDS = 1.0


class Exposition:
    """The /metrics body as scrapes read it: the last complete render, kept fresh in the
    background (`render_parts` on the loop in slices, then `pack` in a thread).

    A body is re-rendered once it is older than its `period`: `max_age_seconds`, or longer when
    renders are slow, so that rendering takes at most `render_share` of the time (the period is
    then at most `max_period_seconds`). `run()` (the app runs it from start-up) re-renders each
    period while scrapes come, each `idle_period_seconds` when none came for `idle_seconds`; a
    scrape gets the last body at once. Scraped at a steady cadence longer than the period (one
    Prometheus every 15 s), it renders once per scrape instead, finishing shortly before the
    next scrape is due: renders nobody reads cost the most CPU of an agent at 10,000 devices,
    and the body served is fresher too. A scrape that finds the body older than its period
    starts (or joins) a render and waits for it at most `wait_seconds`, and only when the last
    render took no longer. Only the first body is waited for. A render takes a snapshot on the
    loop (O(devices) references); unchanged since the last render, only the body's age resets.
    """

    def __init__(self, metrics: Metrics, snapshot: Callable[[], Snapshot], clock: Clock,
                 *, max_age_seconds: float = 0.0, wait_seconds: float = 0.3,
                 render_share: float = 0.05, max_period_seconds: float = MAX_PERIOD_SECONDS,
                 idle_seconds: float = 300.0, idle_period_seconds: float = 60.0,
                 gzip: bool = True,
                 pack: Callable[[list[bytes], bool], Body] = pack_body) -> None:
        self._metrics = metrics
        self._pack = pack  # run in a thread: joins the pieces, and compresses
        self._snapshot = snapshot
        self._clock = clock
        self.max_age_seconds = max_age_seconds
        self.wait_seconds = wait_seconds
        self.render_share = render_share
        self.max_period_seconds = max_period_seconds
        self.idle_seconds = idle_seconds
        self.idle_period_seconds = idle_period_seconds
        self._body: Body | None = None
        self._snap: Snapshot | None = None
        self._at = 0.0  # when the snapshot of `_body` was taken (or found unchanged)
        self._render_seconds = 0.0  # how long the last render took
        self._scraped: float | None = None
        self._scrapes: deque[float] = deque(maxlen=CADENCE_SCRAPES)
        self.gzip = gzip  # renders compress too: Prometheus asks for gzip
        self._task: asyncio.Task[Body] | None = None
        self.renders = 0

    @property
    def period(self) -> float:
        """Seconds a body is served before it is rendered again."""
        slow = min(self._render_seconds / self.render_share, self.max_period_seconds)
        return max(self.max_age_seconds, slow)

    @property
    def cadence(self) -> float | None:
        """The interval of the last scrapes when they came steadily and less often than the
        period; None otherwise (few scrapes yet, several scrapers, or scraped all the time)."""
        times = self._scrapes
        if len(times) < CADENCE_SCRAPES:
            return None
        gaps = sorted(b - a for a, b in pairwise(times))
        median = gaps[len(gaps) // 2]
        if median <= self.period or any(
                abs(gap - median) > CADENCE_TOLERANCE * median for gap in gaps):
            return None
        return median

    def _next_render(self) -> float:
        """When run() renders next while scraped (monotonic)."""
        cadence = self.cadence
        if cadence is None:
            return self._at + self.period
        # the first expected scrape that the body in hand was not rendered for
        lead = max(2 * self._render_seconds, MIN_LEAD_SECONDS)
        due = self._scrapes[-1] + cadence - lead
        if due <= self._at:
            due += cadence * math.ceil((self._at - due) / cadence + 1e-9)
        return due

    async def body(self) -> bytes:
        """The exposition text (see `scrape`)."""
        return (await self.scrape()).plain

    async def scrape(self) -> Body:
        """The body for one scrape (see the class)."""
        now = self._scraped = self._clock.monotonic()
        self._scrapes.append(now)
        body = self._body
        if body is not None and now - self._at < self.period:
            return body
        task = self._start(now)
        if task is None:
            assert body is not None  # unchanged snapshot: the body stands
            return body
        if body is None:
            return await asyncio.shield(task)
        if self._render_seconds > self.wait_seconds:
            return body  # it would not finish in time
        done, _ = await asyncio.wait({task}, timeout=self.wait_seconds)
        return task.result() if done else body

    def _start(self, now: float) -> asyncio.Task[Body] | None:
        """The running render, else a new one if the snapshot changed; None when unchanged."""
        if self._task is not None:
            return self._task
        snap = self._snapshot()  # on the loop: the detector is not thread-safe
        if self._body is not None and snap == self._snap:
            self._at = now
            return None  # identical views compare by identity: O(devices)
        self._task = asyncio.get_running_loop().create_task(self._render(snap, now))
        return self._task

    async def _render(self, snap: Snapshot, started: float) -> Body:
        try:
            chunks = await render_parts(self._metrics, snap, self._clock)
            body = await asyncio.to_thread(self._pack, chunks, self.gzip)
            self._body, self._snap, self._at = body, snap, started
            self._render_seconds = self._clock.monotonic() - started
            self.renders += 1
            return body
        finally:
            self._task = None

    async def run(self) -> None:
        """Keep the body fresh until cancelled (see the class); the first render at once."""
        if self.max_age_seconds <= 0:
            raise ValueError("Exposition.run needs max_age_seconds > 0")
        clock = self._clock
        while True:
            scraped = self._scraped is not None and (
                clock.monotonic() - self._scraped <= self.idle_seconds)
            now = clock.monotonic()
            period = self.period if scraped else max(self.period, self.idle_period_seconds)
            delay = (self._next_render() if scraped else self._at + period) - now
            if not scraped:  # look again soon: a scraper that starts gets the scraped pace
                delay = min(delay, self.max_period_seconds)
            if self._body is not None and delay > 0:
                await clock.sleep(delay)
                continue
            try:
                task = self._start(clock.monotonic())
                if task is not None:
                    await task
            except Exception:  # a scrape meeting it reports it too; the agent runs on
                log.exception("rendering /metrics failed")
                await clock.sleep(period)
