"""How walked IF-MIB values become samples: interface labels, the monitored-interface
patterns, and one Sample per interface and measurement, in base units.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence

from agent.core.model import Sample
from collectors.snmp.ber import Value
from collectors.snmp.protocol import Oid, Rows


def monitored_matcher(patterns: Sequence[str]) -> Callable[[str], object]:
    """A case-insensitive fnmatch of any of `patterns`; with no patterns nothing matches."""
    if not patterns:
        return lambda _name: False
    regex = "|".join(fnmatch.translate(p) for p in patterns)
    return re.compile(regex, re.IGNORECASE).match


def text(value: Value) -> str:
    """An OCTET STRING value as text (UTF-8, invalid bytes replaced, trailing NULs cut); else ""."""
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
