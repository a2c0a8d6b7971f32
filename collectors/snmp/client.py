"""PysnmpClient: SNMPv3 (USM) GET and multi-column GETBULK walks on pysnmp 7, with the value
types and errors of FastSnmpClient, and the SNMPv3 discovery probe of `discovery.py`.
pysnmp's `Any` stays in this module.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.hlapi.v3arch.asyncio.cmdgen import VB_PROCESSOR
from pysnmp.proto import errind, rfc1902, rfc1905

from agent.core.clock import Clock
from agent.core.errors import AuthFailed, CollectorError, ProtocolError
from agent.core.settings import SnmpAuth
from collectors.snmp import ber
from collectors.snmp.ber import Value
from collectors.snmp.calls import Call, Column, bounded, take_rows
from collectors.snmp.discovery import discover_engine_id
from collectors.snmp.protocol import Oid, Rows, Target

log = logging.getLogger(__name__)

#: Config names -> pysnmp authentication protocols (UsmUserData defaults to MD5 when none is
#: named, so a protocol is always passed explicitly).
AUTH_PROTOCOLS: Final[Mapping[str, Any]] = MappingProxyType({
    "none": usm.USM_AUTH_NONE,
    "md5": usm.USM_AUTH_HMAC96_MD5,
    "sha": usm.USM_AUTH_HMAC96_SHA,
    "sha224": usm.USM_AUTH_HMAC128_SHA224,
    "sha256": usm.USM_AUTH_HMAC192_SHA256,
    "sha384": usm.USM_AUTH_HMAC256_SHA384,
    "sha512": usm.USM_AUTH_HMAC384_SHA512,
})  # fmt: skip

#: Config names -> pysnmp privacy protocols. AES-192/256 need a key longer than an MD5/SHA-1
#: digest, and there are two ways to extend it: Blumenthal (draft-blumenthal-aes-usm-04, used
#: by net-snmp) and Reeder (draft-reeder-snmpv3-usm-3desede, used by Cisco). Measured against
#: net-snmp 5.9.3: with SHA-1, MD5 or SHA-224 only the Blumenthal variants answer; with
#: SHA-384/512 (digests long enough that no extension is needed) both do. So "aes192" and
#: "aes256" mean Blumenthal here.
PRIV_PROTOCOLS: Final[Mapping[str, Any]] = MappingProxyType({
    "none": usm.USM_PRIV_NONE,
    "des": usm.USM_PRIV_CBC56_DES,
    "3des": usm.USM_PRIV_CBC168_3DES,
    "aes128": usm.USM_PRIV_CFB128_AES,
    "aes192": usm.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "aes256": usm.USM_PRIV_CFB256_AES_BLUMENTHAL,
})  # fmt: skip

# pysnmp error indications that mean our v3 user, key or security level is wrong.
_AUTH_INDICATIONS: Final = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.NotInTimeWindow,
    errind.AuthenticationFailure,
    errind.UnknownSecurityName,
)
_AUTHORIZATION_ERROR: Final = 16  # error-status authorizationError: VACM refused this user


def usm_user(auth: SnmpAuth) -> Any:
    """The pysnmp UsmUserData for a v3 credential set, both protocols always named.

    Raises ValueError for a version other than "3" or an unknown protocol name.
    """
    if auth.version != "3" or auth.username is None:
        raise ValueError(f"credential set {auth.name}: not an SNMPv3 user")
    try:
        auth_protocol = AUTH_PROTOCOLS[auth.auth_protocol]
        priv_protocol = PRIV_PROTOCOLS[auth.priv_protocol]
    except KeyError as exc:
        raise ValueError(f"credential set {auth.name}: unknown protocol {exc.args[0]!r}") from None
    return UsmUserData(
        auth.username,
        authKey=auth.auth_key.reveal() if auth.auth_key is not None else None,
        privKey=auth.priv_key.reveal() if auth.priv_key is not None else None,
        authProtocol=auth_protocol,
        privProtocol=priv_protocol,
    )


def _tag_converters() -> dict[Any, Callable[[Any], Value]]:
    return {
        rfc1902.Integer32.tagSet: int,
        rfc1902.OctetString.tagSet: bytes,
        rfc1902.ObjectIdentifier.tagSet: lambda v: tuple(v.asTuple()),
        rfc1902.IpAddress.tagSet: lambda v: ipaddress.IPv4Address(bytes(v)),
        rfc1902.Counter32.tagSet: lambda v: ber.Counter32(int(v)),
        rfc1902.Gauge32.tagSet: lambda v: ber.Gauge32(int(v)),
        rfc1902.TimeTicks.tagSet: lambda v: ber.TimeTicks(int(v)),
        rfc1902.Counter64.tagSet: lambda v: ber.Counter64(int(v)),
        rfc1902.Opaque.tagSet: lambda v: ber.Opaque(bytes(v)),
        rfc1902.Null.tagSet: lambda v: None,
        rfc1905.NoSuchObject.tagSet: lambda v: ber.NO_SUCH_OBJECT,
        rfc1905.NoSuchInstance.tagSet: lambda v: ber.NO_SUCH_INSTANCE,
        rfc1905.EndOfMibView.tagSet: lambda v: ber.END_OF_MIB_VIEW,
    }


_CONVERTERS: Final = _tag_converters()  # immutable after import: a lookup table, not state


def convert(value: Any) -> Value:
    """A pysnmp value as the type `ber.py` decodes it to (Counter32, bytes, Absent, ...).

    Raises ValueError for a type SNMP does not define.
    """
    converter = _CONVERTERS.get(value.tagSet)
    if converter is None:
        raise ValueError(f"unexpected SNMP value type {type(value).__name__}")
    return converter(value)


class PysnmpClient:
    """SNMPv3 requests through pysnmp, with FastSnmpClient's method shapes.

    Create one per event loop. The SnmpEngine is built on first use (or by `start()`) in a
    worker thread, because building it and its MIB view loads files from disk; or pass one in.
    Each (address, port, timeout, retries) gets one UdpTransportTarget, each credential set
    one UsmUserData, both created once and reused. Keys are sent, never logged.

    pysnmp keeps one key set per user name in an engine, and swaps it when another set with
    the same user name comes along, under requests in flight (a reply then fails its digest
    check). So credential sets that share a user name but differ in keys or protocols get an
    engine each: one engine for most configurations, a few when per-device keys share a name.
    """

    def __init__(self, clock: Clock, *, engine: Any = None) -> None:
        self._clock = clock
        self._given = engine
        self._engines: list[Any] = [] if engine is None else [engine]
        # per engine: user name -> the credentials that user name is bound to there
        self._bound: list[dict[str, tuple[object, ...]]] = [{} for _ in self._engines]
        self._lock = asyncio.Lock()
        self._targets: dict[tuple[int, str, int, float, int], Any] = {}
        self._users: dict[SnmpAuth, tuple[int, Any]] = {}
        self._contexts: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Build the first SnmpEngine (and warm its MIB view) off the event loop; idempotent."""
        async with self._lock:
            if not self._engines:
                await self._add_engine()

    async def _add_engine(self) -> int:
        self._engines.append(await asyncio.to_thread(_build_engine))
        self._bound.append({})
        return len(self._engines) - 1

    async def aclose(self) -> None:
        """Close the transports of the engines this client built; idempotent."""
        engines, self._engines = self._engines, []
        self._bound, self._users = [], {}
        self._targets.clear()
        for engine in engines:
            if engine is not self._given:
                engine.close_dispatcher()

    async def _user(self, auth: SnmpAuth) -> tuple[int, Any]:
        """The engine index and UsmUserData for `auth`. Raises ValueError (bad protocol)."""
        found = self._users.get(auth)
        if found is not None:
            return found
        user = usm_user(auth)
        name = auth.username or ""
        creds = (auth.auth_protocol, auth.auth_key, auth.priv_protocol, auth.priv_key)
        async with self._lock:
            slot = next(
                (i for i, bound in enumerate(self._bound) if bound.get(name, creds) == creds),
                None,
            )
            if slot is None:
                slot = await self._add_engine()
                if slot:
                    log.info(
                        "snmp engine added",
                        extra={"user": name, "engines": slot + 1,
                               "why": "same v3 user name with other keys"},
                    )  # fmt: skip
            self._bound[slot][name] = creds
        self._users[auth] = (slot, user)
        return slot, user

    # ------------------------------------------------------------------ public API

    async def get(
        self,
        target: Target,
        auth: SnmpAuth,
        oids: Sequence[Sequence[int]],
        *,
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        device: str | None = None,
        check: str = "snmp",
    ) -> Rows:
        """GET `oids` in one SNMPv3 request; returns (oid, value) in request order.

        Missing variables come back as `Absent`. Raises TargetTimeout (no answer), AuthFailed
        (unknown user, wrong key, security level or time window, access refused) or
        ProtocolError (anything else the agent or pysnmp reports).
        """
        call, engine, user, tgt, ctx = await self._prepare(
            target, auth, timeout, retries, device, check, "getting"
        )
        varbinds = [ObjectType(ObjectIdentity(tuple(o))) for o in oids]
        status, index, answer = await self._request(
            call, get_cmd, engine, user, tgt, ctx, *varbinds
        )
        if status:
            raise self._status_error(call, status, index)
        if len(answer) != len(varbinds):
            raise call.protocol_error("reply has a different number of varbinds")
        return [(tuple(name.asTuple()), _value(call, v)) for name, v in answer]

    async def bulk_walk(
        self,
        target: Target,
        auth: SnmpAuth,
        column_oid_prefixes: Sequence[Sequence[int]],
        *,
        max_repetitions: int = 25,
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        total_timeout: float | None = None,
        max_requests: int = 10_000,
        device: str | None = None,
        check: str = "snmp",
    ) -> dict[Oid, Rows]:
        """Walk several table columns at once; returns prefix -> [(index suffix, value)].

        One GETBULK carries every column still open (pysnmp's bulk_walk_cmd walks one column
        and, on a timeout, retries forever). A column ends when a reply leaves its prefix or
        holds an exception value; the walk stops at the first error. Bounded by `timeout` and
        `retries` per request, `total_timeout` (when given) and `max_requests`. Raises like
        `get`, and ProtocolError when OIDs do not increase.
        """
        if max_repetitions < 1:
            raise ValueError("max_repetitions must be at least 1")
        call, engine, user, tgt, ctx = await self._prepare(
            target, auth, timeout, retries, device, check, "walking"
        )
        columns: dict[Oid, Column[Oid]] = {}
        for prefix in column_oid_prefixes:
            key = tuple(prefix)
            columns.setdefault(key, Column(key, key))
        walk = self._walk(
            call, engine, user, tgt, ctx, list(columns.values()), max_repetitions, max_requests
        )
        await bounded(call, self._clock, total_timeout, walk)
        return {key: col.rows for key, col in columns.items()}

    async def discover(self, target: Target, *, timeout: float) -> bytes | None:  # noqa: ASYNC109
        """Send one unauthenticated SNMPv3 engine-ID discovery request (RFC 3414 §4).

        Returns the agent's engine ID (possibly empty) if any SNMPv3 message answering it
        comes back within `timeout` seconds, else None (no answer, or port unreachable).
        Needs no credentials: any v3-capable agent answers with a Report
        (usmStatsUnknownEngineIDs), whatever community or user it was configured with.
        """
        return await discover_engine_id(target, timeout=timeout)

    # ------------------------------------------------------------------ plumbing

    async def _prepare(
        self,
        target: Target,
        auth: SnmpAuth,
        timeout: float,  # noqa: ASYNC109 -- handed to pysnmp's transport target
        retries: int,
        device: str | None,
        check: str,
        verb: str,
    ) -> tuple[Call, Any, Any, Any, Any]:
        host, port = target
        call = Call.begin(self._clock, host, port, device, check, verb, auth.username or "")
        try:
            slot, user = await self._user(auth)
        except (ValueError, PySnmpError) as exc:
            raise ProtocolError(call.device, call.check, str(exc)) from None
        ctx = self._contexts.get(auth.context)
        if ctx is None:
            ctx = self._contexts[auth.context] = ContextData(contextName=auth.context)
        key = (slot, host, port, timeout, retries)
        tgt = self._targets.get(key)
        if tgt is None:
            cls = Udp6TransportTarget if ":" in host else UdpTransportTarget
            try:
                tgt = await cls.create((host, port), timeout=timeout, retries=retries)
            except PySnmpError as exc:
                raise ProtocolError(
                    call.device, call.check, f"bad target {call.where}: {exc}"
                ) from exc
            self._targets[key] = tgt
        return call, self._engines[slot], user, tgt, ctx

    async def _request(self, call: Call, command: Any, *args: Any) -> tuple[int, int, Any]:
        """Run one pysnmp command and map its error indication; returns (error-status,
        error-index, varbinds).

        A notInTimeWindow Report makes pysnmp learn the agent's boots/time, so one retry is
        allowed before it counts as an authentication problem.
        """
        for attempt in (1, 2):
            try:
                indication, status, index, varbinds = await command(*args, lookupMib=False)
            except PySnmpError as exc:
                raise call.protocol_error(f"pysnmp refused the request ({exc})") from exc
            if indication is None:
                return int(status), int(index), varbinds
            if not (isinstance(indication, errind.NotInTimeWindow) and attempt == 1):
                break
        raise self._indication_error(call, indication)

    def _status_error(self, call: Call, status: int, index: int) -> CollectorError:
        if status == _AUTHORIZATION_ERROR:
            return AuthFailed(
                call.device, call.check,
                f"SNMPv3 user {call.user!r} is not authorized (authorizationError: security "
                f"level or view) {call.verb} {call.where}",
            )  # fmt: skip
        return call.status_error(status, index)

    async def _walk(
        self,
        call: Call,
        engine: Any,
        user: Any,
        tgt: Any,
        ctx: Any,
        open_cols: list[Column[Oid]],
        max_repetitions: int,
        max_requests: int,
    ) -> None:
        requests = 0
        while open_cols:
            requests += 1
            if requests > max_requests:
                raise call.protocol_error(f"walk unfinished after {max_requests} requests")
            varbinds = [ObjectType(ObjectIdentity(c.last)) for c in open_cols]
            status, error_index, table = await self._request(
                call, bulk_cmd, engine, user, tgt, ctx, 0, max_repetitions, *varbinds
            )
            if status == ber.TOO_BIG and max_repetitions > 1:
                max_repetitions //= 2
                continue
            if status:
                raise self._status_error(call, status, error_index)
            if not table:
                raise call.protocol_error("reply has no varbinds")
            answer = [(tuple(name.asTuple()), _value(call, raw)) for name, raw in table]
            open_cols = take_rows(call, open_cols, answer, tuple)

    def _indication_error(self, call: Call, indication: Any) -> CollectorError:
        if isinstance(indication, errind.RequestTimedOut):
            return call.timed_out(self._clock)
        if isinstance(indication, _AUTH_INDICATIONS):
            kind = type(indication).__name__
            kind = kind[0].lower() + kind[1:]
            return AuthFailed(
                call.device, call.check,
                f"SNMPv3 authentication failed ({kind}): wrong v3 user or key for user "
                f"{call.user!r} {call.verb} {call.where}",
            )  # fmt: skip
        return call.protocol_error(f"pysnmp reported {indication}")


def _value(call: Call, raw: Any) -> Value:
    try:
        return convert(raw)
    except ValueError as exc:
        raise call.protocol_error(str(exc)) from None


def _build_engine() -> Any:
    """A new SnmpEngine with its MIB view built (both read files: run in a worker thread)."""
    engine = SnmpEngine()
    VB_PROCESSOR.get_mib_view_controller(engine.cache)
    return engine
