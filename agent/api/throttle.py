"""Failed API authentications per client address: after `limit` refusals within `window`
seconds, an address is answered 429 without its token being looked at until the window
has passed (`RefusalThrottle`)."""

from __future__ import annotations

from collections import OrderedDict, deque

from agent.core.clock import Clock

#: refusals (401) an address may collect in the window before it is made to wait
REFUSALS_PER_WINDOW = 20
WINDOW_SECONDS = 60.0
#: addresses remembered at once; the one heard from least recently is forgotten first
MAX_ADDRESSES = 10_000


class RefusalThrottle:
    """Per-address sliding window of refusals, on `clock.monotonic()`, in bounded memory."""

    def __init__(self, clock: Clock, limit: int = REFUSALS_PER_WINDOW,
                 window_seconds: float = WINDOW_SECONDS,
                 max_addresses: int = MAX_ADDRESSES) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window_seconds
        self.max_addresses = max_addresses
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_seconds(self, address: str) -> float:
        """0 when `address` may try; else how long until its oldest counted refusal expires."""
        times = self._recent(address)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - self.clock.monotonic())

    def refused(self, address: str) -> None:
        """Count one refusal of `address`."""
        times = self._recent(address)
        if times is None:
            times = self._seen[address] = deque(maxlen=self.limit)
            while len(self._seen) > self.max_addresses:
                self._seen.popitem(last=False)
        self._seen.move_to_end(address)
        times.append(self.clock.monotonic())

    def _recent(self, address: str) -> deque[float] | None:
        times = self._seen.get(address)
        if times is None:
            return None
        cutoff = self.clock.monotonic() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times
