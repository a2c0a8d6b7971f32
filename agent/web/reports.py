"""The monthly report's page and downloads: `/laporan`, `/laporan.pdf` and `/laporan.csv`,
each `?bulan=YYYY-MM` (default: the last whole month in the agency's zone). The officials
(kepala_dinas, kabid, kasi) and admin read every agency's figures; an agency user reads only
its own agency's rows; a technician is refused."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from agent.api.auth import Principal
from agent.config import User
from agent.reports.files import last_month, signer_for
from agent.reports.model import MonthlyReport
from agent.reports.pdf import render_pdf
from agent.web.render import SECURITY_HEADERS, error_page, render, signed_in, state_of, words_of
from agent.web.report_view import AGENCY, for_agency, may_read, report_view

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: "2026-12": a four-digit year and a month 01..12
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
ReportFor = Callable[[str], Awaitable[MonthlyReport]]
CsvFor = Callable[[MonthlyReport, str], str]


@dataclass(frozen=True, slots=True)
class ReportSource:
    """Where the page gets its report (agent/app.py wires the builder): `report_for(month)`
    builds one month's report (ValueError: not a month it can report); `csv_for(report,
    lang)` writes it as CSV; `signer` signs the PDF (the kepala_dinas user, if any)."""

    report_for: ReportFor | None = None
    csv_for: CsvFor | None = None
    signer: User | None = None


def signer_of(users: Sequence[User]) -> User | None:
    """The first kepala_dinas user: the PDF is signed in that person's name."""
    return signer_for(tuple(users), None)


async def _report(request: Request) -> tuple[Principal, MonthlyReport | Response]:
    """The signed-in user and the report they may read, or the error page to answer."""
    who = signed_in(request)
    words = words_of(request)
    state = state_of(request)
    if not may_read(who.role):
        return who, error_page(request, 403, words("error.forbidden"), who)
    source = state.reports
    raw = request.query_params.get("bulan")
    month = raw.strip() if raw is not None else last_month(state.service.clock.now(), state.tz)
    if not MONTH.fullmatch(month):
        return who, error_page(request, 400, words("report.bad_month", value=month[:40]), who)
    if source is None or source.report_for is None:
        return who, error_page(request, 404, words("report.unavailable"), who)
    try:
        report = await source.report_for(month)
    except ValueError as exc:
        return who, error_page(request, 400, words("report.failed", reason=str(exc)[:200]), who)
    if who.role == AGENCY:
        report = for_agency(report, who.owner or "")
    return who, report


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type, headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/laporan")
async def report_page(request: Request) -> Response:
    who, found = await _report(request)
    if isinstance(found, Response):
        return found
    words = words_of(request)
    scope = who.owner if who.role == AGENCY else None
    return render(request, "laporan.html", who=who, view=report_view(found, words),
                  scope=scope)


@router.get("/laporan.pdf")
async def report_pdf(request: Request) -> Response:
    who, found = await _report(request)
    if isinstance(found, Response):
        return found
    state = state_of(request)
    words = words_of(request)
    signer = state.reports.signer if state.reports is not None else None
    # WeasyPrint lays out pages for a tenth of a second or more: off the agent's loop
    pdf = await asyncio.to_thread(render_pdf, found, words.lang, state.web, signer)
    log.info("report downloaded", extra={"user": who.name, "month": found.period.label,
                                         "format": "pdf"})
    return _download(pdf, "application/pdf", f"laporan-{found.period.label}.pdf")


@router.get("/laporan.csv")
async def report_csv(request: Request) -> Response:
    who, found = await _report(request)
    if isinstance(found, Response):
        return found
    state = state_of(request)
    words = words_of(request)
    if state.reports is None or state.reports.csv_for is None:
        return error_page(request, 404, words("report.unavailable"), who)
    text = state.reports.csv_for(found, words.lang)
    log.info("report downloaded", extra={"user": who.name, "month": found.period.label,
                                         "format": "csv"})
    return _download(text.encode("utf-8"), "text/csv; charset=utf-8",
                     f"laporan-{found.period.label}.csv")
