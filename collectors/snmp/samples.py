"""How walked IF-MIB values become samples: interface labels, the monitored-interface
patterns, and one Sample per interface and measurement, in base units.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final

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


def interface_names(
    indexes: Sequence[Oid], names: Mapping[Oid, str], descrs: Mapping[Oid, str]
) -> list[str]:
    """The `interface` label of each index: ifName, else ifDescr, else "if<ifIndex>"; names
    shared by several interfaces get "#<ifIndex>" appended to each of them."""
    return _labels(indexes, [names.get(i) for i in indexes], [descrs.get(i) for i in indexes])


def _if_index(index: Oid) -> str:
    return ".".join(map(str, index))


# The columns interface_samples reads, in the slot order of its per-interface records.
_FIELDS: Final = (
    "ifName", "ifDescr", "ifAlias", "ifAdminStatus", "ifOperStatus", "ifHCInOctets",
    "ifHCOutOctets", "ifInOctets", "ifOutOctets", "ifInErrors", "ifOutErrors", "ifInDiscards",
    "ifOutDiscards", "ifHighSpeed", "ifSpeed",
)  # fmt: skip
_SLOTS: Final = {name: k for k, name in enumerate(_FIELDS)}
_WIDTH: Final = len(_FIELDS)
# What each interface yields, in order: (sample name, slot in SampleCache rows).
_ADMIN, _OPER, _RX, _TX, _RX_ERR, _TX_ERR, _RX_DISC, _TX_DISC, _SPEED, _MONITORED = range(10)
_NAMES: Final = (
    "interface_admin_up", "interface_oper_up", "interface_receive_bytes_total",
    "interface_transmit_bytes_total", "interface_receive_errors_total",
    "interface_transmit_errors_total", "interface_receive_discards_total",
    "interface_transmit_discards_total", "interface_speed_bits_per_second",
    "interface_monitored",
)  # fmt: skip
Labels = tuple[tuple[str, str], ...]
_MAX_CACHED_INTERFACES = 4096  # per device: more labels than that (churn) start afresh


class SampleCache:
    """One device's samples of its previous poll, by interface label: a value that did not
    change reuses its (frozen) Sample instead of building another."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        # label -> (labels tuple, the last Sample per _NAMES slot, (texts, monitored?))
        self.rows: dict[str, tuple[Labels, list[Sample | None], list[object]]] = {}


def _int(v: Value) -> int | None:
    return v if isinstance(v, int) else None


def _text(v: Value) -> str | None:
    return v.decode("utf-8", "replace").rstrip("\x00") if isinstance(v, bytes) else None


def interface_samples(
    columns: Mapping[str, Rows],
    monitored: Callable[[str], object],
    cache: SampleCache | None = None,
    monitored_by_index: dict[str, str] | None = None,
) -> list[Sample]:
    """Samples for every interface found in the walked `columns` (MIB name -> rows).

    Octet counters are ifHC*Octets where the interface has them, else the 32-bit ones; speed
    is ifHighSpeed × 10⁶ when above 0, else ifSpeed. `monitored` is tried on ifName, ifDescr
    and ifAlias. Values of the wrong type (a broken agent) are left out. With a `cache` (one
    per device and matcher), unchanged samples are the previous poll's objects. With
    `monitored_by_index`, each monitored interface's dotted ifIndex is mapped to its label
    there (what a linkDown/linkUp trap names it by).
    """
    # One record per interface index: the value of each of _FIELDS, or None.
    records: dict[Oid, list[Value]] = {}
    for column, rows in columns.items():
        k = _SLOTS.get(column)
        for index, v in rows:
            rec = records.get(index)
            if rec is None:
                rec = records[index] = [None] * _WIDTH
            if k is not None:
                rec[k] = v
    indexes = sorted(records)
    recs = [records[i] for i in indexes]
    names = [_text(r[0]) for r in recs]
    descrs = [_text(r[1]) for r in recs]
    labels = _labels(indexes, names, descrs)

    rows_cache = cache.rows if cache is not None else {}
    if len(rows_cache) > _MAX_CACHED_INTERFACES:
        rows_cache.clear()
    out: list[Sample] = []
    add = out.append
    for index, label, rec, name, descr in zip(indexes, labels, recs, names, descrs,
                                               strict=True):
        entry = rows_cache.get(label)
        if entry is None:
            entry = ((("interface", label),), [None] * len(_NAMES), [None, None])
            if cache is not None:
                rows_cache[label] = entry
        lab, last, watch = entry
        values: list[float | None] = [None] * len(_NAMES)
        if (v := _int(rec[3])) is not None:
            values[_ADMIN] = 1.0 if v == 1 else 0.0
        if (v := _int(rec[4])) is not None:
            values[_OPER] = 1.0 if v == 1 else 0.0
        if (v := _int(rec[5])) is not None or (v := _int(rec[7])) is not None:
            values[_RX] = float(v)
        if (v := _int(rec[6])) is not None or (v := _int(rec[8])) is not None:
            values[_TX] = float(v)
        for slot, k in ((_RX_ERR, 9), (_TX_ERR, 10), (_RX_DISC, 11), (_TX_DISC, 12)):
            if (v := _int(rec[k])) is not None:
                values[slot] = float(v)
        if v := _int(rec[13]):
            values[_SPEED] = v * 1e6
        elif (v := _int(rec[14])) is not None:
            values[_SPEED] = float(v)
        seen = (monitored, rec[0], rec[1], rec[2])  # what `monitored` was tried on, raw
        if watch[0] != seen:
            watch[0] = seen
            texts = (name, descr, _text(rec[2]))
            watch[1] = any(t is not None and monitored(t) for t in texts)
        values[_MONITORED] = 1.0 if watch[1] else 0.0
        if watch[1] and monitored_by_index is not None:
            monitored_by_index[_if_index(index)] = label
        for slot, x in enumerate(values):
            if x is None:
                continue
            sample = last[slot]
            if sample is None or sample.value != x:
                sample = last[slot] = Sample(_NAMES[slot], x, lab)
            add(sample)
    return out


def _labels(indexes: Sequence[Oid], names: Sequence[str | None], descrs: Sequence[str | None]
            ) -> list[str]:  # fmt: skip
    """interface_names with each index's ifName and ifDescr given by position."""
    labels = [n or d or f"if{_if_index(i)}" for i, n, d in zip(indexes, names, descrs, strict=True)]
    if len(set(labels)) == len(labels):
        return labels
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [
        f"{label}#{_if_index(index)}" if seen[label] > 1 else label
        for label, index in zip(labels, indexes, strict=True)
    ]
