"""Per-interface subjects from an SNMP result: a monitored interface that is admin-up and
oper-down is a fault of its own, with soft/hard states like a device."""

from __future__ import annotations

from dataclasses import replace

from agent.core.model import CheckResult, Sample, Status
from agent.core.reasons import CATALOG, reason

INTERFACE_CHECK = "interface"
# An interface missing from this many answered walks in a row (status OK: every request
# answered) is retired: its subject goes, and a DOWN one is reported restored.
RETIRE_AFTER_POLLS = 3
RETIRED = reason("interface_retired")
RETIRED_REASON = RETIRED.text()
_OPER_DOWN = CATALOG["interface_oper_down"].en


def interface_results(result: CheckResult) -> list[tuple[str, CheckResult]]:
    """(interface, result) for every monitored interface in an answered SNMP result.

    DOWN when admin-up and oper-down; OK otherwise (an interface shut on purpose is fine).
    Nothing when SNMP did not answer: the interfaces' states stay as they were.
    """
    if not result.status.answered:
        return []
    by_interface: dict[str, dict[str, float]] = {}
    for s in result.samples:
        if s.labels and s.name in ("interface_monitored", "interface_admin_up",
                                   "interface_oper_up"):
            by_interface.setdefault(s.labels[0][1], {})[s.name] = s.value
    out: list[tuple[str, CheckResult]] = []
    for name, values in sorted(by_interface.items()):
        if values.get("interface_monitored") != 1.0:
            continue
        admin_up = values.get("interface_admin_up") == 1.0
        oper_up = values.get("interface_oper_up") == 1.0
        down = admin_up and not oper_up
        out.append((name, replace(
            result,
            check=INTERFACE_CHECK,
            status=Status.DOWN if down else Status.OK,
            samples=(Sample("interface_admin_up", float(admin_up)),
                     Sample("interface_oper_up", float(oper_up))),
            reason=_OPER_DOWN.format(interface=name) if down else "",
            error="",
            code="interface_oper_down" if down else "",
            params=(("interface", name),) if down else (),
            info=(("interface", name),),
        )))
    return out
