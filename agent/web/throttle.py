"""The sign-in throttle: failed sign-ins counted per user name and per client address, each
attempt reserved before the password check starts, in tables with a global cap."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

# Bounds each table (names, clients): a flood of made-up names or addresses cannot grow memory
# without end, and cannot push a locked entry out to free its victim.
TABLE_CAP = 10_000


def client_key(host: str) -> str:
    """The client address an attempt counts against: an IPv6 client by its /64, which one
    host may hold whole; anything else (IPv4, a name, "-") as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else address)


@dataclass(slots=True)
class _Entry:
    failures: list[float] = field(default_factory=list)  # monotonic instants, oldest first
    pending: int = 0  # attempts reserved and still being checked


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved sign-in attempt: end it with `Throttle.failed` or `Throttle.succeeded`."""

    name: str
    client: str


@dataclass(slots=True)
class _Table:
    limit: int
    window: float
    lockout: float
    cap: int
    entries: dict[str, _Entry] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        entry.failures = [t for t in entry.failures if now - t < self.window]
        if not entry.failures and not entry.pending:
            del self.entries[key]
            return None
        return entry

    def wait(self, key: str, now: float) -> int:
        """Seconds until `key` may try again (0: now); attempts in flight count as failures."""
        entry = self._recent(key, now)
        if entry is None:
            return 0
        failures = len(entry.failures)
        if failures >= self.limit:
            left = int(entry.failures[-1] + self.lockout - now + 0.999)
            if left > 0:
                return left
            return 1 if entry.pending else 0  # after a lockout, one try at a time
        # attempts still in flight fill the quota: it frees soon, one way or the other
        return 1 if failures + entry.pending >= self.limit else 0

    def has_room(self, key: str, now: float) -> bool:
        """Whether `key` has an entry or one can be made, evicting only an unlocked entry."""
        if key in self.entries or len(self.entries) < self.cap:
            return True
        for other in list(self.entries):  # expired entries go first
            self._recent(other, now)
        if len(self.entries) < self.cap:
            return True
        for other, entry in self.entries.items():  # then the oldest that locks nothing
            if entry.pending == 0 and len(entry.failures) < self.limit:
                del self.entries[other]
                return True
        return False

    def reserve(self, key: str) -> None:
        self.entries.setdefault(key, _Entry()).pending += 1

    def end(self, key: str, failed_at: float | None) -> None:
        """End a reserved attempt: a failure at `failed_at`, or (None) a success, which forgets
        the key's failures."""
        entry = self.entries.setdefault(key, _Entry())
        entry.pending = max(0, entry.pending - 1)
        if failed_at is not None:
            entry.failures.append(failed_at)
        else:
            entry.failures.clear()
        if not entry.failures and not entry.pending:
            del self.entries[key]


@dataclass(slots=True)
class Throttle:
    """After `limit` failures for a name within `window` seconds (or `client_limit` from one
    address), refuse further attempts for `lockout` seconds after the last failure: an online
    guesser gets ~5 tries a minute per name. Unknown names count as known ones do."""

    monotonic: Callable[[], float]
    limit: int = 5
    client_limit: int = 20  # an office behind one NAT address still signs in
    window: float = 900.0
    lockout: float = 60.0
    cap: int = TABLE_CAP
    _names: _Table = field(init=False)
    _clients: _Table = field(init=False)

    def __post_init__(self) -> None:
        self._names = _Table(self.limit, self.window, self.lockout, self.cap)
        self._clients = _Table(self.client_limit, self.window, self.lockout, self.cap)

    def reserve(self, name: str, client: str) -> Attempt | int:
        """Reserve an attempt for `name` from `client` before checking its password; else the
        seconds to wait (also when both tables are full of locked entries: fail closed)."""
        now = self.monotonic()
        client = client_key(client)
        wait = max(self._names.wait(name, now), self._clients.wait(client, now))
        if wait:
            return wait
        if not (self._names.has_room(name, now) and self._clients.has_room(client, now)):
            return int(self.lockout)
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
        entry = self._clients.entries.get(attempt.client)
        if entry is not None:
            entry.pending = max(0, entry.pending - 1)

    def wait(self, name: str) -> int:
        """Seconds until `name` may try again (0: now), whatever the client."""
        return self._names.wait(name, self.monotonic())

    def size(self) -> tuple[int, int]:
        """Entries kept (names, clients)."""
        return len(self._names.entries), len(self._clients.entries)
