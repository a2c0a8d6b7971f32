"""The Collector protocol every kind of check satisfies."""

from __future__ import annotations

from typing import Protocol

from agent.core.model import CheckResult, CheckSpec, Device


class Collector(Protocol):
    """Polls one kind of check for one device.

    Returns a CheckResult (OK, WARNING, DOWN) or raises a CollectorError subclass
    (TargetTimeout, TargetUnreachable, AuthFailed, ProtocolError, ProbeError); never returns
    None. The scheduler turns errors into results.
    """

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult: ...
