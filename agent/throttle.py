"""Throttling of failed attempts, the one home of its rules: `KeyTable`, failures per key in a
bounded table, and its two users, the sign-in's `Throttle` (per name and per client address,
attempts reserved up front) and the API's `RefusalThrottle` (refused tokens per address)."""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.core.clock import Clock

# Bounds each table: a flood of made-up names or addresses cannot grow memory without end, and
# cannot push a locked key out to free its victim.
TABLE_CAP = 10_000
#: refusals (401) an address may collect in the window before it is made to wait
REFUSALS_PER_WINDOW = 20
REFUSAL_WINDOW_SECONDS = 60.0


def client_key(host: str) -> str:
    """The key a client address counts against: an IPv6 client by its /64, which one host may
    hold whole; an IPv4-mapped address as IPv4; anything else (IPv4, a name, "-") as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else address)


@dataclass(slots=True)
class _Entry:
    failures: deque[float]  # monotonic instants of the last `limit` failures, oldest first
    pending: int = 0  # attempts reserved and still being checked


@dataclass(slots=True)
class KeyTable:
    """Failures per key. A key is locked while the window (`window` seconds) holds `limit` of
    its failures and the last is under `lockout` seconds old; with `lockout == window` that is
    a sliding window. Reserved attempts (`reserve`) fill the quota until they end.

    At most `cap` keys, kept in order of last activity. To make room, the least recently active
    key goes that is expired or has fewer than `limit` failures and nothing pending: a locked
    key is never forgotten, and a table full of them has no room for a new one (fail closed)."""

    limit: int
    window: float
    lockout: float
    cap: int = TABLE_CAP
    entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)

    # while full of locked keys, none can be forgotten before this instant (a pending
    # attempt's end resets it): a stream of new keys does not scan the whole table each time
    _full_until: float = field(default=-math.inf, init=False, repr=False)

    def _prune(self, entry: _Entry, now: float) -> bool:
        """Drop `entry`'s failures older than the window; whether it still holds anything."""
        while entry.failures and now - entry.failures[0] >= self.window:
            entry.failures.popleft()
        return bool(entry.failures or entry.pending)

    def _recent(self, key: str, now: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None or self._prune(entry, now):
            return entry
        del self.entries[key]
        return None

    def _touch(self, key: str) -> _Entry:
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry(deque(maxlen=self.limit))
        self.entries.move_to_end(key)
        return entry

    def wait(self, key: str, now: float) -> int:
        """Whole seconds until `key` may try again (0: now); attempts in flight count as
        failures, and after a lockout only one may be in flight at a time."""
        entry = self._recent(key, now)
        if entry is None:
            return 0
        failures = len(entry.failures)
        if failures >= self.limit:
            # locked until the oldest counted failure leaves the window or the lockout ends
            free_at = min(entry.failures[0] + self.window, entry.failures[-1] + self.lockout)
            if free_at > now:
                return math.ceil(free_at - now)
            return 1 if entry.pending else 0
        # attempts still in flight fill the quota: it frees soon, one way or the other
        return 1 if failures + entry.pending >= self.limit else 0

    def has_room(self, key: str, now: float) -> bool:
        """Whether `key` has an entry or one can be made (see the class: a locked key is never
        evicted)."""
        if key in self.entries or len(self.entries) < self.cap:
            return True
        if now < self._full_until:
            return False
        free_at = math.inf
        for other, entry in self.entries.items():  # least recently active first
            if not self._prune(entry, now) or (
                    entry.pending == 0 and len(entry.failures) < self.limit):
                del self.entries[other]  # and out of the loop at once
                return True
            if entry.pending == 0:  # below the limit once its oldest failure leaves the window
                free_at = min(free_at, entry.failures[0] + self.window)
        self._full_until = free_at
        return False

    def reserve(self, key: str) -> None:
        """Reserve an attempt for `key` (see `has_room` first); end it with `end` or `release`."""
        self._touch(key).pending += 1

    def fail(self, key: str, now: float) -> None:
        """Count a failure of `key` at `now` without a reservation (see `has_room` first)."""
        self._touch(key).failures.append(now)

    def end(self, key: str, failed_at: float | None) -> None:
        """End a reserved attempt: a failure at `failed_at`, or (None) a success, which forgets
        the key's failures."""
        entry = self._touch(key)
        entry.pending = max(0, entry.pending - 1)
        self._full_until = -math.inf
        if failed_at is not None:
            entry.failures.append(failed_at)
        else:
            entry.failures.clear()
        if not entry.failures and not entry.pending:
            del self.entries[key]

    def release(self, key: str) -> None:
        """End a reserved attempt without a verdict for `key`: its failures stay."""
        entry = self.entries.get(key)
        if entry is not None:
            entry.pending = max(0, entry.pending - 1)
            self._full_until = -math.inf
            if not entry.failures and not entry.pending:
                del self.entries[key]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved sign-in attempt: end it with `Throttle.failed` or `Throttle.succeeded`."""

    name: str
    client: str


@dataclass(slots=True)
class Throttle:
    """Sign-in: after `limit` failures for a name within `window` seconds (or `client_limit`
    from one address), refuse further attempts for `lockout` seconds after the last failure: an
    online guesser gets ~5 tries a minute per name. Unknown names count as known ones do."""

    monotonic: Callable[[], float]
    limit: int = 5
    client_limit: int = 20  # an office behind one NAT address still signs in
    window: float = 900.0
    lockout: float = 60.0
    cap: int = TABLE_CAP
    _names: KeyTable = field(init=False)
    _clients: KeyTable = field(init=False)

    def __post_init__(self) -> None:
        self._names = KeyTable(self.limit, self.window, self.lockout, self.cap)
        self._clients = KeyTable(self.client_limit, self.window, self.lockout, self.cap)

    def reserve(self, name: str, client: str) -> Attempt | int:
        """Reserve an attempt for `name` from `client` before checking its password; else the
        seconds to wait (also when a table is full of locked entries: fail closed)."""
        now = self.monotonic()
        client = client_key(client)
        wait = max(self._names.wait(name, now), self._clients.wait(client, now))
        if wait:
            return wait
        if not (self._names.has_room(name, now) and self._clients.has_room(client, now)):
            return math.ceil(self.lockout)
        self._names.reserve(name)
        self._clients.reserve(client)
        return Attempt(name, client)

    def failed(self, attempt: Attempt) -> None:
        now = self.monotonic()
        self._names.end(attempt.name, now)
        self._clients.end(attempt.client, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The name's failures are forgotten; the client's are not (signing in to one's own
        account must not reset the count of guesses at others)."""
        self._names.end(attempt.name, None)
        self._clients.release(attempt.client)

    def wait(self, name: str) -> int:
        """Seconds until `name` may try again (0: now), whatever the client."""
        return self._names.wait(name, self.monotonic())

    def size(self) -> tuple[int, int]:
        """Entries kept (names, clients)."""
        return len(self._names.entries), len(self._clients.entries)


class RefusalThrottle:
    """API and /metrics: refused tokens (401s) per client address (`client_key`). After `limit`
    within `window_seconds`, an address waits until the oldest of them leaves the window (a
    sliding window), answered 429 without its token being looked at."""

    def __init__(self, clock: Clock, limit: int = REFUSALS_PER_WINDOW,
                 window_seconds: float = REFUSAL_WINDOW_SECONDS,
                 max_addresses: int = TABLE_CAP) -> None:
        self._clock = clock
        self._table = KeyTable(limit, window_seconds, window_seconds, max_addresses)

    def wait_seconds(self, address: str) -> int:
        """0 when `address` may try now; else whole seconds to wait: until its refusals leave
        the window, or a whole window when it is new and the table is full of throttled
        addresses (fail closed: its refusals could not be counted)."""
        now, key = self._clock.monotonic(), client_key(address)
        wait = self._table.wait(key, now)
        if wait or self._table.has_room(key, now):
            return wait
        return math.ceil(self._table.window)

    def refused(self, address: str) -> None:
        """Count one refusal of `address`. Call it after `wait_seconds(address)` gave 0, with
        no await between: the room it found is still there."""
        now, key = self._clock.monotonic(), client_key(address)
        if self._table.has_room(key, now):
            self._table.fail(key, now)

    def size(self) -> int:
        """Addresses kept."""
        return len(self._table.entries)
