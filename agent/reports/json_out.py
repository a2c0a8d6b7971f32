"""The report as JSON (`pantau report --format json`): every value unrounded, ratios 0..1,
durations in seconds, times ISO-8601 UTC; null where the model has None."""

from __future__ import annotations

import json
from typing import Any

from agent.reports.model import Availability, Compliance, MonthlyReport

#: Bumped when a key is renamed or removed (adding one keeps it).
FORMAT_VERSION = 1


def availability_json(a: Availability) -> dict[str, Any]:
    return {
        "ratio": a.ratio, "monitored_seconds": a.monitored_seconds,
        "up_seconds": a.up_seconds, "down_seconds": a.down_seconds,
        "unreachable_seconds": a.unreachable_seconds,
        "maintenance_seconds": a.maintenance_seconds,
        "unmonitored_seconds": a.unmonitored_seconds, "outages": a.outages,
        "mttr_seconds": a.mttr_seconds, "longest_outage_seconds": a.longest_outage_seconds,
    }


def compliance_json(c: Compliance) -> dict[str, Any]:
    t = c.tickets
    return {
        "owner": c.owner,
        "tickets": {"opened": t.opened, "closed": t.closed, "still_open": t.still_open,
                    "reopened": t.reopened},
        "steps": [{"no": s.no, "role": s.role, "within_sla": s.within_sla,
                   "breached": s.breached, "median_seconds": s.median_seconds,
                   "p90_seconds": s.p90_seconds} for s in c.steps],
    }


def report_json(report: MonthlyReport) -> dict[str, Any]:
    p = report.period
    return {
        "format": FORMAT_VERSION,
        "period": {"label": p.label, "timezone": p.timezone, "start": p.start.isoformat(),
                   "end": p.end.isoformat()},
        "generated_at": report.generated_at.isoformat(),
        "overall": availability_json(report.overall),
        "agencies": [{"owner": a.owner, "devices": a.devices,
                      "availability": availability_json(a.availability)}
                     for a in report.agencies],
        "devices": [{"device": d.device, "owner": d.owner, "site": d.site,
                     "availability": availability_json(d.availability)}
                    for d in report.devices],
        "compliance": [compliance_json(c) for c in report.compliance],
    }


def render_json(report: MonthlyReport) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, allow_nan=False, indent=2) + "\n"
