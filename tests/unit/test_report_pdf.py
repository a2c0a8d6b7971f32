"""The monthly report's PDF, read back with poppler's `pdftotext`: the kop surat, the period,
each device with its figure, the chart, the kepala_dinas' signature block, and the same
numbers as the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.config import User, WebSettings
from agent.core.model import Secret
from agent.reports.pdf import BLANK_NAME, BLANK_NIP, render_html, render_pdf
from tests.conftest import Figure
from tests.integration.test_pages import text_of
from tests.report_samples import DINKES, DISDIK, empty_report, sample_report
from tests.report_site import (
    KADIS_JABATAN,
    KADIS_NAME,
    KADIS_NIP,
    ReportSite,
    serve_reports,
)
from tests.unit.test_report_page import ratio_cells

KOP = ("PEMERINTAH KABUPATEN CONTOH", "DINAS KOMUNIKASI DAN INFORMATIKA",
       "Jl. Merdeka No. 1, Contoh 12345")
LETTERHEAD = WebSettings(kop=KOP, city="Contoh")
KADIS = User("kadis", "kepala_dinas", Secret("tok-kadis-s3cr3t"), full_name=KADIS_NAME,
             nip=KADIS_NIP, jabatan=KADIS_JABATAN)


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text with its layout kept (one table row on one line)."""
    found = shutil.which("pdftotext")
    if found is None:
        message = "pdftotext not found: apt-get install poppler-utils"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "laporan.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([found, "-layout", str(path), "-"], capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout


def line_of(text: str, name: str) -> str:
    """The one line of the PDF's device table that starts with `name`."""
    lines = [ln for ln in text.splitlines() if ln.strip().startswith(name)]
    assert lines, f"{name} not in the PDF:\n{text}"
    return lines[0]


class TestPdf:
    """The PDF is a government document with the report's figures."""

    def test_kop_device_and_figure(self, tmp_path: Path) -> None:
        pdf = render_pdf(sample_report(), "id", LETTERHEAD, KADIS)
        assert pdf.startswith(b"%PDF-")
        text = pdftotext(pdf, tmp_path)
        flat = " ".join(text.split())
        for line in KOP:
            assert line in flat, line
        assert "LAPORAN BULANAN KETERSEDIAAN JARINGAN DAN KEPATUHAN SLA" in flat
        assert "Periode: Desember 2026" in flat
        assert "1 Desember 2026 s.d. 31 Desember 2026 (WIB)" in flat
        assert "99,95 %" in line_of(text, "sw-dinkes-01")
        assert "97,60 %" in line_of(text, "ap-dinkes-02")
        assert "100,00 %" in line_of(text, "sw-disdik-01")
        assert "Kepatuhan SLA per langkah SOP-006" in flat
        assert "60,00 %" in line_of(text, "5 Staf/Teknisi")
        assert "Dibuat: 1 Jan 2027 08.30 WIB" in flat

    def test_signature_block(self, tmp_path: Path) -> None:
        flat = " ".join(pdftotext(render_pdf(sample_report(), "id", LETTERHEAD, KADIS),
                                  tmp_path).split())
        assert (f"Contoh, 1 Januari 2027 {KADIS_JABATAN}, {KADIS_NAME} NIP. {KADIS_NIP}"
                in flat)
        assert "s3cr3t" not in flat

    def test_blank_lines_without_a_name(self, tmp_path: Path) -> None:
        nameless = User("kadis", "kepala_dinas", Secret("tok-kadis-s3cr3t"))
        for signer in (None, nameless):
            flat = " ".join(pdftotext(render_pdf(sample_report(), "id", LETTERHEAD, signer),
                                      tmp_path).split())
            # the title from the kop's second line, then lines to write the name and NIP on
            assert (f"Kepala Dinas Komunikasi dan Informatika, {BLANK_NAME} NIP. {BLANK_NIP}"
                    in flat)

    def test_the_chart_is_the_page_svg(self) -> None:
        html = render_html(sample_report(), "id", LETTERHEAD, KADIS)
        assert html.count('<g class="bar"') == 2
        assert f'data-owner="{DINKES}"' in html
        assert f'data-owner="{DISDIK}"' in html

    def test_english(self, tmp_path: Path) -> None:
        text = pdftotext(render_pdf(sample_report(), "en", LETTERHEAD, KADIS), tmp_path)
        flat = " ".join(text.split())
        assert "MONTHLY NETWORK AVAILABILITY AND SLA COMPLIANCE REPORT" in flat
        assert "99.95 %" in line_of(text, "sw-dinkes-01")
        assert "Contoh, 1 January 2027" in flat
        assert KOP[0] in flat  # the letterhead is as configured

    def test_an_empty_month(self, tmp_path: Path) -> None:
        flat = " ".join(pdftotext(render_pdf(empty_report(), "id", LETTERHEAD, None),
                                  tmp_path).split())
        assert "November 2026" in flat
        assert "Tidak ada data pada periode ini." in flat

    def test_text_is_escaped(self) -> None:
        html = render_html(sample_report(), "id", WebSettings(kop=("<b>X</b>",)), None)
        assert "<b>X</b>" not in html
        assert "&lt;b&gt;X&lt;/b&gt;" in html


class TestSameNumbers:
    """The page and the PDF show the same figure for every device, agency and the total."""

    async def test_page_and_pdf(self, tmp_path: Path, figure: Figure) -> None:
        site: ReportSite
        async with serve_reports() as site:
            await site.sign_in("kadis")
            page = (await site.client.get("/laporan?bulan=2026-12")).text
            pdf = await site.client.get("/laporan.pdf?bulan=2026-12")
        assert pdf.status_code == 200
        text = pdftotext(pdf.content, tmp_path)
        flat = " ".join(text.split())
        shown = {**ratio_cells(page, "device-table"), **ratio_cells(page, "agency-table")}
        assert len(shown) == 5
        for name, value in shown.items():
            assert value in line_of(text, name), (name, value)
        # and every percentage of the page's report is in the PDF, as often
        percents = re.compile(r"\d+,\d\d %")
        body = text_of(page.split('<div class="report">', 1)[1])
        assert len(percents.findall(body)) >= 30
        assert sorted(percents.findall(body)) == sorted(percents.findall(flat))
        pages = text.count("\f")
        figure(f"page and PDF agree on {len(percents.findall(body))} percentages; the PDF: "
               f"{len(pdf.content)} bytes, {pages} A4 pages")
        # signed by the configured kepala_dinas
        assert KADIS_NAME in flat
        assert KADIS_NIP in flat

    async def test_an_agency_pdf_has_only_its_rows(self, tmp_path: Path) -> None:
        async with serve_reports() as site:
            await site.sign_in("dinkes")
            pdf = await site.client.get("/laporan.pdf?bulan=2026-12")
        assert pdf.status_code == 200
        text = pdftotext(pdf.content, tmp_path)
        assert "99,95 %" in line_of(text, "sw-dinkes-01")
        assert "sw-disdik-01" not in text
        assert DISDIK not in text
        assert "Kepatuhan SLA: Keseluruhan" not in " ".join(text.split())
