"""The bridge from detection to ticketing: hard transitions become Observations, journaled
on disk (agent/journal.py) and applied in batches (a ticket's in order, runs of AFFECTED
merged) by a task that retries while the ticket store is unavailable or refuses them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from agent.core import topology
from agent.core.clock import Clock
from agent.core.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    InvalidTransition,
    TicketNotFound,
    WriterFenced,
)
from agent.core.model import Device, DeviceState
from agent.core.reasons import reason
from agent.detect import INTERFACE_CHECK, Transition
from agent.journal import Journal
from ticketing.models import EventKind, Fault, Ticket, TicketEvent
from ticketing.observation import AFFECTED, FAILING, FLAPPING, RESTORED, Observation
from ticketing.payloads import Evidence
from ticketing.service import TicketService

log = logging.getLogger(__name__)

FAULTS = {"icmp": Fault.DEVICE_DOWN, "snmp": Fault.SNMP_DOWN,
          INTERFACE_CHECK: Fault.INTERFACE_DOWN}
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


def root_cause(device: Device, devices: Mapping[str, Device],
               state: Callable[[str], DeviceState]) -> Device | None:
    """The nearest ancestor that is DOWN or FLAPPING (the device whose ticket lists this
    UNREACHABLE one), or None."""
    def parent(name: str) -> str | None:
        up = (device if name == device.name else devices[name]).parent
        return up if up in devices else None

    for name in topology.ancestors(device.name, parent):
        if state(name) in (DeviceState.DOWN, DeviceState.FLAPPING):
            return devices[name]
    return None


def observation(t: Transition, devices: Mapping[str, Device],
                state: Callable[[str], DeviceState],
                last_results: Callable[[str], Mapping[str, Mapping[str, Any]]]
                ) -> Observation | None:
    """The ticketing meaning of a hard transition, or None (maintenance, unknown states)."""
    fault = FAULTS.get(t.check)
    device = devices.get(t.device)
    if t.maintenance or fault is None or device is None:
        return None
    new = DeviceState(t.new)
    item = t.item if t.check == INTERFACE_CHECK else ""
    if new is DeviceState.UNREACHABLE:
        if t.check != "icmp":
            return None  # SNMP and interfaces behind a failing device: the device's ticket
        root = root_cause(device, devices, state)
        if root is None:
            return None
        cause = reason("unreachable_behind", device=device.name, root=root.name)
        return Observation(device=root.name, owner=root.owner, fault=Fault.DEVICE_DOWN,
                           kind=AFFECTED, at=t.at, affected=(device.name,),
                           reason=cause.text(), cause=cause)
    kind = {DeviceState.DOWN: FAILING, DeviceState.FLAPPING: FLAPPING,
            DeviceState.UP: RESTORED}.get(new)
    if kind is None:
        return None
    affected = tuple(t.affected) if t.check == "icmp" else ()
    # "since" in the device's own zone: the request's text (ticketing.documents) names the
    # local time at the device, zone included
    proof = Evidence.of_detection(fault=fault.value, state=new.value,
                                  since=t.at.astimezone(ZoneInfo(device.timezone)),
                                  reason=t.reason, last=last_results(device.name),
                                  interface=item, affected=affected, cause=t.cause)
    return Observation(device=device.name, owner=device.owner, fault=fault, kind=kind, at=t.at,
                       item=item, reason=t.reason, evidence=proof, affected=affected,
                       cause=t.cause)


#: Observations taken off the queue at once (a mass event arrives in one burst).
BATCH_MAX = 4096
#: Tickets written at the same time: the store works through one call after another, but
#: keeping several in flight hides the event loop's own latency between them.
PARALLEL_KEYS = 8
#: A rejected observation (BackendRejected, TicketNotFound, InvalidTransition) is tried this
#: many more times, the ticket re-read before each, before it is set aside as rejected.
REJECT_RETRIES = 3
REJECT_DELAY_SECONDS = 1.0  # before the first retry; doubled before each next one
#: The event kinds an observation writes (what a replay compares its time with).
OBSERVED = frozenset({EventKind.OPENED, EventKind.FAILURE_OBSERVED,
                      EventKind.RESTORATION_OBSERVED, EventKind.AFFECTED_ADDED,
                      EventKind.FLAPPING_CHANGED, EventKind.REOPENED})


@dataclass(frozen=True, slots=True)
class Entry:
    """An observation on its way to the store: its journal ids (several once merged) and
    whether it was replayed from the journal at start (it may have been stored already)."""

    ids: tuple[int, ...]
    obs: Observation
    replayed: bool = False


def coalesce(batch: Sequence[Entry]) -> list[Entry]:
    """The batch with each run of AFFECTED observations of one ticket merged into one (the
    devices in order, the time of the last, the journal ids of all): 2,000 children behind a
    core switch become one AFFECTED_ADDED event, not 2,000 writes. Nothing is reordered
    within a ticket: an AFFECTED merges only into the last observation of its key, and only
    if that is one too."""
    out: list[Entry] = []
    last: dict[str, int] = {}  # dedup key -> index in `out` of its last observation
    for entry in batch:
        obs = entry.obs
        key = obs.dedup_key
        i = last.get(key)
        if obs.kind == AFFECTED and i is not None and out[i].obs.kind == AFFECTED:
            prev = out[i]
            merged = replace(prev.obs, at=max(prev.obs.at, obs.at), affected=tuple(
                dict.fromkeys(prev.obs.affected + obs.affected)))
            out[i] = Entry(prev.ids + entry.ids, merged, prev.replayed or entry.replayed)
            continue
        last[key] = len(out)
        out.append(entry)
    return out


def by_key(batch: Sequence[Entry]) -> list[list[Entry]]:
    """The observations of each ticket (dedup key), each list in arrival order."""
    keyed: dict[str, list[Entry]] = {}
    for entry in batch:
        keyed.setdefault(entry.obs.dedup_key, []).append(entry)
    return list(keyed.values())


def stored_later(obs: Observation, _ticket: Ticket, events: Sequence[TicketEvent]) -> bool:
    """Whether the open ticket already holds an observation newer than `obs`: then `obs`
    was stored before a crash and replaying it would write the past again."""
    return any(e.kind in OBSERVED and e.at > obs.at for e in events)


class TicketFeed:
    """Journals observations from the (synchronous) result path and applies them: each
    ticket's in order, different tickets side by side, every observation retried while the
    store is unavailable, and a rejected one retried after re-reading its ticket, then set
    aside in the journal's rejected table (`on_rejected` counts it). Nothing is dropped: a
    row leaves the journal only once the store has it. Call `load()` before the first
    `put()`: it queues what the journal kept from the last run, first."""

    def __init__(self, service: TicketService, clock: Clock, journal: Journal, *,
                 parallel: int = PARALLEL_KEYS,
                 on_rejected: Callable[[], None] | None = None) -> None:
        self.service = service
        self.clock = clock
        self.journal = journal
        self.queue: asyncio.Queue[Entry] = asyncio.Queue()
        self._slots = asyncio.Semaphore(parallel)
        self._delay = RETRY_MIN_SECONDS
        self._on_rejected = on_rejected

    async def load(self) -> int:
        """Queue the observations the journal kept (stored or not before a stop or crash),
        oldest first; returns how many."""
        kept = await self.journal.pending()
        for ident, obs in kept:
            self.queue.put_nowait(Entry((ident,), obs, replayed=True))
        if kept:
            log.info("replaying journaled observations", extra={"count": len(kept)})
        return len(kept)

    def put(self, obs: Observation) -> None:
        self.queue.put_nowait(Entry((self.journal.put(obs),), obs))

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < BATCH_MAX and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.apply(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def apply(self, batch: Sequence[Entry]) -> None:
        """Apply a batch: coalesced, then one task per ticket, `parallel` at a time."""
        async with asyncio.TaskGroup() as tg:
            for entries in by_key(coalesce(batch)):
                tg.create_task(self._apply_key(entries))

    async def _apply_key(self, entries: Sequence[Entry]) -> None:
        async with self._slots:
            for entry in entries:
                await self._apply_one(entry)

    async def _apply_one(self, entry: Entry) -> None:
        obs = entry.obs
        tries = 0
        while True:
            try:
                if entry.replayed:
                    await self.service.observe_unless(obs, partial(stored_later, obs))
                else:
                    await self.service.observe(obs)
                self._delay = RETRY_MIN_SECONDS
                self.journal.done(entry.ids)
                return
            except BackendUnavailable as exc:
                # Keep the observation: the store will be back (locked, restarting).
                if isinstance(exc, WriterFenced):
                    # this cluster member lost its lease: when it writes again, the device
                    # may have had another owner meanwhile, whose newer observations win
                    entry = replace(entry, replayed=True)
                delay = self._delay
                log.warning("ticket store unavailable; retrying", extra={
                    "device": obs.device, "error": str(exc), "retry_in": delay})
                self._delay = min(RETRY_MAX_SECONDS, delay * 2)
                await self.clock.sleep(delay)
            except (BackendRejected, TicketNotFound, InvalidTransition) as exc:
                if tries == REJECT_RETRIES:
                    self._reject(entry, f"{type(exc).__name__}: {exc}")
                    return
                delay = REJECT_DELAY_SECONDS * 2 ** tries
                tries += 1
                log.debug("ticket observation refused; re-reading the ticket", extra={
                    "device": obs.device, "error": str(exc), "retry_in": delay})
                await self.clock.sleep(delay)
                with contextlib.suppress(BackendError):
                    await self.service.refresh()  # observe re-reads the ticket itself
            except Exception as exc:
                # a bug: shown with its traceback, and the observation kept, not lost
                log.exception("ticket observation failed", extra={"device": obs.device})
                self._reject(entry, f"internal: {type(exc).__name__}: {exc}")
                return

    def _reject(self, entry: Entry, reason: str) -> None:
        obs = entry.obs
        log.warning("ticket observation rejected; kept in the journal", extra={
            "device": obs.device, "fault": obs.fault.value, "kind": obs.kind,
            "reason": reason, "journal": self.journal.path})
        self.journal.reject(entry.ids, obs, reason, self.clock.now())
        if self._on_rejected is not None:
            self._on_rejected()
