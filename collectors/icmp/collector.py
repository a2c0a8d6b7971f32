"""IcmpCollector: turns a ping of a device, or one sweep of many, into CheckResults.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from agent.core.clock import Clock
from agent.core.errors import CollectorError, ProbeError
from agent.core.model import CheckResult, CheckSpec, Device, Sample, Status
from agent.core.reasons import reason
from collectors.icmp.packets import PingReply, canonical_address

log = logging.getLogger(__name__)

_COUNT_SAMPLES_KEPT = 1024  # (sent, received) pairs: at most (count + 1) ** 2 in use


class EchoPinger(Protocol):
    """What IcmpCollector needs of a Pinger (tests substitute a fake)."""

    async def ping(
        self, address: str, *, count: int, spacing_seconds: float, timeout_seconds: float
    ) -> PingReply: ...

    async def sweep(
        self,
        addresses: Sequence[str],
        *,
        count: int = 1,
        spacing_seconds: float = 0.0,
        timeout_seconds: float,
    ) -> list[PingReply]: ...


Resolver = Callable[[str], Awaitable[str]]


async def resolve_address(host: str) -> str:
    """The first address getaddrinfo gives for `host` (system order, RFC 6724).

    Raises OSError (socket.gaierror) when the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_RAW)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return str(infos[0][4][0])


class IcmpCollector:
    """The "icmp" check: `count` echo requests per device, within the check's timeout.

    All lost → DOWN; any answered → OK. Samples: icmp_rtt_seconds (mean of the answered
    ones; absent when none answered), icmp_packet_loss_ratio, icmp_packets_sent,
    icmp_packets_received. Raises ProbeError when the name does not resolve or no echo
    request could be sent (e.g. EPERM from a firewall rule): that is never a healthy host.
    """

    def __init__(
        self,
        pinger: EchoPinger,
        clock: Clock,
        *,
        count: int,
        spacing_seconds: float,
        resolve: Resolver = resolve_address,
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self._pinger = pinger
        self._clock = clock
        self._count = count
        self._spacing = max(0.0, spacing_seconds)
        self._resolve = resolve
        self._counts: dict[tuple[int, int], tuple[Sample, ...]] = {}

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
        started = self._clock.monotonic()
        address = await self._address(device)
        plan = self._plan(spec, started)
        if plan is None:
            raise self._no_time(device, address, started)
        count, spacing, wait = plan
        reply = await self._pinger.ping(
            address, count=count, spacing_seconds=spacing, timeout_seconds=wait
        )
        return self._judge(device, address, reply, self._clock.monotonic() - started)

    async def check_many(
        self, devices: Sequence[Device], spec: CheckSpec
    ) -> list[CheckResult | CollectorError]:
        """Check every device in one sweep (one send burst, one reply table); each result is
        judged exactly as `check` judges a single ping. Names are resolved concurrently."""
        started = self._clock.monotonic()
        names = [d for d in devices if not _literal(d.address)]
        resolved = dict(zip(
            (d.name for d in names),
            await asyncio.gather(*(self._address(d) for d in names), return_exceptions=True),
            strict=True,
        ))
        addresses = [resolved.get(d.name, d.address) for d in devices]
        out: list[CheckResult | CollectorError | None] = [None] * len(devices)
        targets: list[tuple[int, Device, str]] = []
        for i, (device, address) in enumerate(zip(devices, addresses, strict=True)):
            if isinstance(address, ProbeError):
                out[i] = address
            elif isinstance(address, BaseException):
                raise address
            else:
                targets.append((i, device, address))
        plan = self._plan(spec, started) if targets else None
        if plan is None:
            for i, device, address in targets:
                out[i] = self._no_time(device, address, started)
        else:
            count, spacing, wait = plan
            replies = await self._pinger.sweep(
                [a for _, _, a in targets],
                count=count, spacing_seconds=spacing, timeout_seconds=wait,
            )
            duration = self._clock.monotonic() - started
            at = self._clock.now()  # one instant for the sweep: every device is judged now
            for (i, device, address), reply in zip(targets, replies, strict=True):
                out[i] = self._judge_one(device, address, reply, duration, count, spacing, at)
        return [r for r in out if r is not None]

    def _no_time(self, device: Device, address: str, started: float) -> ProbeError:
        return ProbeError(
            device.name,
            "icmp",
            f"no time left to ping {address} after resolving {device.address} "
            f"({self._clock.monotonic() - started:.1f}s)",
        )

    def _plan(self, spec: CheckSpec, started: float) -> tuple[int, float, float] | None:
        """(count, spacing, wait after the last send) that fit the check's deadline; None
        when resolving names used it all up."""
        # Leave part of the check's deadline for timer slack and the bookkeeping afterwards.
        margin = min(max(0.05 * spec.timeout_seconds, 0.05), 0.25)
        budget = spec.timeout_seconds - margin - (self._clock.monotonic() - started)
        if budget <= 0:
            return None
        count, spacing = self._count, self._spacing
        if count > 1 and (count - 1) * spacing > budget / 2:
            spacing = budget / 2 / (count - 1)  # keep at least half the budget for replies
        return count, spacing, budget - (count - 1) * spacing

    def _judge_one(
        self, device: Device, address: str, reply: PingReply, sweep_seconds: float,
        count: int, spacing: float, at: datetime,
    ) -> CheckResult | CollectorError:
        # In a sweep a device that answered every echo request was done at its last reply,
        # not when the slowest device of the sweep was.
        duration = sweep_seconds
        if reply.sent and reply.received >= reply.sent and reply.rtts:
            duration = min(sweep_seconds, (count - 1) * spacing + reply.rtts[-1])
        try:
            return self._judge(device, address, reply, duration, at)
        except ProbeError as exc:
            return exc

    def _judge(
        self, device: Device, address: str, reply: PingReply, duration: float,
        at: datetime | None = None,
    ) -> CheckResult:
        if reply.sent == 0:
            raise ProbeError(
                device.name,
                "icmp",
                f"no echo request could be sent to {_target(device, address)} in "
                f"{duration:.1f}s: {reply.error or 'unknown error'}",
            )
        samples = self._count_samples(reply.sent, reply.received, reply.loss_ratio)
        if reply.rtts:
            samples = (Sample("icmp_rtt_seconds", sum(reply.rtts) / len(reply.rtts)), *samples)
        if log.isEnabledFor(logging.DEBUG):  # once per device and cycle: skip the record
            log.debug("icmp check", extra={"device": device.name, "address": address,
                                            "sent": reply.sent, "received": reply.received})
        if reply.received == 0:
            cause = reason("icmp_no_reply", sent=reply.sent,
                           address=_target(device, address), seconds=duration)
            return CheckResult(
                device=device.name,
                check="icmp",
                status=Status.DOWN,
                observed_at=self._clock.now() if at is None else at,
                duration_seconds=duration,
                samples=samples,
                reason=cause.text(),
                error="timeout",
                code=cause.code,
                params=cause.flat(),
            )
        return CheckResult(
            device=device.name,
            check="icmp",
            status=Status.OK,
            observed_at=self._clock.now() if at is None else at,
            duration_seconds=duration,
            samples=samples,
        )

    def _count_samples(self, sent: int, received: int, loss: float) -> tuple[Sample, ...]:
        """(loss ratio, sent, received): a handful of combinations, made once each and
        shared (samples are immutable)."""
        key = (sent, received)
        samples = self._counts.get(key)
        if samples is None:
            samples = (Sample("icmp_packet_loss_ratio", loss),
                       Sample("icmp_packets_sent", float(sent)),
                       Sample("icmp_packets_received", float(received)))
            if len(self._counts) < _COUNT_SAMPLES_KEPT:
                self._counts[key] = samples
        return samples

    async def _address(self, device: Device) -> str:
        if _literal(device.address):
            return device.address
        started = self._clock.monotonic()
        try:
            return await self._resolve(device.address)
        except OSError as exc:
            raise ProbeError(
                device.name,
                "icmp",
                f"cannot resolve {device.address} after "
                f"{self._clock.monotonic() - started:.1f}s: {exc.strerror or exc}",
            ) from exc


def _target(device: Device, address: str) -> str:
    """The address pinged, and the name it came from when it was resolved."""
    return address if address == device.address else f"{address} ({device.address})"


def _literal(address: str) -> bool:
    try:
        canonical_address(address)
    except ValueError:
        return False
    return True
