"""The monthly report's page `/laporan` and its downloads, over a hand-made MonthlyReport
(tests/report_samples.py), served in-process: both languages, who may read which rows, and
the answer to a bad `bulan`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from agent.reports.csv_out import render_csv
from agent.reports.files import last_month
from agent.web import i18n
from agent.web.i18n import Words
from agent.web.report_view import BAR_WIDTH, for_agency, percent, report_view
from tests.fakes import FakeClock
from tests.integration.test_pages import text_of
from tests.report_samples import DINKES, DISDIK, empty_report, sample_report
from tests.report_site import ReportSite, serve_reports

ID, EN = Words("id", "Asia/Jakarta"), Words("en", "Asia/Jakarta")
OFFICIALS = ("kadis", "kabid", "kasi", "admin")
ROUTES = ("/laporan", "/laporan.pdf", "/laporan.csv")


@pytest.fixture
async def site() -> AsyncIterator[ReportSite]:
    async with serve_reports() as served:
        yield served


def availability_rows(text: str) -> list[dict[str, str]]:
    """The CSV's first table (availability per device, per agency, overall)."""
    return list(csv.DictReader(io.StringIO(text.split("\r\n\r\n", 1)[0] + "\r\n")))


def ratio_cells(page: str, table: str) -> dict[str, str]:
    """{row name: its availability cell} of one of the page's tables."""
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r'<tr data-row="([^"]+)">.*?<td class="num ratio">([^<]+)</td>',
                           body, flags=re.S))


class TestView:
    """The figures are written the Indonesian way in "id", the English way in "en"."""

    def test_percent(self) -> None:
        assert percent(0.9995, ID) == "99,95 %"
        assert percent(0.9995, EN) == "99.95 %"
        assert percent(1.0, ID) == "100,00 %"
        assert percent(None, ID) == "\u2014"

    def test_rows_in_both_languages(self) -> None:
        view = report_view(sample_report(), ID)
        assert view.month == "Desember 2026"
        assert view.period == "1 Desember 2026 s.d. 31 Desember 2026 (WIB)"
        assert view.generated == "1 Jan 2027 08.30 WIB"
        assert {r.name: r.ratio for r in view.devices} == {
            "ap-dinkes-02": "97,60 %", "sw-dinkes-01": "99,95 %", "sw-disdik-01": "100,00 %"}
        assert [r.name for r in view.agencies] == [DINKES, DISDIK]
        sw = next(r for r in view.devices if r.name == "sw-dinkes-01")
        assert (sw.down, sw.outages, sw.longest, sw.site) == ("22 m 19 d", "2", "15 m 00 d",
                                                             "Gedung A")
        english = report_view(sample_report(), EN)
        assert english.month == "December 2026"
        assert english.period == "1 December 2026 to 31 December 2026 (WIB)"
        assert [r.ratio for r in english.devices] == ["97.60 %", "99.95 %", "100.00 %"]

    def test_compliance_per_step_and_role(self) -> None:
        overall = report_view(sample_report(), ID).compliance[0]
        assert overall.title == "Keseluruhan"
        assert (overall.opened, overall.closed, overall.still_open, overall.reopened) == (
            "7", "5", "2", "1")
        step5 = overall.steps[4]
        assert (step5.no, step5.role, step5.within, step5.breached, step5.share) == (
            5, "Staf/Teknisi", "3", "2", "60,00 %")
        assert [s.role for s in overall.steps][:2] == ["Perangkat Daerah", "Kepala Dinas"]

    def test_chart_bars_follow_the_ratios(self) -> None:
        report = sample_report()
        bars = report_view(report, ID).chart.bars
        assert [b.label for b in bars] == [DINKES, DISDIK]
        ratio = report.agencies[0].availability.ratio
        assert ratio is not None
        assert bars[0].width == pytest.approx(BAR_WIDTH * ratio, abs=0.1)
        assert (bars[0].tone, bars[1].tone) == ("fair", "good")
        assert bars[0].value == "98,78 %"

    def test_an_empty_month(self) -> None:
        view = report_view(empty_report(), ID)
        assert view.overall.ratio == "\u2014"
        assert view.devices == view.agencies == ()
        assert view.chart.bars == ()

    def test_an_agency_sees_only_its_own_rows(self) -> None:
        mine = for_agency(sample_report(), DINKES)
        assert {d.owner for d in mine.devices} == {DINKES}
        assert [a.owner for a in mine.agencies] == [DINKES]
        assert [c.owner for c in mine.compliance] == [DINKES]
        assert mine.overall == sample_report().agencies[0].availability
        assert for_agency(sample_report(), "Dinas Lain").devices == ()

    def test_last_month_in_the_agency_zone(self) -> None:
        assert last_month(datetime(2026, 12, 6, 19, tzinfo=UTC), "Asia/Jakarta") == "2026-11"
        # 31 Dec 18:00 UTC is already 1 Jan in Jakarta
        assert last_month(datetime(2026, 12, 31, 18, tzinfo=UTC), "Asia/Jakarta") == "2026-12"
        assert last_month(datetime(2027, 1, 15, tzinfo=UTC), "Asia/Jakarta") == "2026-12"


class TestPage:
    """The page shows the report in Indonesian first, in English after the switch."""

    async def test_indonesian(self, site: ReportSite) -> None:
        await site.sign_in("kadis")
        page = await site.client.get("/laporan?bulan=2026-12")
        assert page.status_code == 200
        assert site.reports.months == ["2026-12"]
        assert '<html lang="id">' in page.text
        text = text_of(page.text)
        for words in ("Laporan Bulanan Ketersediaan Jaringan dan Kepatuhan SLA",
                      "1 Desember 2026 s.d. 31 Desember 2026 (WIB)", "Unduh PDF",
                      "Kepatuhan SLA: Dinas Kesehatan", "Staf/Teknisi", "Gedung A"):
            assert words in text, words
        assert ratio_cells(page.text, "device-table") == {
            "ap-dinkes-02": "97,60 %", "sw-dinkes-01": "99,95 %", "sw-disdik-01": "100,00 %"}
        assert ratio_cells(page.text, "overall") == {"Keseluruhan": "99,16 %"}
        assert 'href="/laporan.pdf?bulan=2026-12"' in page.text
        assert 'href="/laporan.csv?bulan=2026-12"' in page.text
        assert page.text.count('<g class="bar"') == 2
        assert 'id="nav-report"' in page.text
        assert "<th>Pelaksana</th>" in page.text  # the steps table's role column

    async def test_english(self, site: ReportSite) -> None:
        await site.sign_in("kasi")
        await site.client.get("/lang/en")
        page = await site.client.get("/laporan?bulan=2026-12")
        assert '<html lang="en">' in page.text
        text = text_of(page.text)
        assert "Monthly Network Availability and SLA Compliance Report" in text
        assert "1 December 2026 to 31 December 2026 (WIB)" in text
        assert ratio_cells(page.text, "device-table")["sw-dinkes-01"] == "99.95 %"
        assert "Ketersediaan" not in text
        assert "<th>Role</th>" in page.text  # the steps table's role column

    @pytest.mark.parametrize("lang", ["id", "en"])
    async def test_no_untranslated_key(self, site: ReportSite, lang: str) -> None:
        await site.sign_in("admin")
        await site.client.get(f"/lang/{lang}")
        key = re.compile(r"\b(?:{})\.[a-z_]+\b".format("|".join(
            sorted({k.split(".")[0] for k in i18n.CATALOG}))))
        for path in ("/laporan?bulan=2026-12", "/laporan?bulan=2026-13"):
            page = await site.client.get(path)
            assert key.findall(text_of(page.text)) == [], path

    async def test_default_month_is_the_last_whole_one(self) -> None:
        clock = FakeClock(datetime(2027, 1, 3, 2, tzinfo=UTC))
        async with serve_reports(clock=clock) as served:
            await served.sign_in("kabid")
            assert (await served.client.get("/laporan")).status_code == 200
            assert served.reports.months == ["2026-12"]

    async def test_no_secret_on_the_page(self, site: ReportSite) -> None:
        await site.sign_in("admin")
        page = await site.client.get("/laporan?bulan=2026-12")
        assert "s3cr3t" not in page.text
        assert "scrypt$" not in page.text


class TestAccess:
    """Officials read every agency; an agency user its own rows; a technician nothing."""

    @pytest.mark.parametrize("user", OFFICIALS)
    async def test_officials_read_every_agency(self, site: ReportSite, user: str) -> None:
        await site.sign_in(user)
        page = await site.client.get("/laporan?bulan=2026-12")
        assert page.status_code == 200
        assert set(ratio_cells(page.text, "agency-table")) == {DINKES, DISDIK}

    async def test_an_agency_reads_its_own_rows(self, site: ReportSite) -> None:
        await site.sign_in("dinkes")
        page = await site.client.get("/laporan?bulan=2026-12")
        assert page.status_code == 200
        text = text_of(page.text)
        assert set(ratio_cells(page.text, "device-table")) == {"ap-dinkes-02", "sw-dinkes-01"}
        assert DISDIK not in text
        assert "sw-disdik-01" not in text
        assert "Kepatuhan SLA: Keseluruhan" not in text
        assert ratio_cells(page.text, "overall") == {"Keseluruhan": "98,78 %"}
        assert "Hanya perangkat Dinas Kesehatan." in text
        csv = await site.client.get("/laporan.csv?bulan=2026-12")
        assert csv.status_code == 200
        assert csv.text == render_csv(for_agency(site.reports.report, DINKES), "id")
        rows = availability_rows(csv.text)
        devices = [r for r in rows if r["tingkat"] == "perangkat"]
        assert {r["perangkat"] for r in devices} == {"ap-dinkes-02", "sw-dinkes-01"}
        assert {r["instansi"] for r in rows if r["tingkat"] != "keseluruhan"} == {DINKES}
        assert "sw-disdik-01" not in csv.text
        assert DISDIK not in csv.text

    @pytest.mark.parametrize("path", ROUTES)
    async def test_a_technician_is_refused(self, site: ReportSite, path: str) -> None:
        await site.sign_in("teknisi")
        answer = await site.client.get(f"{path}?bulan=2026-12")
        assert answer.status_code == 403
        assert "Peran Anda tidak boleh melakukan ini." in answer.text
        assert site.reports.months == []
        assert 'id="nav-report"' not in (await site.client.get("/devices")).text

    @pytest.mark.parametrize("path", ROUTES)
    async def test_sign_in_required(self, site: ReportSite, path: str) -> None:
        answer = await site.client.get(f"{path}?bulan=2026-12")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith(f"/login?next={path}")


class TestBadInput:
    """A bad `bulan` is a 400 naming the parameter and the form it must have."""

    @pytest.mark.parametrize("path", ROUTES)
    @pytest.mark.parametrize("value", ["2026-13", "2026-1", "26-12", "desember", "",
                                       "2026-12-01", "2026-00"])
    async def test_bad_month(self, site: ReportSite, path: str, value: str) -> None:
        await site.sign_in("kadis")
        answer = await site.client.get(path, params={"bulan": value})
        assert answer.status_code == 400
        assert "Parameter 'bulan' harus berbentuk TTTT-BB" in text_of(answer.text)
        assert site.reports.months == []

    async def test_bad_month_in_english(self, site: ReportSite) -> None:
        await site.sign_in("kadis")
        await site.client.get("/lang/en")
        answer = await site.client.get("/laporan?bulan=12-2026")
        assert answer.status_code == 400
        assert "The 'bulan' parameter must be YYYY-MM" in text_of(answer.text)

    async def test_a_month_the_builder_refuses(self, site: ReportSite) -> None:
        site.reports.refuse = "2030-01 has not begun"
        await site.sign_in("kadis")
        answer = await site.client.get("/laporan?bulan=2030-01")
        assert answer.status_code == 400
        assert "Laporan tidak dapat dibuat: 2030-01 has not begun" in text_of(answer.text)

    @pytest.mark.parametrize("path", ROUTES)
    async def test_not_wired(self, path: str) -> None:
        async with serve_reports(wired=False) as served:
            await served.sign_in("kadis")
            answer = await served.client.get(f"{path}?bulan=2026-12")
            assert answer.status_code == 404
            assert "Laporan belum tersedia" in text_of(answer.text)


class TestDownloads:
    """The CSV is csv_out's (as the CLI writes it), in the page's language; the PDF is a PDF."""

    async def test_csv(self, site: ReportSite) -> None:
        await site.sign_in("kadis")
        await site.client.get("/lang/en")
        answer = await site.client.get("/laporan.csv?bulan=2026-12")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == (
            'attachment; filename="laporan-2026-12.csv"')
        assert site.reports.months == ["2026-12"]
        assert answer.text == render_csv(site.reports.report, "en")
        assert answer.text.startswith(
            "level,agency,device,site,availability,monitored_seconds,up_seconds,")
        rows = {r["device"]: r for r in availability_rows(answer.text) if r["level"] == "device"}
        assert rows["sw-disdik-01"]["agency"] == DISDIK
        assert rows["sw-disdik-01"]["availability"] == "1.0"

    async def test_pdf(self, site: ReportSite) -> None:
        await site.sign_in("kabid")
        answer = await site.client.get("/laporan.pdf?bulan=2026-12")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["content-disposition"] == (
            'attachment; filename="laporan-2026-12.pdf"')
        assert answer.content.startswith(b"%PDF-")
        assert answer.headers["x-content-type-options"] == "nosniff"
