"""The Collector protocol every kind of check satisfies, and the batch seam for sweeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agent.core.errors import CollectorError
from agent.core.model import CheckResult, CheckSpec, Device


class Collector(Protocol):
    """Polls one kind of check for one device.

    Returns a CheckResult (OK, WARNING, DOWN) or raises a CollectorError subclass
    (TargetTimeout, TargetUnreachable, AuthFailed, ProtocolError, ProbeError); never returns
    None. The scheduler turns errors into results.
    """

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult: ...


@runtime_checkable
class BatchCollector(Protocol):
    """A collector that can also check many devices in one go (ICMP: one sweep).

    `check_many` returns, in the order of `devices`, what `check` would have returned or
    raised for each: a CheckResult or the CollectorError. The scheduler prefers it for jobs
    that fall due in the same tick.
    """

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult: ...

    async def check_many(
        self, devices: Sequence[Device], spec: CheckSpec
    ) -> list[CheckResult | CollectorError]: ...
