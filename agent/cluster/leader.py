"""The leader of a cluster: the member holding the "leader" duty lease, taken or renewed
every heartbeat. It alone runs the singleton duties (the SLA sweep, notification delivery,
report generation), and stops them before its lease can expire in the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.core.clock import Clock
from agent.core.errors import BackendError
from agent.core.leases import Lease, LeaseStore

log = logging.getLogger(__name__)

T = TypeVar("T")

#: a contender tries again this long after the holder's lease ends (by the lease's remaining
#: time as the database answered it), and never sooner than MIN_RETRY_SECONDS
EXPIRY_MARGIN, MIN_RETRY_SECONDS = 0.05, 0.05
LEADER_DUTY = "leader"  # the row of cluster_leases that makes a member the leader
# Duties stop this share of the lease after the start of the last successful renewal: the
# database counts the lease from a moment after that start, so they have stopped before
# another member can take it. With lease >= 2 x heartbeat (check-config's rule) a renewal
# that is late by half a heartbeat still keeps them running.
STOP_SHARE = 0.75
RELEASE_SECONDS = 2.0  # on a clean stop, how long handing the lease back may take

#: (task name, coroutine factory): a duty runs while this member leads, cancelled when not.
Duty = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    """This member's node name and the cluster's heartbeat and lease (seconds)."""

    node: str
    heartbeat_seconds: float
    lease_seconds: float


async def run_duties(duties: Sequence[Duty]) -> None:
    """Run every duty until cancelled (an agent alone is its own leader, for good)."""
    async with asyncio.TaskGroup() as tg:
        for name, job in duties:
            tg.create_task(job(), name=name)


async def within(clock: Clock, seconds: float, call: Awaitable[T]) -> tuple[bool, T | None]:
    """(True, result) when `call` finishes within `seconds` on `clock`, else (False, None)
    after cancelling it (a blocked database call may go on in its thread: its result is
    dropped). Raises what `call` raises."""
    task = asyncio.ensure_future(call)
    timer = asyncio.ensure_future(clock.sleep(max(0.0, seconds)))
    try:
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, timer):
            pending.cancel()
        await asyncio.gather(task, timer, return_exceptions=True)
    if task.cancelled():
        return False, None
    return True, task.result()


class Leader:
    """Takes or renews the leader lease every heartbeat (`run`), and runs `duties` in a term
    of its own while it holds the lease.

    A term starts when a take or renewal returns the lease as this node's. It ends when
    the lease is seen held by another member, or when no renewal has succeeded by
    `STOP_SHARE` of the lease after the start of the last successful one (a monotonic
    deadline: a renewal that hangs is abandoned then, so a member cut off from the database
    stops its duties before the lease can expire there). `on_change(leading, epoch)` is
    called at each start and end of a term (the metrics' gauge). A clean stop ends the term
    and hands the lease back, so another member takes over at its next heartbeat.
    """

    def __init__(self, store: LeaseStore, settings: LeaderSettings, clock: Clock,
                 duties: Sequence[Duty],
                 on_change: Callable[[bool, int], None] = lambda leading, epoch: None) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._duties = tuple(duties)
        self._on_change = on_change
        self.leading = False
        self.epoch = 0  # of this node's current or last term
        self.holder = ""  # the holder last seen ("" before the first answer)
        self._deadline = 0.0  # monotonic: the duties stop then unless renewed
        self._term: asyncio.Task[None] | None = None
        self._failing = False  # a take failed: logged once until one works again

    def valid(self) -> bool:
        """Whether this member may act as the leader right now: it leads and its deadline
        has not passed. Duties check it before a side effect: after a stall of the whole
        process (SIGSTOP, a paused VM) their timers may fire before this loop's does."""
        return self.leading and self._clock.monotonic() < self._deadline

    async def run(self) -> None:
        """Heartbeat until cancelled; on cancellation the duties stop and the lease is
        handed back (within RELEASE_SECONDS)."""
        try:
            async with asyncio.TaskGroup() as tg:
                while True:
                    await self._beat(tg)
        finally:
            held = self.leading
            await self._end_term("stopping")
            if held:
                with contextlib.suppress(BackendError):
                    await within(self._clock, RELEASE_SECONDS,
                                 self._store.release(LEADER_DUTY, self._settings.node))

    async def _beat(self, tg: asyncio.TaskGroup) -> None:
        s, clock = self._settings, self._clock
        started = clock.monotonic()
        budget = self._deadline - started if self.leading else s.heartbeat_seconds
        lease: Lease | None = None
        try:
            answered, lease = await within(clock, budget,
                                           self._store.take(LEADER_DUTY, s.node,
                                                            s.lease_seconds))
            if not answered:
                self._failed(f"no answer within {budget:.1f}s")
        except BackendError as exc:
            self._failed(str(exc))
        if lease is not None:
            if self._failing:
                log.info("leader lease reachable again", extra={"node": s.node})
                self._failing = False
            self.holder = lease.holder
            if lease.held_by(s.node):
                self._deadline = started + STOP_SHARE * s.lease_seconds
                if not self.leading:
                    self._start_term(tg, lease.epoch)
            elif self.leading:
                await self._end_term(f"the lease is held by {lease.holder}")
        next_at = started + s.heartbeat_seconds
        if lease is not None and not self.leading and lease.holder != s.node:
            # another member holds it: try again as its lease ends, not a heartbeat later,
            # so a dead leader's duties move within its lease (not lease + heartbeat)
            next_at = min(next_at, started + max(MIN_RETRY_SECONDS,
                                                 lease.remaining_seconds + EXPIRY_MARGIN))
        while (now := clock.monotonic()) < next_at or (self.leading and now >= self._deadline):
            if self.leading and now >= self._deadline:
                await self._end_term("the lease was not renewed in time")
                continue
            until = min(next_at, self._deadline) if self.leading else next_at
            await clock.sleep(until - now)

    def _failed(self, reason: str) -> None:
        if not self._failing:
            log.warning("leader lease not renewed",
                        extra={"node": self._settings.node, "error": reason,
                               "leading": self.leading})
        self._failing = True

    def _start_term(self, tg: asyncio.TaskGroup, epoch: int) -> None:
        self.leading, self.epoch = True, epoch
        self._term = tg.create_task(run_duties(self._duties), name="leader duties")
        log.info("leadership gained", extra={"node": self._settings.node, "epoch": epoch,
                                             "duties": ",".join(n for n, _ in self._duties)})
        self._on_change(True, epoch)

    async def _end_term(self, reason: str) -> None:
        """Cancel the duties and wait until they have stopped."""
        term, self._term = self._term, None
        if term is None:
            return
        self.leading = False
        term.cancel()
        await asyncio.wait((term,))  # not `await term`: a cancellation of ours must go on
        log.warning("leadership lost", extra={"node": self._settings.node,
                                              "epoch": self.epoch, "reason": reason})
        self._on_change(False, self.epoch)
