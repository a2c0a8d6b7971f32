"""SNMP device profiles as data: which IF-MIB columns to walk and which interfaces to watch by
default, picked by the most specific sysObjectID prefix (the generic profile matches any device).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

Oid = tuple[int, ...]

SYS_UPTIME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_DESCR: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYSTEM_OIDS: Final[tuple[Oid, ...]] = (SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID)

_IF_ENTRY: Final = (1, 3, 6, 1, 2, 1, 2, 2, 1)  # IF-MIB ifTable.ifEntry
_IFX_ENTRY: Final = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)  # IF-MIB ifXTable.ifXEntry

#: Every IF-MIB column pantau knows, by its MIB name (numeric OIDs only: no MIB files needed).
IF_COLUMNS: Final[Mapping[str, Oid]] = MappingProxyType({
    "ifDescr": (*_IF_ENTRY, 2),
    "ifSpeed": (*_IF_ENTRY, 5),
    "ifAdminStatus": (*_IF_ENTRY, 7),
    "ifOperStatus": (*_IF_ENTRY, 8),
    "ifInOctets": (*_IF_ENTRY, 10),
    "ifInDiscards": (*_IF_ENTRY, 13),
    "ifInErrors": (*_IF_ENTRY, 14),
    "ifOutOctets": (*_IF_ENTRY, 16),
    "ifOutDiscards": (*_IF_ENTRY, 19),
    "ifOutErrors": (*_IF_ENTRY, 20),
    "ifName": (*_IFX_ENTRY, 1),
    "ifHCInOctets": (*_IFX_ENTRY, 6),
    "ifHCOutOctets": (*_IFX_ENTRY, 10),
    "ifHighSpeed": (*_IFX_ENTRY, 15),
    "ifAlias": (*_IFX_ENTRY, 18),
})  # fmt: skip

#: The 64-bit octet counters, and the 32-bit ones walked only where those are missing.
HC_OCTETS: Final = ("ifHCInOctets", "ifHCOutOctets")
LEGACY_OCTETS: Final = ("ifInOctets", "ifOutOctets")

#: What a poll walks by default: ifTable and ifXTable columns, 64-bit octet counters.
DEFAULT_COLUMNS: Final[tuple[str, ...]] = (
    "ifDescr", "ifAdminStatus", "ifOperStatus", "ifSpeed", "ifInDiscards", "ifInErrors",
    "ifOutDiscards", "ifOutErrors", "ifName", "ifHCInOctets", "ifHCOutOctets", "ifHighSpeed",
    "ifAlias",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Profile:
    """What to poll on one kind of device.

    `sys_object_id` is a prefix of the device's sysObjectID (`()` matches every device);
    `columns` names IF-MIB columns of `IF_COLUMNS` (the 32-bit octet counters are added by the
    collector only when a device has no 64-bit ones); `interfaces` are fnmatch patterns of the
    interfaces monitored by default when neither the device nor `[snmp] interfaces` names any.
    """

    name: str
    sys_object_id: Oid = ()
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    interfaces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in self.columns if c not in IF_COLUMNS]
        if unknown:
            raise ValueError(f"profile {self.name}: unknown IF-MIB columns {unknown}")

    def without(self, *columns: str) -> tuple[str, ...]:
        """This profile's columns minus `columns` (for profiles that skip some)."""
        return tuple(c for c in self.columns if c not in columns)


GENERIC: Final = Profile("generic")

#: Built-in profiles. A profile only needs to exist where a device kind differs from GENERIC.
PROFILES: Final[tuple[Profile, ...]] = (
    GENERIC,
    # Cisco IOS / IOS-XE / NX-OS: the physical ports and port-channels carry the traffic.
    Profile(
        "cisco",
        sys_object_id=(1, 3, 6, 1, 4, 1, 9),
        interfaces=("Gi*", "Te*", "Fo*", "Hu*", "Twe*", "Po*"),
    ),
    # MikroTik RouterOS: ethernet and SFP ports by their default names.
    Profile(
        "mikrotik",
        sys_object_id=(1, 3, 6, 1, 4, 1, 14988, 1),
        interfaces=("ether*", "sfp*", "combo*"),
    ),
    # net-snmp on Linux (servers, appliances): the usual NIC names, not lo or bridges.
    Profile(
        "net-snmp-linux",
        sys_object_id=(1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
        interfaces=("eth*", "en*", "bond*"),
    ),
)


def select(profiles: Iterable[Profile], sys_object_id: Sequence[int] | None) -> Profile:
    """The profile whose `sys_object_id` is the longest prefix of `sys_object_id`.

    An unknown sysObjectID (None) matches only profiles with an empty prefix. Ties go to the
    profile listed first. Raises LookupError if nothing matches (no generic profile given).
    """
    oid = tuple(sys_object_id) if sys_object_id is not None else ()
    best: Profile | None = None
    for profile in profiles:
        prefix = profile.sys_object_id
        if oid[: len(prefix)] == prefix and (best is None or len(prefix) > len(best.sys_object_id)):
            best = profile
    if best is None:
        raise LookupError(f"no SNMP profile matches sysObjectID {'.'.join(map(str, oid))}")
    return best
