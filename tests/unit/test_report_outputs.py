"""The report built from a fake source, and its JSON and CSV carrying the same numbers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.core.model import Device
from agent.reports.build import build_report
from agent.reports.csv_out import render_csv
from agent.reports.json_out import render_json
from agent.reports.model import MonthlyReport
from ticketing.history import MonitorRun, StateChange
from ticketing.models import Fault, StepRecord, Ticket, TicketStatus, Trigger
from ticketing.sop import SOP_006

START = datetime(2026, 11, 30, 17, tzinfo=UTC)
NOW = datetime(2026, 12, 6, 17, tzinfo=UTC)  # six days into December (WIB)
H = timedelta(hours=1)
DEVICES = [Device("ap-b", "127.0.0.2", "Dinas B", site="Balai"),
           Device("sw-a2", "127.0.0.3", "Dinas A"), Device("sw-a1", "127.0.0.4", "Dinas A")]


class FakeSource:
    def __init__(self) -> None:
        run = MonitorRun("r1", "n1", START - H, NOW)
        self.runs = [run]
        self.changes = [StateChange("r1", d.name, "icmp", "", "up", START - H) for d in DEVICES]
        self.changes += [StateChange("r1", "sw-a1", "icmp", "", "down", START + 10 * H),
                         StateChange("r1", "sw-a1", "icmp", "", "up", START + 11 * H + 0.5 * H)]
        step = StepRecord(1, "perangkat_daerah", START + 10 * H, START + 34 * H,
                          START + 12 * H)
        self.tickets = [Ticket("SOP006-2026-000001", "sw-a1", "Dinas A", Fault.DEVICE_DOWN,
                               Trigger.AUTO, TicketStatus.OPEN, 2, 1, START + 10 * H,
                               (step,))]
        self.asked: list[tuple[datetime, datetime]] = []

    async def report_history(self, start: datetime, end: datetime
                             ) -> tuple[Sequence[MonitorRun], Sequence[StateChange]]:
        self.asked.append((start, end))
        return self.runs, self.changes

    async def report_tickets(self, start: datetime, end: datetime
                             ) -> tuple[Sequence[Ticket], Sequence[tuple[str, datetime]]]:
        return self.tickets, [("Dinas A", START + 20 * H)]


@pytest.fixture
async def report() -> MonthlyReport:
    return await build_report(FakeSource(), DEVICES, SOP_006, "2026-12", "Asia/Jakarta", NOW)


def tables(text: str) -> list[list[dict[str, str]]]:
    return [list(csv.DictReader(io.StringIO(block.strip("\r\n") + "\r\n")))
            for block in text.split("\r\n\r\n")]


class TestBuild:
    """The report's values come out of the source's history and tickets."""

    async def test_the_period_is_the_month_to_now(self, report: MonthlyReport) -> None:
        assert (report.period.start, report.period.end) == (START, NOW)
        assert report.period.timezone == "Asia/Jakarta"

    async def test_devices_by_owner_then_name(self, report: MonthlyReport) -> None:
        assert [d.device for d in report.devices] == ["sw-a1", "sw-a2", "ap-b"]
        assert [(a.owner, a.devices) for a in report.agencies] == [("Dinas A", 2), ("Dinas B", 1)]

    async def test_the_outage_is_counted(self, report: MonthlyReport) -> None:
        a1 = report.devices[0].availability
        assert a1.down_seconds == 5400
        assert a1.mttr_seconds == 5400
        assert report.agencies[0].availability.down_seconds == 5400
        assert report.overall.down_seconds == 5400
        assert report.overall.monitored_seconds == 3 * (NOW - START).total_seconds()

    async def test_compliance_overall_then_agencies(self, report: MonthlyReport) -> None:
        assert [c.owner for c in report.compliance] == [None, "Dinas A", "Dinas B"]
        assert report.compliance[0].steps[0].within_sla == 1
        assert report.compliance[1].tickets.reopened == 1
        assert report.compliance[2].tickets.opened == 0


class TestOutputs:
    """JSON and CSV carry exactly the same numbers."""

    async def test_csv_and_json_carry_the_same_numbers(self, report: MonthlyReport) -> None:
        doc = json.loads(render_json(report))
        avail, steps, counts = tables(render_csv(report, "en"))
        by_json: list[dict[str, Any]] = [
            *({"level": "device", "name": d["device"], **d["availability"]}
              for d in doc["devices"]),
            *({"level": "agency", "name": a["owner"], **a["availability"]}
              for a in doc["agencies"]),
            {"level": "overall", "name": "", **doc["overall"]},
        ]
        assert len(avail) == len(by_json) == 6
        for row, want in zip(avail, by_json, strict=True):
            assert row["level"] == want["level"]
            assert row["availability"] == ("" if want["ratio"] is None else repr(want["ratio"]))
            for key in ("monitored_seconds", "up_seconds", "down_seconds", "unreachable_seconds",
                        "maintenance_seconds", "unmonitored_seconds", "longest_outage_seconds"):
                assert float(row[key]) == want[key], key
            assert int(row["outages"]) == want["outages"]
            assert (float(row["mttr_seconds"]) if row["mttr_seconds"] else None
                    ) == want["mttr_seconds"]
        json_steps = [(c["owner"] or "all", s) for c in doc["compliance"] for s in c["steps"]]
        assert len(steps) == len(json_steps) == 27
        for row, (owner, s) in zip(steps, json_steps, strict=True):
            assert (row["agency"], int(row["step"]), row["role"]) == (owner, s["no"], s["role"])
            assert (int(row["within_sla"]), int(row["breached"])) == (s["within_sla"],
                                                                       s["breached"])
            assert (float(row["median_seconds"]) if row["median_seconds"] else None
                    ) == s["median_seconds"]
        assert [int(r["reopened"]) for r in counts] == [
            c["tickets"]["reopened"] for c in doc["compliance"]]

    async def test_the_availability_columns_follow_the_json_keys(
            self, report: MonthlyReport) -> None:
        avail, _, _ = tables(render_csv(report, "en"))
        keys = list(json.loads(render_json(report))["overall"])
        assert list(avail[0])[4:] == ["availability", *keys[1:]]
        assert keys[0] == "ratio"

    async def test_the_ratio_is_unrounded(self, report: MonthlyReport) -> None:
        doc = json.loads(render_json(report))
        ratio = doc["devices"][0]["availability"]["ratio"]
        assert ratio == report.devices[0].availability.ratio
        assert ratio == 1 - 5400 / (NOW - START).total_seconds()

    async def test_indonesian_headers(self, report: MonthlyReport) -> None:
        avail, steps, counts = tables(render_csv(report, "id"))
        assert list(avail[0])[:5] == ["tingkat", "instansi", "perangkat", "lokasi",
                                      "ketersediaan"]
        assert avail[-1]["tingkat"] == "keseluruhan"
        assert steps[0]["instansi"] == "semua"
        assert list(counts[0]) == ["instansi", "dibuka", "ditutup", "masih_terbuka",
                                   "dibuka_kembali"]

    async def test_an_unknown_language_is_refused(self, report: MonthlyReport) -> None:
        with pytest.raises(ValueError, match="language 'fr': expected one of id, en"):
            render_csv(report, "fr")
