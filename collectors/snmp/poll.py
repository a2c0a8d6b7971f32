"""What one snmp poll asks for and from whom: the columns to walk for a profile and version,
and the requests of one check within its deadline, through the client for its SNMP version;
a silent agent is told apart from a dead one here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

from agent.core.clock import Clock
from agent.core.errors import AuthFailed, CollectorError, TargetTimeout
from agent.core.model import Device, host_port
from agent.core.settings import SnmpAuth, SnmpSettings
from collectors.snmp.ber import Value
from collectors.snmp.profiles import HC_OCTETS, IF_COLUMNS, LEGACY_OCTETS, Profile
from collectors.snmp.protocol import CommunityClient, Oid, Rows, UsmClient

CHECK: Final = "snmp"
#: Config version -> SNMP message version of the community client (v3 goes to UsmClient).
COMMUNITY_VERSIONS: Final = {"1": 0, "2c": 1}
# Below this, a discovery probe could not get an answer back even from a live agent.
_MIN_PROBE_SECONDS: Final = 0.02


class Plan:
    """The walk for one profile and SNMP version: column prefixes and their names."""

    __slots__ = ("fallback", "names", "prefixes")

    def __init__(self, profile: Profile, v1: bool) -> None:
        columns = list(profile.columns)
        if v1:
            # SNMPv1 cannot carry Counter64: walk the 32-bit octet counters straight away.
            columns = [c for c in columns if c not in HC_OCTETS]
            columns += [c for c in LEGACY_OCTETS if c not in columns]
        self.prefixes = [IF_COLUMNS[c] for c in columns]
        self.names = {IF_COLUMNS[c]: c for c in columns}
        # A second walk of the 32-bit octet counters, for devices with no 64-bit ones.
        hc = [c for c in HC_OCTETS if c in columns]
        self.fallback = [IF_COLUMNS[c] for c in LEGACY_OCTETS] if hc else []


class Poll:
    """One check of one device: target, credentials and the deadline every request fits in."""

    __slots__ = (
        "auth", "clock", "community", "deadline", "device", "fast", "settings", "started",
        "target", "v3", "version", "where",
    )  # fmt: skip

    def __init__(
        self,
        fast: CommunityClient,
        v3: UsmClient,
        clock: Clock,
        settings: SnmpSettings,
        device: Device,
        auth: SnmpAuth,
        deadline: float,
    ) -> None:
        self.fast = fast
        self.v3 = v3
        self.clock = clock
        self.settings = settings
        self.device = device.name
        self.auth = auth
        self.target = (device.address, device.snmp_port)
        self.where = host_port(device.address, device.snmp_port)
        self.started = clock.monotonic()
        self.deadline = deadline
        self.version = COMMUNITY_VERSIONS.get(auth.version, 3)
        # The community is revealed here, where it is about to be sent, and never logged.
        self.community = b"" if auth.community is None else auth.community.reveal().encode()

    def remaining(self) -> float:
        return self.deadline - self.clock.monotonic()

    def _expired(self, verb: str) -> TargetTimeout:
        return TargetTimeout(self.device, CHECK, f"deadline reached before {verb} {self.where}")

    async def get(self, oids: Sequence[Oid]) -> list[tuple[Oid, Value]]:
        s = self.settings
        remaining = self.remaining()
        if remaining <= 0:
            raise self._expired("getting")
        try:
            async with asyncio.timeout(remaining):
                if self.version == 3:
                    return await self.v3.get(
                        self.target, self.auth, oids, timeout=s.timeout_seconds,
                        retries=s.retries, device=self.device, check=CHECK,
                    )  # fmt: skip
                return await self.fast.get(
                    self.target, self.community, self.version, oids,
                    timeout=s.timeout_seconds, retries=s.retries, device=self.device,
                    check=CHECK,
                )  # fmt: skip
        except TimeoutError:
            raise TargetTimeout(
                self.device, CHECK,
                f"cancelled after {remaining:.1f}s (possible timeout) getting {self.where}",
            ) from None  # fmt: skip

    async def walk(self, prefixes: Sequence[Oid]) -> dict[Oid, Rows]:
        s = self.settings
        remaining = self.remaining()
        if remaining <= 0:
            raise self._expired("walking")
        if self.version == 3:
            return await self.v3.bulk_walk(
                self.target, self.auth, prefixes, max_repetitions=s.max_repetitions,
                timeout=s.timeout_seconds, retries=s.retries, total_timeout=remaining,
                device=self.device, check=CHECK,
            )  # fmt: skip
        return await self.fast.bulk_walk(
            self.target, self.community, self.version, prefixes,
            max_repetitions=s.max_repetitions, timeout=s.timeout_seconds, retries=s.retries,
            total_timeout=remaining, device=self.device, check=CHECK,
        )  # fmt: skip

    async def explain_silence(self) -> CollectorError:
        """The agent did not answer our first request: wrong credentials, or down?

        net-snmp (like most agents) stays silent on a wrong community and on an undecryptable
        v3 request, which looks just like a dead agent. Any v3-capable agent answers an
        unauthenticated engine-ID discovery request, so an answer proves it alive.
        """
        waited = self.clock.monotonic() - self.started
        budget = min(self.settings.timeout_seconds, self.remaining())
        asked = f"SNMPv{self.auth.version}"
        if budget < _MIN_PROBE_SECONDS:
            return TargetTimeout(
                self.device, CHECK,
                f"SNMP agent down? no answer to {asked} from {self.where} in {waited:.1f}s "
                "(no time left in the deadline to tell a wrong community or key from a dead "
                "agent)",
            )  # fmt: skip
        engine_id = await self.v3.discover(self.target, timeout=budget)
        if engine_id is None:
            return TargetTimeout(
                self.device, CHECK,
                f"SNMP agent down: no answer from {self.where} to {asked} in {waited:.1f}s "
                f"nor to SNMPv3 discovery in {budget:.1f}s",
            )  # fmt: skip
        if self.version == 3:
            return AuthFailed(
                self.device, CHECK,
                f"no answer to SNMPv3 user {self.auth.username!r} from {self.where} in "
                f"{waited:.1f}s; the agent answers SNMPv3 discovery: wrong v3 user or key "
                "(privacy key?)",
            )  # fmt: skip
        return AuthFailed(
            self.device, CHECK,
            f"no answer to community ({asked}, credential set {self.auth.name!r}) from "
            f"{self.where} in {waited:.1f}s; the agent answers SNMPv3 discovery: wrong "
            "community?",
        )  # fmt: skip
