"""A MonthlyReport written out for one language: the rows of the page's and the PDF's tables,
the bars of the availability chart, and an agency user's share of a report. Both outputs
render this one view, so they show the same numbers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from agent.reports.model import Availability, Compliance, MonthlyReport
from agent.web.i18n import Words
from ticketing.indonesian import MONTHS, MONTHS_EN, zone_name

DASH = "\u2014"
#: the chart's geometry, in SVG user units (px on the page, scaled to the PDF's width)
LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT, CHART_WIDTH = 240, 300, 30, 640
GOOD, FAIR = 0.99, 0.95  # green at or above GOOD, yellow at or above FAIR, red below
#: who reads every agency's figures; an agency user (perangkat_daerah) reads its own only
OFFICIALS = frozenset({"kepala_dinas", "kabid", "kasi", "admin"})
AGENCY = "perangkat_daerah"


@dataclass(frozen=True, slots=True)
class AvailabilityRow:
    name: str  # the device, the agency, or "Keseluruhan"
    owner: str
    site: str
    devices: str  # an agency's device count ("" for a device)
    ratio: str  # "99,95 %" (id) / "99.95 %" (en); "—" without monitored time
    down: str
    maintenance: str
    unreachable: str
    unmonitored: str
    outages: str
    mttr: str
    longest: str


@dataclass(frozen=True, slots=True)
class StepRow:
    no: int
    role: str
    within: str
    breached: str
    share: str  # within ÷ (within + breached), "—" when nothing was done
    median: str
    p90: str


@dataclass(frozen=True, slots=True)
class ComplianceBlock:
    title: str
    opened: str
    closed: str
    still_open: str
    reopened: str
    steps: tuple[StepRow, ...]


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: str  # the same text as the agency's row
    y: int
    width: float  # of BAR_WIDTH, for the ratio
    tone: str  # "good" | "fair" | "poor" | "none"


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    label_width: int
    bar_width: int
    row_height: int
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class ReportView:
    month: str  # "Desember 2026"
    label: str  # "2026-12"
    period: str  # "1 Desember 2026 s.d. 31 Desember 2026 (WIB)"
    generated: str
    overall: AvailabilityRow
    agencies: tuple[AvailabilityRow, ...]
    devices: tuple[AvailabilityRow, ...]
    compliance: tuple[ComplianceBlock, ...]
    chart: Chart


def percent(ratio: float | None, words: Words) -> str:
    """"99,95 %" in Indonesian, "99.95 %" in English, two decimals; "—" for None."""
    return DASH if ratio is None else f"{words.number(ratio * 100.0, 2)} %"


def _span(seconds: float | None, words: Words) -> str:
    return DASH if seconds is None else words.span(seconds) if seconds else "0"


def _row(name: str, owner: str, site: str, devices: str, a: Availability, words: Words
         ) -> AvailabilityRow:
    return AvailabilityRow(
        name=name, owner=owner, site=site, devices=devices, ratio=percent(a.ratio, words),
        down=_span(a.down_seconds, words),
        maintenance=_span(a.maintenance_seconds, words),
        unreachable=_span(a.unreachable_seconds, words),
        unmonitored=_span(a.unmonitored_seconds, words), outages=str(a.outages),
        mttr=_span(a.mttr_seconds, words), longest=_span(a.longest_outage_seconds, words))


def _block(c: Compliance, words: Words) -> ComplianceBlock:
    steps = tuple(StepRow(
        no=s.no, role=words(f"role.{s.role}"), within=str(s.within_sla),
        breached=str(s.breached),
        share=percent(s.within_sla / (s.within_sla + s.breached)
                      if s.within_sla + s.breached else None, words),
        median=_span(s.median_seconds, words), p90=_span(s.p90_seconds, words))
        for s in c.steps)
    title = words("report.overall") if c.owner is None else c.owner
    t = c.tickets
    return ComplianceBlock(title, str(t.opened), str(t.closed), str(t.still_open),
                           str(t.reopened), steps)


def _tone(ratio: float | None) -> str:
    if ratio is None:
        return "none"
    return "good" if ratio >= GOOD else "fair" if ratio >= FAIR else "poor"


def _chart(report: MonthlyReport, rows: tuple[AvailabilityRow, ...]) -> Chart:
    bars = tuple(Bar(label=row.name, value=row.ratio, y=i * ROW_HEIGHT,
                     width=round(BAR_WIDTH * (agency.availability.ratio or 0.0), 1),
                     tone=_tone(agency.availability.ratio))
                 for i, (agency, row) in enumerate(zip(report.agencies, rows, strict=True)))
    return Chart(CHART_WIDTH, max(1, len(bars)) * ROW_HEIGHT, LABEL_WIDTH, BAR_WIDTH,
                 ROW_HEIGHT, bars)


def month_name(label: str, lang: str) -> str:
    """"2026-12" -> "Desember 2026" / "December 2026"."""
    year, month = label.split("-")
    return f"{(MONTHS if lang == 'id' else MONTHS_EN)[int(month) - 1]} {year}"


def local_date(report: MonthlyReport, end: bool, lang: str) -> str:
    """The period's first (or last, `end`) day in its zone: "31 Desember 2026"."""
    zone = ZoneInfo(report.period.timezone)
    moment = (report.period.end - timedelta(seconds=1) if end else report.period.start
              ).astimezone(zone)
    names = MONTHS if lang == "id" else MONTHS_EN
    return f"{moment.day} {names[moment.month - 1]} {moment.year}"


def report_view(report: MonthlyReport, words: Words) -> ReportView:
    """The report in `words`' language; times in the report's own zone."""
    p = report.period
    zone = zone_name(p.start.astimezone(ZoneInfo(p.timezone)), p.timezone)
    agencies = tuple(_row(a.owner, a.owner, "", str(a.devices), a.availability, words)
                     for a in report.agencies)
    local = Words(words.lang, p.timezone)
    return ReportView(
        month=month_name(p.label, words.lang), label=p.label,
        period=words("report.period_value", first=local_date(report, False, words.lang),
                     last=local_date(report, True, words.lang), zone=zone),
        generated=f"{local.when(report.generated_at)} {zone}",
        overall=_row(words("report.overall"), "", "", str(len(report.devices)),
                     report.overall, words),
        agencies=agencies,
        devices=tuple(_row(d.device, d.owner, d.site or DASH, "", d.availability, words)
                      for d in report.devices),
        compliance=tuple(_block(c, words) for c in report.compliance),
        chart=_chart(report, agencies))


def may_read(role: str) -> bool:
    """Whether a user of `role` reads the monthly report (a technician does not)."""
    return role in OFFICIALS or role == AGENCY


def for_agency(report: MonthlyReport, owner: str) -> MonthlyReport:
    """What an agency user sees: only `owner`'s devices, its own total as the overall, and
    only its own compliance (no city-wide figure, no other agency's)."""
    mine = tuple(a for a in report.agencies if a.owner == owner)
    overall = mine[0].availability if mine else Availability(0.0, 0.0, 0.0, 0.0, 0.0, 0,
                                                             None, 0.0)
    return replace(report, devices=tuple(d for d in report.devices if d.owner == owner),
                   agencies=mine, overall=overall,
                   compliance=tuple(c for c in report.compliance if c.owner == owner))
