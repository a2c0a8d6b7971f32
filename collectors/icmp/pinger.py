"""The socket engine: one Pinger per event loop sends every echo request through one socket
per address family and demultiplexes the replies.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import socket
from collections.abc import Mapping, Sequence

from agent.core.clock import Clock
from agent.core.errors import AgentError
from collectors.icmp.channel import YIELD_EVERY, Channel, IcmpSocket, open_socket
from collectors.icmp.engine import chosen, table_for
from collectors.icmp.packets import NO_SLOT, EchoBatch, PingReply, Target, canonical_address

log = logging.getLogger(__name__)

_MAX_IN_FLIGHT_PER_CALL = 1 << 15  # a sweep larger than this runs in chunks
_CANONICAL_CACHE = 1 << 17  # addresses whose parsed form is kept (the inventory's, in practice)
_SEND_ATTEMPTS = 5  # for EAGAIN / ENOBUFS, with a growing wait in between
_SEND_RETRY_SECONDS = 0.002
_TIMESTAMPS_SETTLE_SECONDS = 0.05
_SEND_HINTS = {
    errno.EPERM: " (a firewall OUTPUT rule?)",
    errno.EACCES: " (a firewall OUTPUT rule?)",
    errno.ENETUNREACH: " (no route)",
    errno.EHOSTUNREACH: " (no route)",
}


def _set_done(future: asyncio.Future[None], _: object = None) -> None:
    if not future.done():
        future.set_result(None)


class IcmpUnavailable(AgentError):
    """No ICMP socket could be opened, neither a kernel ping socket nor a raw one."""


# channel (None: no socket for the family), what send_burst needs, why there is no channel
_Target = tuple[Channel | None, Target, str]


def _wire(family: int, canonical: str) -> tuple[bytes, int]:
    """The address packed for the compiled table, and its IPv6 scope id (0: none)."""
    host, _, scope = canonical.partition("%")
    packed = socket.inet_pton(family, host)
    if not scope:
        return packed, 0
    try:
        info = socket.getaddrinfo(canonical, 0, family, socket.SOCK_RAW, 0,
                                  socket.AI_NUMERICHOST)
        sockaddr = info[0][4]
        return packed, int(sockaddr[3]) if len(sockaddr) > 3 else 0
    except (OSError, IndexError):
        return packed, 0  # an unknown interface: the send fails and says so


class Pinger:
    """Sends ICMP echo requests for every caller on one event loop; owns the socket(s).

    One socket per address family, in one mode: "unprivileged" (kernel ping sockets,
    SOCK_DGRAM; needs net.ipv4.ping_group_range to include our group) or "privileged"
    (SOCK_RAW; needs root or CAP_NET_RAW). Create it with `await Pinger.open(...)`.
    """

    def __init__(
        self,
        sockets: Mapping[int, IcmpSocket],
        *,
        mode: str,
        clock: Clock,
        missing: Mapping[int, str] | None = None,
    ) -> None:
        """Take over open non-blocking sockets, one per address family (use `open()`).

        Must run inside the event loop. `mode` says what the sockets are: "privileged"
        (raw: we write the identifier and checksum, IPv4 replies carry the IP header) or
        "unprivileged" (kernel ping sockets). `missing` says why a family has no socket.
        """
        if mode not in ("privileged", "unprivileged"):
            raise ValueError(f"mode must be 'privileged' or 'unprivileged', not {mode!r}")
        loop = asyncio.get_running_loop()
        raw = mode == "privileged"
        self.mode = mode
        self.engine = chosen()  # "compiled" or "python": the echo table real sockets get
        self._clock = clock
        self._channels = {
            family: Channel(sock, table_for(sock, family=family, raw=raw, engine=self.engine),
                            clock, loop)
            for family, sock in sockets.items()
        }
        self._missing = dict(missing or {})  # family -> why it has no socket
        self._closed = False
        self._batches: set[EchoBatch] = set()  # running calls, ended early by aclose()
        # address -> (family, canonical text, packed, IPv6 scope id)
        self._canonical: dict[str, tuple[int, str, bytes, int]] = {}
        self._since_yield = 0  # requests sent since the last yield, by every caller
        self._sends_per_yield = min(
            (c.sends_per_yield for c in self._channels.values()), default=YIELD_EVERY
        )

    @classmethod
    async def open(cls, *, privileged: str = "auto", clock: Clock) -> Pinger:
        """Open the sockets: "auto" tries unprivileged then privileged; "no"/"yes" force one.

        Raises IcmpUnavailable when no IPv4 ICMP socket can be opened in any allowed mode.
        IPv6 is optional: without it, pinging an IPv6 address sends nothing (sent == 0).
        """
        modes = {
            "auto": ("unprivileged", "privileged"),
            "no": ("unprivileged",),
            "yes": ("privileged",),
        }.get(privileged)
        if modes is None:
            raise ValueError(f"privileged must be 'auto', 'yes' or 'no', not {privileged!r}")
        failures: list[str] = []
        for mode in modes:
            try:
                v4 = open_socket(socket.AF_INET, mode)
            except OSError as exc:
                failures.append(f"{mode}: {exc.strerror or exc}")
                continue
            socks: dict[int, IcmpSocket] = {socket.AF_INET: v4}
            missing: dict[int, str] = {}
            try:
                socks[socket.AF_INET6] = open_socket(socket.AF_INET6, mode)
            except OSError as exc:
                missing[socket.AF_INET6] = f"no IPv6 ICMP socket ({exc.strerror or exc})"
            pinger = cls(socks, mode=mode, clock=clock, missing=missing)
            # The first socket on the host to ask for receive timestamps makes the kernel
            # switch them on from a work queue (net_enable_timestamp); until that has run,
            # a reply is stamped when it is read, as if it had come late. Measured in the
            # lab: a sweep sent at once after opening read 20 replies that had waited out a
            # 1.5 s stall as 1.5 s round trips, 1 run in 3.
            await clock.sleep(_TIMESTAMPS_SETTLE_SECONDS)
            log.info("icmp sockets opened",
                     extra={"mode": mode, "ipv6": not missing, "engine": pinger.engine})
            return pinger
        raise IcmpUnavailable(
            f"cannot open an ICMP socket ({'; '.join(failures)}): set sysctl "
            "net.ipv4.ping_group_range='0 2147483647' or run as root"
        )

    async def ping(
        self, address: str, *, count: int, spacing_seconds: float, timeout_seconds: float
    ) -> PingReply:
        """Send `count` echo requests to the IP literal `address`, `spacing_seconds` apart.

        Waits until every one is answered or `timeout_seconds` after the last send, so it
        never takes longer than count × spacing + timeout. Raises ValueError for a name.
        """
        targets = [self._target(address, 0)]
        return (await self._run(targets, count, spacing_seconds, timeout_seconds))[0]

    async def sweep(
        self,
        addresses: Sequence[str],
        *,
        count: int = 1,
        spacing_seconds: float = 0.0,
        timeout_seconds: float,
    ) -> list[PingReply]:
        """Ping many IP literals at once; replies in the order of `addresses`.

        Round r sends one echo request to every address, then waits `spacing_seconds`
        before round r + 1; the wait for replies ends `timeout_seconds` after the last send.
        More than 32,768 echo requests in total run in consecutive chunks.
        """
        chunk = max(1, _MAX_IN_FLIGHT_PER_CALL // max(1, count))
        replies: list[PingReply] = []
        for start in range(0, len(addresses), chunk):
            part = [self._target(a, i) for i, a in enumerate(addresses[start : start + chunk])]
            replies.extend(await self._run(part, count, spacing_seconds, timeout_seconds))
        return replies

    async def aclose(self) -> None:
        """Close the sockets; pings still running end with what they have received."""
        self._closed = True
        for channel in self._channels.values():
            channel.close()
        self._channels = {}
        for batch in self._batches:
            if batch.done is not None and not batch.done.done():
                batch.done.set_result(None)

    def _target(self, address: str, index: int) -> _Target:
        known = self._canonical.get(address)
        if known is None:
            if len(self._canonical) >= _CANONICAL_CACHE:
                self._canonical.clear()
            family, canonical = canonical_address(address)
            known = self._canonical[address] = (family, canonical, *_wire(family, canonical))
        family, canonical, packed, scope = known
        channel = self._channels.get(family)
        missing = "" if channel else self._missing.get(family, "the pinger is closed")
        return channel, (index, packed, scope, canonical, (canonical, 0)), missing

    async def _run(
        self, targets: list[_Target], count: int, spacing: float, wait_seconds: float
    ) -> list[PingReply]:
        if self._closed:
            raise IcmpUnavailable("the pinger is closed")
        if count < 1 or spacing < 0 or wait_seconds < 0:
            raise ValueError("count must be >= 1, spacing and timeout >= 0")
        loop = asyncio.get_running_loop()
        batch = EchoBatch(len(targets), loop.create_future())
        sent = [0] * len(targets)
        errors: dict[int, str] = {}
        groups: dict[Channel, list[Target]] = {}  # one send burst per socket and round
        for i, (channel, target, missing) in enumerate(targets):
            if channel is None:
                errors[i] = missing
            else:
                groups.setdefault(channel, []).append(target)
        self._batches.add(batch)
        try:
            for round_no in range(count):
                if round_no:
                    await self._clock.sleep(spacing)
                for channel, group in groups.items():
                    await self._send_round(channel, group, batch, sent, errors)
            batch.sending = False
            batch.check_done()
            if batch.outstanding > 0 and batch.done is not None:
                # The timer ends the wait by resolving the same future the last reply
                # would; cheaper than asyncio.wait() when thousands of pings run at once.
                done = batch.done
                sleeper = loop.create_task(self._clock.sleep(wait_seconds))
                sleeper.add_done_callback(functools.partial(_set_done, done))
                try:
                    await done
                finally:
                    sleeper.cancel()
            for channel in self._channels.values():
                channel.drain()  # replies queued while we were late still count
        finally:
            self._batches.discard(batch)
            for channel in self._channels.values():  # the unanswered ones
                if channel.table.release_batch(batch):
                    channel.wake_slot_waiters()
        rtts = batch.rtts
        return [
            PingReply(target[3], sent[i], min(len(rtts[i]), sent[i]), tuple(rtts[i]),
                      errors.get(i, "") if errors else "")
            for i, (_, target, _) in enumerate(targets)
        ]

    async def _send_round(
        self, channel: Channel, group: list[Target], batch: EchoBatch, sent: list[int],
        errors: dict[int, str],
    ) -> None:
        """One echo request to every target of `group`, in bursts, draining the replies and
        yielding to the loop every `sends_per_yield` requests."""
        per_yield = self._sends_per_yield
        monotonic = self._clock.monotonic
        pos = 0
        while pos < len(group):
            if self._closed:
                for target in group[pos:]:
                    errors[target[0]] = "the pinger is closed"
                return
            # the counter is shared with other callers, who may have pushed it past the pace
            stop = min(len(group), pos + max(1, per_yield - self._since_yield))
            pos, error, count = channel.table.send_burst(
                channel.sock, batch, sent, group, pos, stop, monotonic)
            batch.outstanding += count
            self._since_yield += count
            if error == NO_SLOT:  # all sequence numbers in flight
                await channel.wait_for_slot()
            elif error:
                failed = await self._send_again(channel, group, pos, batch, sent, error)
                if failed is None:
                    batch.outstanding += 1
                    self._since_yield += 1
                else:
                    errors[group[pos][0]] = failed
                pos += 1
            if self._since_yield >= per_yield:
                self._since_yield = 0
                for each in self._channels.values():
                    each.drain()  # the replies so far, before the buffer fills
                await self._clock.sleep(0)

    async def _send_again(
        self, channel: Channel, group: list[Target], pos: int, batch: EchoBatch,
        sent: list[int], error: int,
    ) -> str | None:
        """Retry group[pos], whose send failed for lack of buffer space; None once it went out.

        Any other error (EPERM from an OUTPUT firewall rule, no route, ...) is returned
        as text at once: that echo request was not sent.
        """
        for attempt in range(_SEND_ATTEMPTS):
            if error == errno.EAGAIN:
                await channel.wait_writable(_SEND_RETRY_SECONDS * 2**attempt)
            elif error in (errno.ENOBUFS, NO_SLOT):
                await self._clock.sleep(_SEND_RETRY_SECONDS * 2**attempt)
            else:
                break
            if self._closed:
                return "the pinger is closed"
            _, error, count = channel.table.send_burst(
                channel.sock, batch, sent, group, pos, pos + 1, self._clock.monotonic)
            if count:
                return None
        if error == NO_SLOT:
            return "every ICMP sequence number is in flight"
        hint = _SEND_HINTS.get(error, "")
        return f"sendto: {os.strerror(error)}{hint}"
