"""Hand-made MonthlyReport samples for the report page and PDF tests (agent/reports/model.py):
December 2026 in Asia/Jakarta, two agencies, three devices, and the SLA compliance of the
nine SOP-006 steps overall and per agency. The figures are chosen so that each renders to a
known text ("99,95 %", "97,60 %", "100,00 %")."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.reports.model import (
    AgencyAvailability,
    Availability,
    Compliance,
    DeviceAvailability,
    MonthlyReport,
    Period,
    StepCompliance,
    TicketCounts,
)
from ticketing.sop import SOP_006

DINKES = "Dinas Kesehatan"
DISDIK = "Dinas Pendidikan"
MONTH = "2026-12"
DECEMBER = 31 * 86400.0  # 2,678,400 s


def availability(up: float, down: float = 0.0, *, unreachable: float = 0.0,
                 maintenance: float = 0.0, unmonitored: float = 0.0, outages: int = 0,
                 mttr: float | None = None, longest: float = 0.0) -> Availability:
    return Availability(up_seconds=up, down_seconds=down, unreachable_seconds=unreachable,
                        maintenance_seconds=maintenance, unmonitored_seconds=unmonitored,
                        outages=outages, mttr_seconds=mttr, longest_outage_seconds=longest)


def total(*parts: Availability) -> Availability:
    """The time-weighted sum of `parts` (counts added; MTTR weighted by outages)."""
    outages = sum(p.outages for p in parts)
    ended = [(p.mttr_seconds, p.outages) for p in parts if p.mttr_seconds is not None]
    weight = sum(n for _, n in ended)
    return availability(
        sum(p.up_seconds for p in parts), sum(p.down_seconds for p in parts),
        unreachable=sum(p.unreachable_seconds for p in parts),
        maintenance=sum(p.maintenance_seconds for p in parts),
        unmonitored=sum(p.unmonitored_seconds for p in parts), outages=outages,
        mttr=sum(m * n for m, n in ended) / weight if weight else None,
        longest=max((p.longest_outage_seconds for p in parts), default=0.0))


# 99.95 %: 1,339.2 s down in the month, two outages (15 min the longest)
SW_DINKES = availability(DECEMBER - 1339.2, 1339.2, outages=2, mttr=669.6, longest=900.0)
# 97.60 %: 2,600,000 up of 2,664,000 monitored; 4 h of maintenance apart
AP_DINKES = availability(2_600_000.0, 64_000.0, maintenance=14_400.0, outages=3,
                         mttr=21_333.3, longest=36_000.0)
# 100.00 %: never down; 3 h 20 m behind a failing parent, 74.4 h not monitored
SW_DISDIK = availability(DECEMBER - 12_000.0 - 267_840.0, unreachable=12_000.0,
                         unmonitored=267_840.0)


def steps(scale: int, late: int) -> tuple[StepCompliance, ...]:
    """Nine steps: `scale` done per step, `late` of them breached at step 5 (one hour SLA)."""
    return tuple(StepCompliance(
        no=s.no, role=s.role.value,
        within_sla=scale - (late if s.no == 5 else 0), breached=late if s.no == 5 else 0,
        median_seconds=600.0 * s.no, p90_seconds=1500.0 * s.no) for s in SOP_006.steps)


def sample_report() -> MonthlyReport:
    """December 2026: Dinas Kesehatan's two devices, Dinas Pendidikan's one."""
    start = datetime(2026, 11, 30, 17, tzinfo=UTC)  # 1 Dec 00:00 WIB
    end = datetime(2026, 12, 31, 17, tzinfo=UTC)
    devices = (DeviceAvailability("ap-dinkes-02", DINKES, None, AP_DINKES),
               DeviceAvailability("sw-dinkes-01", DINKES, "Gedung A", SW_DINKES),
               DeviceAvailability("sw-disdik-01", DISDIK, "Gedung B", SW_DISDIK))
    agencies = (AgencyAvailability(DINKES, 2, total(AP_DINKES, SW_DINKES)),
                AgencyAvailability(DISDIK, 1, SW_DISDIK))
    compliance = (
        Compliance(None, TicketCounts(opened=7, closed=5, still_open=2, reopened=1), steps(5, 2)),
        Compliance(DINKES, TicketCounts(opened=5, closed=4, still_open=1, reopened=1),
                   steps(4, 2)),
        Compliance(DISDIK, TicketCounts(opened=2, closed=1, still_open=1, reopened=0),
                   steps(1, 0)),
    )
    return MonthlyReport(
        period=Period(start, end, MONTH, "Asia/Jakarta"),
        generated_at=datetime(2027, 1, 1, 1, 30, tzinfo=UTC),  # 1 Jan 2027 08.30 WIB
        devices=devices, agencies=agencies,
        overall=total(AP_DINKES, SW_DINKES, SW_DISDIK), compliance=compliance)


def empty_report() -> MonthlyReport:
    """A month with no device and no ticket (ratios None: nothing was monitored)."""
    start = datetime(2026, 10, 31, 17, tzinfo=UTC)
    end = datetime(2026, 11, 30, 17, tzinfo=UTC)
    return MonthlyReport(
        period=Period(start, end, "2026-11", "Asia/Jakarta"),
        generated_at=end, devices=(), agencies=(), overall=availability(0.0),
        compliance=(Compliance(None, TicketCounts(0, 0, 0, 0), tuple(
            StepCompliance(s.no, s.role.value, 0, 0, None, None) for s in SOP_006.steps)),))
