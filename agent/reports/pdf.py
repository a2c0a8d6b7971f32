"""The monthly report as a PDF: an Indonesian government document (kop surat, title and period,
the tables and the availability chart of the page, a signature block), laid out by WeasyPrint
on Debian's pango from agent/web/templates/reports/pdf.html."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import weasyprint

from agent.config import User, WebSettings
from agent.reports.model import MonthlyReport
from agent.web.i18n import Words
from agent.web.letters import environment, role_title
from agent.web.report_view import report_view
from ticketing.indonesian import MONTHS, MONTHS_EN

#: what a signature block shows where a name or NIP is not configured: a line to write on
BLANK_NAME = "(" + "." * 40 + ")"
BLANK_NIP = "." * 30
_PAGE = {"id": "Halaman", "en": "Page"}


@dataclass(frozen=True, slots=True)
class ReportSignature:
    title: str  # the signer's jabatan, else "Kepala Dinas ..." from the kop
    name: str
    nip: str


def signature(signer: User | None, letterhead: WebSettings) -> ReportSignature:
    """The kepala_dinas' block: jabatan, full name and NIP, blank lines for what is missing."""
    title = (signer.jabatan if signer is not None and signer.jabatan
             else role_title("kepala_dinas", letterhead))
    name = signer.full_name if signer is not None and signer.full_name else BLANK_NAME
    nip = signer.nip if signer is not None and signer.nip else BLANK_NIP
    return ReportSignature(title, name, nip)


def render_html(report: MonthlyReport, lang: str, letterhead: WebSettings,
                signer: User | None) -> str:
    """The PDF's source: one standalone HTML document (the page's parts, autoescaped)."""
    words = Words(lang if lang in ("id", "en") else "id", report.period.timezone)
    view = report_view(report, words)
    signed = report.generated_at.astimezone(ZoneInfo(report.period.timezone))
    months = MONTHS if words.lang == "id" else MONTHS_EN
    footer = f"pantau \u2014 {words('report.page_title', month=view.month)}"
    return environment().get_template("reports/pdf.html").render(
        t=words, lang=words.lang, view=view, kop=letterhead.kop, city=letterhead.city,
        sign_date=f"{signed.day} {months[signed.month - 1]} {signed.year}",
        signature=signature(signer, letterhead), page_word=_PAGE[words.lang],
        footer=footer.replace('"', "'"))


def render_pdf(report: MonthlyReport, lang: str, letterhead: WebSettings,
               signer: User | None) -> bytes:
    """The report as PDF bytes in `lang` ("id" or "en"; anything else gives Indonesian), dates
    in the report's zone, signed by `signer` (the kepala_dinas user; None: blank lines).
    Blocking (a few tenths of a second): call it off the event loop."""
    html = render_html(report, lang, letterhead, signer)
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf
