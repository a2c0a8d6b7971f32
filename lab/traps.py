"""The lab as a trap sender: the snmpd.conf lines that make its snmpd announce port changes
(linkDown/linkUp within ~2 s, DisMan Event MIB), and net-snmp `snmptrap` command lines for
one-off notifications from a device's address. Pure: no processes, no sockets.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lab.netns import LabError

TrapVersion = Literal["1", "2c", "3"]
#: (numeric OID, snmptrap type letter, value), e.g. (".1.3.6.1.2.1.2.2.1.1.5", "i", "5")
Varbind = tuple[str, str, str]

IF_INDEX = ".1.3.6.1.2.1.2.2.1.1"
IF_ADMIN_STATUS = ".1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = ".1.3.6.1.2.1.2.2.1.8"
SNMP_TRAPS = ".1.3.6.1.6.3.1.1.5"  # coldStart .1 ... linkDown .3, linkUp .4 (RFC 3418)
LINK_DOWN = SNMP_TRAPS + ".3"
LINK_UP = SNMP_TRAPS + ".4"
# NET-SNMP-AGENT-MIB nsCacheTimeout, indexed by the (IMPLIED) OID of the cached table: the
# ifTable's cache is reloaded every 3 s by default, which alone would delay a linkDown by up
# to 3 s; at 1 s the worst case is ~1 s of cache plus ~1 s until the next check.
IF_TABLE_CACHE_TIMEOUT = ".1.3.6.1.4.1.8072.1.5.3.1.2.1.3.6.1.2.1.2.2"
INTERNAL_USER = "lab-internal"  # DisMan's internal queries (iquerySecName)

_TYPES = frozenset("iucsxdnotab")  # snmptrap(1) TYPE letters
_OID = re.compile(r"\.?[0-9]+(\.[0-9]+)+")
_TOKEN = re.compile(r"[!-~]+")  # one snmpd.conf word: printable, no blank
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def _loopback(addr: str, what: str) -> str:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        raise LabError(f"{what}: not an IPv4 address: {addr!r}") from None
    if ip not in _LOOPBACK:
        raise LabError(f"{what}: the lab only reaches 127.0.0.0/8, not {addr}")
    return str(ip)


def _port(port: int, what: str) -> int:
    if not 1 <= port <= 65535:
        raise LabError(f"{what}: port must be 1..65535, not {port}")
    return port


@dataclass(frozen=True, slots=True)
class Notifications:
    """Where the lab's snmpd announces its ports: a v2c SNMPv2-Trap linkDown or linkUp
    (varbinds ifIndex, ifAdminStatus, ifOperStatus of the port) to `host`:`port`, sent once
    from each of `sources` (lab device addresses: the UDP source a receiver matches on).

    `check_seconds` is how often snmpd compares ifOperStatus (DisMan `monitor -r`). Raises
    LabError for an address outside 127.0.0.0/8, a bad port, or a community that is not one
    snmpd.conf word (the message never shows the community).
    """

    host: str
    port: int
    community: str = field(repr=False)
    sources: tuple[str, ...] = ("127.20.1.1",)
    check_seconds: int = 1

    def __post_init__(self) -> None:
        _loopback(self.host, "notification receiver")
        _port(self.port, "notification receiver")
        if not self.sources:
            raise LabError("notifications: give at least one source address")
        for source in self.sources:
            _loopback(source, "notification source")
        if not _TOKEN.fullmatch(self.community):
            raise LabError("notifications: the community must be printable ASCII without "
                           "blanks (one snmpd.conf word)")
        if not 1 <= self.check_seconds <= 3600:
            raise LabError(f"notifications: check_seconds must be 1..3600, not "
                           f"{self.check_seconds}")

    def state(self) -> dict[str, Any]:
        """These settings as JSON values, for the lab's state file (community included)."""
        return {"host": self.host, "port": self.port, "community": self.community,
                "sources": list(self.sources), "check_seconds": self.check_seconds}

    @classmethod
    def from_state(cls, saved: dict[str, Any] | None) -> Notifications | None:
        """The inverse of `state()`; None stays None."""
        if saved is None:
            return None
        return cls(host=saved["host"], port=saved["port"], community=saved["community"],
                   sources=tuple(saved["sources"]), check_seconds=saved["check_seconds"])

    def conf_lines(self, internal_key: str) -> list[str]:
        """snmpd.conf lines for these notifications. `internal_key` is the random auth key of
        the internal DisMan user (never used from outside snmpd)."""
        every = self.check_seconds
        payload = f"-o {IF_INDEX} -o {IF_ADMIN_STATUS} -o {IF_OPER_STATUS}"
        return [
            "# linkDown/linkUp to the trap receiver (DisMan Event MIB, snmpd.conf(5))",
            # DisMan reads ifTable through internal SNMPv3 queries as this user (authNoPriv);
            # it may read everything but write only nsCacheTable.
            f"createUser {INTERNAL_USER} SHA {internal_key}",
            f"group labInternal usm {INTERNAL_USER}",
            "view labCache included .1.3.6.1.4.1.8072.1.5.3.1.2",
            'access labInternal "" usm auth exact all labCache none',
            f"iquerySecName {INTERNAL_USER}",
            # keep the ifTable cache at 1 s: set at start-up, put back if anyone changes it
            f"setEvent labIfCache -I {IF_TABLE_CACHE_TIMEOUT} = 1",
            f'monitor -I -r 10 -e labIfCache "ifTableCache" {IF_TABLE_CACHE_TIMEOUT} != 1',
            f"notificationEvent labLinkDown {LINK_DOWN} {payload}",
            f"notificationEvent labLinkUp {LINK_UP} {payload}",
            # -S: no burst of linkUp/linkDown for every port at start-up, only changes
            f'monitor -S -r {every} -e labLinkDown "labLinkDown" {IF_OPER_STATUS} == 2',
            f'monitor -S -r {every} -e labLinkUp "labLinkUp" {IF_OPER_STATUS} != 2',
            # -s: the source address of this copy (net-snmp binds the session's socket to it)
            *(f"trapsess -s {source} -v 2c -c {self.community} {self.host}:{self.port}"
              for source in self.sources),
        ]


def engine_id(address: str) -> str:
    """The SNMPv3 engine ID the lab's one-off v3 traps carry for device `address`: RFC 3411
    format 1 (IPv4) under net-snmp's enterprise 8072, e.g. 0x80001f88017f140101."""
    return "0x80001f8801" + ipaddress.IPv4Address(_loopback(address, "device")).packed.hex()


def v1_fields(oid: str) -> tuple[str, int, int]:
    """(enterprise, generic-trap, specific-trap) of an SNMPv1 Trap-PDU for the SNMPv2
    notification `oid`, as RFC 3584 §3.2 maps them. Raises LabError for a bad OID."""
    _check_oid(oid, "trap OID")
    arcs = oid.lstrip(".").split(".")
    generic = [".".join(arcs[:-1]), arcs[-1]]
    if "." + generic[0] == SNMP_TRAPS and 1 <= int(generic[1]) <= 6:
        return SNMP_TRAPS, int(generic[1]) - 1, 0
    cut = 2 if len(arcs) > 2 and arcs[-2] == "0" else 1
    return "." + ".".join(arcs[:-cut]), 6, int(arcs[-1])


def _check_oid(oid: str, what: str) -> None:
    if not _OID.fullmatch(oid):
        raise LabError(f"{what}: expected a numeric OID such as .1.3.6.1.6.3.1.1.5.3, "
                       f"not {oid!r}")


def trap_argv(credentials: Sequence[str], address: str, oid: str,
              varbinds: Sequence[Varbind] = (), *, sink: tuple[str, int],
              version: TrapVersion = "2c", inform: bool = False, uptime: int | None = None,
              timeout: float = 1.0, retries: int = 0) -> list[str]:
    """The snmptrap command line that sends `oid` with `varbinds` as device `address` to
    `sink`, from `address` as UDP source (`--clientaddr`).

    `credentials` are net-snmp options for `version` (`Lab.snmp_args`); v3 adds the device's
    `engine_id`. v1 sends a Trap-PDU (RFC 3584 mapping, agent-addr = `address`); v2c and v3
    an SNMPv2-Trap, or an InformRequest when `inform` (answered or retried `retries` times,
    `timeout` seconds apart). `uptime` in hundredths (None: the host's). Raises LabError for
    anything snmptrap would refuse or the lab cannot reach.
    """
    source = _loopback(address, "device")
    host = _loopback(sink[0], "trap receiver")
    target = f"udp:{host}:{_port(sink[1], 'trap receiver')}"
    if inform and version == "1":
        raise LabError("SNMPv1 has no InformRequest: use version 2c or 3")
    if timeout <= 0 or retries < 0:
        raise LabError(f"timeout must be > 0 and retries >= 0, not {timeout}, {retries}")
    _check_oid(oid, "trap OID")
    tail: list[str] = []
    for name, kind, value in varbinds:
        _check_oid(name, "varbind OID")
        if kind not in _TYPES:
            raise LabError(f"varbind {name}: type must be one of {''.join(sorted(_TYPES))}, "
                           f"not {kind!r}")
        tail += [name, kind, value]
    argv = ["snmptrap", *credentials]
    if version == "3":
        argv += ["-e", engine_id(source)]
    if inform:
        argv.append("-Ci")
    argv += [f"--clientaddr={source}", "-t", f"{timeout:g}", "-r", str(retries), target]
    ticks = "" if uptime is None else str(uptime)
    if version == "1":
        enterprise, generic, specific = v1_fields(oid)
        return [*argv, enterprise, source, str(generic), str(specific), ticks, *tail]
    return [*argv, ticks, oid, *tail]


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every occurrence of each secret replaced by `<secret>`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    return text
