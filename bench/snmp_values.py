"""The SNMP benchmark's values: what every tool polls, one tool's run, and the checks that the
runs agree (SnmpCollector's samples are first mapped back to raw IF-MIB values)."""

from __future__ import annotations

import dataclasses
from typing import Any

SYSUPTIME = "1.3.6.1.2.1.1.3"
# name -> numeric OID of the column (all walked; indexes are ifIndex)
COLUMNS: dict[str, str] = {
    "ifDescr": "1.3.6.1.2.1.2.2.1.2",
    "ifSpeed": "1.3.6.1.2.1.2.2.1.5",
    "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
    "ifOperStatus": "1.3.6.1.2.1.2.2.1.8",
    "ifInDiscards": "1.3.6.1.2.1.2.2.1.13",
    "ifInErrors": "1.3.6.1.2.1.2.2.1.14",
    "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19",
    "ifOutErrors": "1.3.6.1.2.1.2.2.1.20",
    "ifName": "1.3.6.1.2.1.31.1.1.1.1",
    "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6",
    "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10",
    "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15",
    "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
}
OIDS: dict[str, str] = {"sysUpTime": SYSUPTIME, **COLUMNS}
STRINGS = ("ifDescr", "ifName", "ifAlias")
STATIC = (*STRINGS, "ifSpeed", "ifHighSpeed", "ifAdminStatus", "ifOperStatus")
COUNTERS = (
    "ifInDiscards",
    "ifInErrors",
    "ifOutDiscards",
    "ifOutErrors",
    "ifHCInOctets",
    "ifHCOutOctets",
)
MOVING = ("sysUpTime", *COUNTERS)
TIMEOUT_S = 2.0  # per request, no retries, for every tool
MAX_REPETITIONS = 25
ROUND_LIMIT_S = 600.0  # one tool's round may not take longer than this

# device address -> metric -> index ("0" for sysUpTime, else the ifIndex) -> value
Values = dict[str, dict[str, dict[str, int | str]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """One tool's poll of all devices in one round."""

    tool: str
    devices: int
    round_no: int
    wall: float  # seconds
    cpu: float  # seconds of the tool's own CPU
    values: Values = dataclasses.field(repr=False)
    errors: tuple[str, ...] = ()

    @property
    def per_second(self) -> float:
        return self.devices / self.wall if self.wall > 0 else float("inf")

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.devices


# SnmpCollector sample -> the IF-MIB column it reports unchanged
_SAMPLE_COLUMNS: dict[str, str] = {
    "interface_receive_bytes_total": "ifHCInOctets",
    "interface_transmit_bytes_total": "ifHCOutOctets",
    "interface_receive_errors_total": "ifInErrors",
    "interface_transmit_errors_total": "ifOutErrors",
    "interface_receive_discards_total": "ifInDiscards",
    "interface_transmit_discards_total": "ifOutDiscards",
}


def samples_to_values(
    samples: list[list[Any]],
    reference: dict[str, dict[str, int | str]],
) -> tuple[dict[str, dict[str, int | str]], list[str]]:
    """Turn one device's SnmpCollector samples back into the bench's raw IF-MIB form.

    Interfaces are matched by the `interface` label against ifName (then ifDescr) of the
    `reference` run of the same device. Derived samples map back as: admin/oper up (1/0) to
    status 1/2, speed to ifHighSpeed (Mbit/s) when the reference's ifHighSpeed is above 0
    (as the collector chooses), else to ifSpeed. Returns the values and what could not be mapped.
    """
    by_label: dict[str, str] = {}
    for column in ("ifDescr", "ifName"):  # ifName wins: assigned last
        for index, text in reference.get(column, {}).items():
            by_label[str(text)] = index
    out: dict[str, dict[str, int | str]] = {}
    problems: list[str] = []
    for name, value, labels in samples:
        label = dict(labels).get("interface")
        if label is None:
            if name == "snmp_uptime_seconds":
                out.setdefault("sysUpTime", {})["0"] = round(value * 100)
            continue
        # the collector appends "#<ifIndex>" to a name that is not unique on the device
        idx = label.rsplit("#", 1)[1] if "#" in label else by_label.get(label)
        if idx is None:
            problems.append(f"interface {label!r} not in the reference run")
            continue
        if name in _SAMPLE_COLUMNS:
            out.setdefault(_SAMPLE_COLUMNS[name], {})[idx] = round(value)
        elif name in ("interface_admin_up", "interface_oper_up"):
            column = "ifAdminStatus" if name == "interface_admin_up" else "ifOperStatus"
            out.setdefault(column, {})[idx] = 1 if value == 1 else 2
        elif name == "interface_speed_bits_per_second":
            high = reference.get("ifHighSpeed", {}).get(idx)
            if isinstance(high, int) and high > 0:
                out.setdefault("ifHighSpeed", {})[idx] = round(value / 1e6)
            else:
                out.setdefault("ifSpeed", {})[idx] = round(value)
    return out, problems



def map_samples(run: Run, samples: dict[str, Any], runs: list[Run]) -> Run:
    """`run` (SnmpCollector's) with values mapped from its samples via another tool's run."""
    values: Values = {}
    errors = list(run.errors)
    for addr, device_samples in samples.items():
        ref = next((r.values[addr] for r in runs if r.tool != "pantau" and addr in r.values), None)
        if ref is None:
            errors.append(f"{addr}: no other tool's values to map the collector's interfaces")
            continue
        values[addr], problems = samples_to_values(device_samples, ref)
        errors += [f"{addr}: {p}" for p in problems[:3]]
    return dataclasses.replace(run, values=values, errors=tuple(errors))



def compare(runs: list[Run], addresses: list[str]) -> list[str]:
    """Problems with the values of `runs` (in the order they ran); empty when all agree.

    STATIC metrics must be identical in every run; MOVING ones (sysUpTime, counters) must
    cover the same indexes and never decrease from one run to the next. Metrics a run did
    not report at all (SnmpCollector reports no strings) are skipped for that run.
    """
    problems: list[str] = []
    for run in runs:
        missing = [a for a in addresses if a not in run.values]
        if missing:
            problems.append(
                f"{run.tool} round {run.round_no}: {len(missing)} devices without "
                f"values (first {missing[0]})"
            )
    have = [r for r in runs if r.values]
    if not have:
        return problems
    mismatches: dict[str, int] = {}
    examples: list[str] = []

    def bad(key: str, text: str) -> None:
        mismatches[key] = mismatches.get(key, 0) + 1
        if len(examples) < 5:
            examples.append(text)

    for addr in addresses:
        devs = [(r, r.values[addr]) for r in have if addr in r.values]
        if not devs:
            continue
        ref_run, ref = next(((r, d) for r, d in devs if r.tool != "pantau"), devs[0])
        for metric in STATIC:
            for run, dev in devs:
                if metric in dev and metric in ref and dev[metric] != ref[metric]:
                    bad(
                        f"{run.tool} {metric}",
                        f"{addr} {metric}: {run.tool} round "
                        f"{run.round_no} {_diff(dev[metric], ref[metric])} {ref_run.tool}",
                    )
        for metric in MOVING:
            previous: tuple[Run, dict[str, int | str]] | None = None
            for run, dev in devs:
                if metric not in dev:
                    continue
                now = dev[metric]
                if metric in ref and now.keys() != ref[metric].keys():
                    bad(
                        f"{run.tool} {metric}",
                        f"{addr} {metric}: {run.tool} round "
                        f"{run.round_no} indexes differ from {ref_run.tool}'s",
                    )
                if previous is not None:
                    prev_run, prev = previous
                    for idx, value in now.items():
                        before = prev.get(idx)
                        if isinstance(before, int) and isinstance(value, int) and value < before:
                            bad(
                                f"{run.tool} {metric}",
                                f"{addr} {metric}.{idx}: {run.tool} "
                                f"round {run.round_no} {value} < {before} of {prev_run.tool}",
                            )
                previous = (run, now)
    problems += [f"{n} mismatches in {key}" for key, n in sorted(mismatches.items())]
    problems += [f"  e.g. {e}" for e in examples]
    return problems


def _diff(a: dict[str, int | str], b: dict[str, int | str]) -> str:
    keys = sorted(a.keys() ^ b.keys())
    if keys:
        return f"has other indexes ({', '.join(keys[:5])}) than"
    idx = next(k for k in sorted(a) if a[k] != b[k])
    return f"[{idx}]={a[idx]!r} vs {b[idx]!r} of"

