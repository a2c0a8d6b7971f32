"""The one SNMP client Protocol the collector talks to: GET and multi-column walks, with the
credentials between the target and the OIDs. FastSnmpClient (v1/v2c) and PysnmpClient (v3)
satisfy it; PysnmpClient also answers the SNMPv3 discovery probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias, TypeVarTuple

from agent.core.settings import SnmpAuth
from collectors.snmp.ber import Value

Target: TypeAlias = tuple[str, int]  # (host, port)
Oid: TypeAlias = tuple[int, ...]
Rows: TypeAlias = list[tuple[Oid, Value]]  # (index suffix or OID, value)

#: What a client needs to sign a request, passed between the target and the OIDs:
#: (community, message version) for FastSnmpClient, (SnmpAuth,) for PysnmpClient.
Credentials = TypeVarTuple("Credentials")


class SnmpClient(Protocol[*Credentials]):
    """SNMP requests to one target at a time; raises CollectorError subclasses.

    Each request waits `timeout` seconds per try, and is tried `retries` more times.
    `device` and `check` name the check in error messages (default: the target).
    """

    async def get(
        self,
        target: Target,
        *credentials_then_oids: *tuple[*Credentials, Sequence[Sequence[int]]],
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        device: str | None = None,
        check: str = "snmp",
    ) -> Rows:
        """GET the OIDs in one request; (oid, value) in request order, `Absent` when missing."""
        ...

    async def bulk_walk(
        self,
        target: Target,
        *credentials_then_prefixes: *tuple[*Credentials, Sequence[Sequence[int]]],
        max_repetitions: int = 25,
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        total_timeout: float | None = None,
        max_requests: int = 10_000,
        device: str | None = None,
        check: str = "snmp",
    ) -> dict[Oid, Rows]:
        """Walk several table columns at once; prefix -> [(index suffix, value)]."""
        ...


#: FastSnmpClient's shape: a community and the message version (0 = v1, 1 = v2c).
CommunityClient: TypeAlias = SnmpClient[bytes, int]


class UsmClient(SnmpClient[SnmpAuth], Protocol):
    """PysnmpClient's shape: an SNMPv3 credential set, and the engine-discovery probe."""

    async def discover(self, target: Target, *, timeout: float) -> bytes | None:  # noqa: ASYNC109
        """The agent's engine ID if it answers SNMPv3 discovery within `timeout`, else None."""
        ...
