"""The detector's deadlines, kept by time so no call scans every subject: held changes
(`Holds`) and pending parent re-checks (`Rechecks`)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

from agent.detect.events import Key
from agent.detect.records import Subject

Entry = tuple[datetime, int, Subject]  # (deadline, sequence number, subject)


class Holds:
    """Subjects whose change is held back until `subject.hold_until`.

    A heap by deadline with lazy deletion: an entry whose subject was released or held again
    since (another sequence number) is skipped when it comes up.
    """

    def __init__(self) -> None:
        self._held: dict[Key, int] = {}  # key -> sequence number of its current hold
        self._heap: list[Entry] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, subject: Subject, until: datetime) -> None:
        subject.hold_until = until
        self._seq += 1
        self._held[subject.key] = self._seq
        heapq.heappush(self._heap, (until, self._seq, subject))

    def release(self, subject: Subject) -> None:
        subject.hold_until = None
        self._held.pop(subject.key, None)

    def expired(self, at: datetime, exclude: Iterable[Subject] = ()) -> list[Entry]:
        """Held subjects whose hold ends by `at` and not in `exclude`, parents before
        children, then in the order their holds began. They leave the heap: hand them to
        `requeue` once decided."""
        heap = self._heap
        if not heap or heap[0][0] > at:
            return []
        skip = set(exclude)
        expired: list[Entry] = []
        kept: list[Entry] = []
        while heap and heap[0][0] <= at:
            entry = heapq.heappop(heap)
            if self._held.get(entry[2].key) != entry[1]:
                continue  # released or held again since
            (kept if entry[2] in skip else expired).append(entry)
        for entry in kept:
            heapq.heappush(heap, entry)
        return sorted(expired, key=_depth_then_seq)

    def requeue(self, entries: Iterable[Entry]) -> None:
        """Put back the expired holds a decision kept (an UNREACHABLE child waiting for a
        fresh failure stays held, and is decided again on every later call)."""
        for entry in entries:
            if self._held.get(entry[2].key) == entry[1]:
                heapq.heappush(self._heap, entry)


def _depth_then_seq(entry: Entry) -> tuple[int, int]:
    return entry[2].depth(), entry[1]


class Rechecks:
    """Subjects with a pending re-check (`subject.recheck_until`), by deadline."""

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._seq = 0

    def pending(self, subject: Subject, until: datetime) -> None:
        subject.recheck_until = until
        self._seq += 1
        heapq.heappush(self._heap, (until, self._seq, subject))

    def expire(self, now: datetime) -> int:
        """Clear the re-checks due by `now`; returns how many entries it looked at."""
        heap = self._heap
        n = 0
        while heap and heap[0][0] <= now:
            _, _, subject = heapq.heappop(heap)
            n += 1
            due = subject.recheck_until
            if due is not None and due <= now:
                subject.recheck_until = None
        return n
