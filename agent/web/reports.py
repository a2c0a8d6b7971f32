"""The monthly report's page and downloads: `/laporan`, `/laporan.pdf` and `/laporan.csv`,
each `?bulan=YYYY-MM` (default: the last whole month in the agency's zone). The officials
(kepala_dinas, kabid, kasi) and admin read every agency's figures; an agency user reads only
its own agency's rows; a technician is refused."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from agent.api.auth import Principal
from agent.config import User
from agent.reports import files
from agent.reports.files import last_month
from agent.reports.model import MonthlyReport
from agent.web.render import SECURITY_HEADERS, error_page, render, signed_in, state_of, words_of
from agent.web.report_view import AGENCY, for_agency, may_read, report_view

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: "2026-12": a four-digit year and a month 01..12
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
ReportFor = Callable[[str], Awaitable[MonthlyReport]]
#: the downloads' formats (agent.reports.files.render writes each) and their media types
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class ReportSource:
    """Where the page gets its report (agent/app.py wires the builder): `report_for(month)`
    builds one month's report (ValueError: not a month it can report); `signer` signs the
    PDF (the kepala_dinas user, if any)."""

    report_for: ReportFor | None = None
    signer: User | None = None


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


async def _file(request: Request, fmt: str) -> Response:
    """The report as a download in `fmt`, written as the CLI and the monthly files write it."""
    who, found = await _report(request)
    if isinstance(found, Response):
        return found
    state = state_of(request)
    words = words_of(request)
    signer = state.reports.signer if state.reports is not None else None
    # WeasyPrint lays out a PDF's pages for a tenth of a second or more: off the agent's loop
    data = await asyncio.to_thread(files.render, found, fmt, words.lang, state.web, signer)
    log.info("report downloaded", extra={"user": who.name, "month": found.period.label,
                                         "format": fmt})
    return _download(data, MEDIA_TYPES[fmt], f"laporan-{found.period.label}.{fmt}")


@router.get("/laporan.pdf")
async def report_pdf(request: Request) -> Response:
    return await _file(request, "pdf")


@router.get("/laporan.csv")
async def report_csv(request: Request) -> Response:
    return await _file(request, "csv")
