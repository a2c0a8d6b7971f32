"""The "snmp" check: the system group and the IF-MIB columns of one device per poll, through
FastSnmpClient (v1/v2c) or PysnmpClient (v3), turned into a CheckResult with samples per interface.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from agent.core.clock import Clock
from agent.core.errors import (
    AuthFailed,
    CollectorError,
    ProbeError,
    ProtocolError,
    TargetTimeout,
    TargetUnreachable,
)
from agent.core.model import CheckResult, CheckSpec, Device, Sample, Status, host_port
from agent.core.settings import SnmpAuth, SnmpSettings
from collectors.snmp.ber import Value
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

log = logging.getLogger(__name__)

CHECK = "snmp"
_VERSIONS = {"1": 0, "2c": 1}  # config version -> SNMP message version (v3 goes to pysnmp)
# Below this, a discovery probe could not get an answer back even from a live agent.
_MIN_PROBE_SECONDS = 0.02


class _Plan:
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


class _Poll:
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
        self.version = _VERSIONS.get(auth.version, 3)
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
    interface_speed_bits_per_second and interface_monitored.
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
        self._plans: dict[tuple[Profile, bool], _Plan] = {}
        self._matchers: dict[tuple[str, ...], Callable[[str], object]] = {}

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
        started = self._clock.monotonic()
        # Leave part of the check's deadline for the bookkeeping, so our own error (which
        # says what was asked) arrives before the scheduler's cancellation.
        margin = min(max(0.05 * spec.timeout_seconds, 0.02), 0.25)
        poll = _Poll(
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
        samples = self._samples(device, profile, plan, system, table)
        if failures:
            status = Status.WARNING
            reason = "; ".join(f"{what} failed: {exc}" for what, exc in failures)
            error = failures[0][1].kind
        else:
            status, reason, error = Status.OK, "", ""
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
            info=(
                ("sysName", _text(system.get(SYS_NAME))),
                ("sysDescr", _text(system.get(SYS_DESCR))),
                ("sysObjectID", ".".join(map(str, oid)) if oid else ""),
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
        if auth.version in _VERSIONS and auth.community is None:
            raise ProbeError(device.name, CHECK, f"credential set {name!r} has no community")
        return auth

    def _plan(self, profile: Profile, v1: bool) -> _Plan:
        plan = self._plans.get((profile, v1))
        if plan is None:
            plan = self._plans[(profile, v1)] = _Plan(profile, v1)
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
        plan: _Plan,
        system: Mapping[Oid, Value],
        table: Mapping[Oid, Rows],
    ) -> tuple[Sample, ...]:
        out: list[Sample] = []
        uptime = system.get(SYS_UPTIME)
        if isinstance(uptime, int):
            out.append(Sample("snmp_uptime_seconds", uptime / 100))
        columns = {name: table.get(prefix, []) for prefix, name in plan.names.items()}
        for name in LEGACY_OCTETS:
            columns.setdefault(name, table.get(IF_COLUMNS[name], []))
        patterns = device.interfaces or profile.interfaces
        out.extend(interface_samples(columns, self._matcher(patterns)))
        return tuple(out)


# --------------------------------------------------------------------------- pure parts


def monitored_matcher(patterns: Sequence[str]) -> Callable[[str], object]:
    """A case-insensitive fnmatch of any of `patterns`; with no patterns nothing matches."""
    if not patterns:
        return lambda _name: False
    regex = "|".join(fnmatch.translate(p) for p in patterns)
    return re.compile(regex, re.IGNORECASE).match


def _text(value: Value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return ""


def _ints(rows: Rows) -> dict[Oid, int]:
    return {index: v for index, v in rows if isinstance(v, int)}


def _texts(rows: Rows) -> dict[Oid, str]:
    return {
        index: v.decode("utf-8", "replace").rstrip("\x00")
        for index, v in rows
        if isinstance(v, bytes)
    }


def interface_names(
    indexes: Sequence[Oid], names: Mapping[Oid, str], descrs: Mapping[Oid, str]
) -> list[str]:
    """The `interface` label of each index: ifName, else ifDescr, else "if<ifIndex>"; names
    shared by several interfaces get "#<ifIndex>" appended to each of them."""
    labels = []
    for index in indexes:
        label = names.get(index) or descrs.get(index)
        labels.append(label or f"if{_if_index(index)}")
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    if len(seen) == len(labels):
        return labels
    return [
        f"{label}#{_if_index(index)}" if seen[label] > 1 else label
        for label, index in zip(labels, indexes, strict=True)
    ]


def _if_index(index: Oid) -> str:
    return ".".join(map(str, index))


def interface_samples(
    columns: Mapping[str, Rows], monitored: Callable[[str], object]
) -> list[Sample]:
    """Samples for every interface found in the walked `columns` (MIB name -> rows).

    Octet counters are ifHC*Octets where the interface has them, else the 32-bit ones; speed
    is ifHighSpeed × 10⁶ when above 0, else ifSpeed. `monitored` is tried on ifName, ifDescr
    and ifAlias. Values of the wrong type (a broken agent) are left out.
    """
    empty: Rows = []
    names = _texts(columns.get("ifName", empty))
    descrs = _texts(columns.get("ifDescr", empty))
    aliases = _texts(columns.get("ifAlias", empty))
    admin = _ints(columns.get("ifAdminStatus", empty))
    oper = _ints(columns.get("ifOperStatus", empty))
    hc_in = _ints(columns.get("ifHCInOctets", empty))
    hc_out = _ints(columns.get("ifHCOutOctets", empty))
    in_octets = _ints(columns.get("ifInOctets", empty))
    out_octets = _ints(columns.get("ifOutOctets", empty))
    in_errors = _ints(columns.get("ifInErrors", empty))
    out_errors = _ints(columns.get("ifOutErrors", empty))
    in_discards = _ints(columns.get("ifInDiscards", empty))
    out_discards = _ints(columns.get("ifOutDiscards", empty))
    high_speed = _ints(columns.get("ifHighSpeed", empty))
    speed = _ints(columns.get("ifSpeed", empty))

    seen: set[Oid] = set()
    for rows in columns.values():
        seen.update(index for index, _ in rows)
    indexes = sorted(seen)
    labels = interface_names(indexes, names, descrs)

    out: list[Sample] = []
    add = out.append
    for index, label in zip(indexes, labels, strict=True):
        lab = (("interface", label),)
        if (v := admin.get(index)) is not None:
            add(Sample("interface_admin_up", 1.0 if v == 1 else 0.0, lab))
        if (v := oper.get(index)) is not None:
            add(Sample("interface_oper_up", 1.0 if v == 1 else 0.0, lab))
        if (v := hc_in.get(index, in_octets.get(index))) is not None:
            add(Sample("interface_receive_bytes_total", float(v), lab))
        if (v := hc_out.get(index, out_octets.get(index))) is not None:
            add(Sample("interface_transmit_bytes_total", float(v), lab))
        if (v := in_errors.get(index)) is not None:
            add(Sample("interface_receive_errors_total", float(v), lab))
        if (v := out_errors.get(index)) is not None:
            add(Sample("interface_transmit_errors_total", float(v), lab))
        if (v := in_discards.get(index)) is not None:
            add(Sample("interface_receive_discards_total", float(v), lab))
        if (v := out_discards.get(index)) is not None:
            add(Sample("interface_transmit_discards_total", float(v), lab))
        v = high_speed.get(index)
        if v:
            add(Sample("interface_speed_bits_per_second", v * 1e6, lab))
        elif (v := speed.get(index)) is not None:
            add(Sample("interface_speed_bits_per_second", float(v), lab))
        watched = (
            ((text := names.get(index)) is not None and monitored(text))
            or ((text := descrs.get(index)) is not None and monitored(text))
            or ((text := aliases.get(index)) is not None and monitored(text))
        )
        add(Sample("interface_monitored", 1.0 if watched else 0.0, lab))
    return out
