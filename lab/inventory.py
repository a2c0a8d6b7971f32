"""Inventories of lab devices as pantau TOML: for the demo, the tests and the benchmarks.

Device 0 is the core switch `core-balaikota`; the next `children` devices hang below it; the
rest stand alone. Owners cycle through real agency names of a city government.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

AGENCIES: tuple[str, ...] = (
    "Dinas Kesehatan",
    "Dinas Pendidikan",
    "Dinas Kependudukan dan Pencatatan Sipil",
    "Kecamatan Bogor Tengah",
    "RSUD Kota Bogor",
    "Kelurahan Babakan",
)

CORE = "core-balaikota"

TomlValue = str | int | float | bool | Sequence[str] | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LabDevice:
    name: str
    address: str
    owner: str
    parent: str | None = None
    snmp_auth: str | None = None
    snmp_port: int | None = None
    interfaces: tuple[str, ...] = ()


def device_name(i: int, children: int) -> str:
    if i == 0:
        return CORE
    if i <= children:
        return f"ap-balaikota-{i:03d}"
    return f"sw-{i:05d}"


def lab_devices(address: Callable[[int], str], count: int, *, children: int = 20
                ) -> list[LabDevice]:
    """`count` devices at `address(0..count-1)`; devices 1..children have the core as parent."""
    children = min(children, max(0, count - 1))
    return [
        LabDevice(
            name=device_name(i, children),
            address=address(i),
            owner=AGENCIES[i % len(AGENCIES)],
            parent=CORE if 1 <= i <= children else None,
        )
        for i in range(count)
    ]


def _value(v: TomlValue) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(v, Mapping):  # an inline table, e.g. { env = "VAR" } for a secret
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    return "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in v) + "]"


def to_toml(
    devices: Sequence[LabDevice],
    sections: Mapping[str, Mapping[str, TomlValue]] | None = None,
) -> str:
    """A pantau configuration: `sections` (e.g. {"polling": {...}}) then the devices."""
    lines: list[str] = []
    for section, keys in (sections or {}).items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_value(v)}" for k, v in keys.items())
        lines.append("")
    for d in devices:
        lines.append("[[devices]]")
        lines.append(f"name = {_value(d.name)}")
        lines.append(f"address = {_value(d.address)}")
        lines.append(f"owner = {_value(d.owner)}")
        if d.parent:
            lines.append(f"parent = {_value(d.parent)}")
        if d.snmp_auth:
            lines.append(f"snmp_auth = {_value(d.snmp_auth)}")
        if d.snmp_port:
            lines.append(f"snmp_port = {d.snmp_port}")
        if d.interfaces:
            lines.append(f"interfaces = {_value(d.interfaces)}")
        lines.append("")
    return "\n".join(lines)
