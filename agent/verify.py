"""Live verification for the step-7 gate: probe a ticket's devices several times over a hold
period and say whether every probe was healthy (ICMP answered, SNMP answered, monitored
interfaces up), with each probe kept as evidence."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.core.clock import Clock
from agent.core.model import CheckResult, Device, Status
from agent.core.reasons import Reason, of_result, reason
from agent.detect import interface_results
from agent.scheduler import Job
from ticketing.models import Ticket
from ticketing.payloads import Probe, Verification

RunCheck = Callable[[Job], Any]  # Scheduler.run_check: (Job) -> Awaitable[CheckResult]
#: The samples a probe keeps, in base units.
PROBE_SAMPLES = ("icmp_rtt_seconds", "icmp_packet_loss_ratio", "snmp_uptime_seconds")


class LiveVerifier:
    """`verify(ticket)` for ticketing.ports.Verifier, built by agent/app.py."""

    def __init__(self, *, devices: Mapping[str, Device], jobs: Callable[[Sequence[Device]],
                 list[Job]], run_check: RunCheck, clock: Clock, probes: int,
                 hold_seconds: float) -> None:
        self._devices = devices
        self._jobs = jobs
        self._run_check = run_check
        self._clock = clock
        self._probes = max(1, probes)
        self._hold = max(0.0, hold_seconds)

    async def verify(self, ticket: Ticket) -> Verification:
        names = [ticket.device, *ticket.affected]
        missing = [n for n in names if n not in self._devices]
        started = self._clock.now()
        if missing:
            absent = reason("verify_not_in_inventory", devices=", ".join(missing))
            return Verification(
                passed=False, started_at=started, finished_at=started,
                reason=f"{', '.join(missing)} not in the inventory: pantau cannot probe "
                       f"{'it' if len(missing) == 1 else 'them'}", cause=absent)
        jobs = self._jobs([self._devices[n] for n in names])
        probes: list[Probe] = []
        failure, cause = "", None
        gap = self._hold / (self._probes - 1) if self._probes > 1 else 0.0
        for round_no in range(1, self._probes + 1):
            if round_no > 1:
                await self._clock.sleep(gap)
            for job in jobs:
                result: CheckResult = await self._run_check(job)
                probes.extend(self._records(round_no, result))
            bad = [p for p in probes if p.round == round_no and not p.healthy]
            if bad:
                first = bad[0]
                failure = f"{first.device} {first.check}" + (
                    f" {first.item}" if first.item else "") + (
                    f": {first.reason}" if first.reason else f" is {first.status}")
                cause = _failed(first)
                break  # one failing round is enough: no need to wait out the hold
        if not failure:
            cause = reason("verify_healthy", devices=len(names), probes=self._probes,
                           seconds=self._hold)
            failure_or_summary = cause.text()
        else:
            failure_or_summary = failure
        return Verification(
            passed=cause is not None and not failure, started_at=started,
            finished_at=self._clock.now(), reason=failure_or_summary, probes=tuple(probes),
            cause=cause)

    def _records(self, round_no: int, r: CheckResult) -> list[Probe]:
        samples = {name: value for name in PROBE_SAMPLES
                   if (value := r.sample(name)) is not None}
        out = [Probe(round=round_no, device=r.device, check=r.check, status=r.status.value,
                     at=r.observed_at, healthy=r.status.answered, reason=r.reason,
                     samples=samples, cause=of_result(r.code, r.params))]
        for item, iface in interface_results(r):
            out.append(Probe(round=round_no, device=r.device, check="interface", item=item,
                             status=iface.status.value, at=r.observed_at,
                             healthy=iface.status is Status.OK, reason=iface.reason,
                             cause=of_result(iface.code, iface.params)))
        return out


def _failed(probe: Probe) -> Reason | None:
    """The code of a failing probe's part of the verification's reason: the probe's own
    reason's code, or its status; None when its (text only) reason has no code."""
    if probe.reason and probe.cause is None:
        return None
    where = {"device": probe.device, "check": probe.check, "item": probe.item}
    if probe.cause is not None:
        return reason("verify_failed", **where, cause=probe.cause)
    return reason("verify_status", **where, status=probe.status)
