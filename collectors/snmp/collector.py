"""The "snmp" check: the system group and the IF-MIB columns of one device per poll, through
FastSnmpClient (v1/v2c) or PysnmpClient (v3), turned into a CheckResult with samples per interface.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping

from agent.core import reasons
from agent.core.clock import Clock
from agent.core.errors import (
    CollectorError,
    ProbeError,
    ProtocolError,
    TargetTimeout,
    TargetUnreachable,
)
from agent.core.model import CheckResult, CheckSpec, Device, Sample, Status
from agent.core.settings import SnmpAuth, SnmpSettings
from agent.core.traps import MONITORED_IF_INDEX
from collectors.snmp.ber import Value
from collectors.snmp.poll import CHECK, COMMUNITY_VERSIONS, Plan, Poll
from collectors.snmp.profiles import (
    HC_OCTETS,
    IF_COLUMNS,
    LEGACY_OCTETS,
    PROFILES,
    SYS_DESCR,
    SYS_NAME,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    SYSTEM_OIDS,
    Profile,
    select,
)
from collectors.snmp.protocol import CommunityClient, Oid, Rows, UsmClient
from collectors.snmp.samples import SampleCache, interface_samples, monitored_matcher, text

log = logging.getLogger(__name__)
#: what failed in a partial poll (its English word) -> its term in agent.core.reasons
#: (vocabulary "part")
_PARTS = {english: term for term, (english, _) in reasons.TERMS["part"].items()}


class SnmpCollector:
    """The "snmp" check: one GET of the system group, one multi-column walk of IF-MIB.

    Per poll: sysUpTime, sysName, sysDescr and sysObjectID (batches of
    `max_oids_per_request`, 1 for SNMPv1); the profile picked by sysObjectID; one bulk walk of
    its ifTable/ifXTable columns; a second walk of ifInOctets/ifOutOctets only for devices
    that returned no 64-bit counters. OK when every request was answered, WARNING when some
    failed but others returned data (the reason says which). Raises TargetTimeout when
    nothing answered (AuthFailed instead if the agent answers SNMPv3 discovery, i.e. it is
    alive but ignores our community or key), AuthFailed for a rejected v3 user or key,
    ProbeError when the device has no usable credential set, and the first request's
    ProtocolError / TargetUnreachable when no request returned data.

    Samples (base units): snmp_uptime_seconds; per interface, labelled `interface`:
    interface_admin_up, interface_oper_up, interface_receive/transmit_bytes_total,
    interface_receive/transmit_errors_total, interface_receive/transmit_discards_total,
    interface_speed_bits_per_second and interface_monitored. Info: sysName, sysDescr,
    sysObjectID and, when an interface is monitored, MONITORED_IF_INDEX (ifIndex -> label).
    """

    def __init__(
        self,
        fast: CommunityClient,
        v3: UsmClient,
        clock: Clock,
        *,
        settings: SnmpSettings,
        profiles: Iterable[Profile] = PROFILES,
    ) -> None:
        self._fast = fast
        self._v3 = v3
        self._clock = clock
        self._settings = settings
        self._profiles = tuple(profiles)
        self._plans: dict[tuple[Profile, bool], Plan] = {}
        self._matchers: dict[tuple[str, ...], Callable[[str], object]] = {}
        self._sample_caches: dict[str, SampleCache] = {}  # by device name

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
        started = self._clock.monotonic()
        # Leave part of the check's deadline for the bookkeeping, so our own error (which
        # says what was asked) arrives before the scheduler's cancellation.
        margin = min(max(0.05 * spec.timeout_seconds, 0.02), 0.25)
        poll = Poll(
            self._fast, self._v3, self._clock, self._settings, device, self._auth(device),
            started + spec.timeout_seconds - margin,
        )  # fmt: skip
        failures: list[tuple[str, CollectorError]] = []
        answered = False

        system: dict[Oid, Value] = {}
        batch = 1 if poll.version == 0 else max(1, self._settings.max_oids_per_request)
        try:
            for i in range(0, len(SYSTEM_OIDS), batch):
                for var, value in await poll.get(SYSTEM_OIDS[i : i + batch]):
                    system[var] = value
                answered = True
        except TargetTimeout as exc:
            if not answered:
                raise await poll.explain_silence() from exc
            failures.append(("system group", exc))
        except (ProtocolError, TargetUnreachable) as exc:
            failures.append(("system group", exc))

        sys_object_id = system.get(SYS_OBJECT_ID)
        oid = sys_object_id if isinstance(sys_object_id, tuple) else None
        profile = select(self._profiles, oid)
        plan = self._plan(profile, poll.version == 0)
        table: dict[Oid, Rows] = {}
        try:
            table = await poll.walk(plan.prefixes)
            answered = True
        except (TargetTimeout, ProtocolError, TargetUnreachable) as exc:
            failures.append(("interface walk", exc))
        else:
            if plan.fallback and not any(table.get(IF_COLUMNS[c]) for c in HC_OCTETS):
                # Decided by measurement: walking the 32-bit counters on every poll costs
                # every device ~15 % more varbinds and CPU (739 instead of 641 for 49
                # interfaces), to spare the few devices without 64-bit ones a second walk.
                try:
                    table.update(await poll.walk(plan.fallback))
                except (TargetTimeout, ProtocolError, TargetUnreachable) as exc:
                    failures.append(("32-bit octet walk", exc))

        if not answered:
            raise failures[0][1]
        by_index: dict[str, str] = {}
        samples = self._samples(device, profile, plan, system, table, by_index)
        if failures:
            status = Status.WARNING
            reason = "; ".join(f"{what} failed: {exc}" for what, exc in failures)
            error = failures[0][1].kind
            cause = reasons.reason("snmp_partial", parts=",".join(dict.fromkeys(
                _PARTS[what] for what, _ in failures)))
            code, params = cause.code, cause.flat()
        else:
            status, reason, error, code, params = Status.OK, "", "", "", ()
        log.debug(
            "snmp poll",
            extra={"device": device.name, "profile": profile.name, "samples": len(samples)},
        )
        return CheckResult(
            device=device.name,
            check=CHECK,
            status=status,
            observed_at=self._clock.now(),
            duration_seconds=self._clock.monotonic() - started,
            samples=samples,
            reason=reason,
            error=error,
            code=code,
            params=params,
            info=(
                ("sysName", text(system.get(SYS_NAME))),
                ("sysDescr", text(system.get(SYS_DESCR))),
                ("sysObjectID", ".".join(map(str, oid)) if oid else ""),
                *(((MONITORED_IF_INDEX, json.dumps(by_index)),) if by_index else ()),
            ),
        )

    # ------------------------------------------------------------------ helpers

    def _auth(self, device: Device) -> SnmpAuth:
        name = device.snmp_auth
        auth = self._settings.auth.get(name) if name is not None else None
        if auth is None:
            raise ProbeError(
                device.name, CHECK,
                f"no SNMP credential set {name!r}" if name else "no snmp_auth for this device",
            )  # fmt: skip
        if auth.version in COMMUNITY_VERSIONS and auth.community is None:
            raise ProbeError(device.name, CHECK, f"credential set {name!r} has no community")
        return auth

    def _plan(self, profile: Profile, v1: bool) -> Plan:
        plan = self._plans.get((profile, v1))
        if plan is None:
            plan = self._plans[(profile, v1)] = Plan(profile, v1)
        return plan

    def _matcher(self, patterns: tuple[str, ...]) -> Callable[[str], object]:
        matcher = self._matchers.get(patterns)
        if matcher is None:
            matcher = self._matchers[patterns] = monitored_matcher(patterns)
        return matcher

    def _samples(
        self,
        device: Device,
        profile: Profile,
        plan: Plan,
        system: Mapping[Oid, Value],
        table: Mapping[Oid, Rows],
        by_index: dict[str, str],
    ) -> tuple[Sample, ...]:
        out: list[Sample] = []
        uptime = system.get(SYS_UPTIME)
        if isinstance(uptime, int):
            out.append(Sample("snmp_uptime_seconds", uptime / 100))
        columns = {name: table.get(prefix, []) for prefix, name in plan.names.items()}
        for name in LEGACY_OCTETS:
            columns.setdefault(name, table.get(IF_COLUMNS[name], []))
        patterns = device.interfaces or profile.interfaces
        cache = self._sample_caches.get(device.name)
        if cache is None:
            cache = self._sample_caches[device.name] = SampleCache()
        out.extend(interface_samples(columns, self._matcher(patterns), cache, by_index))
        return tuple(out)
