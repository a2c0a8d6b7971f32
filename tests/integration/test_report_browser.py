"""The monthly report page in real headless Chromium: the pages' app served by uvicorn on
127.0.0.1 with a hand-made report (tests/report_samples.py) behind `/laporan`; the kepala
dinas reads December 2026 in Indonesian and in English, the chart's bars are drawn to the
agencies' figures, the month form asks for another month, and the PDF download is a PDF.
Screenshots go to test-artifacts/report (or $PANTAU_ARTIFACTS/report)."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By

from agent.server import make_server
from tests.browser_support import Screens, body_text, chromium, element, wait_for
from tests.conftest import Figure
from tests.fakes import FakeClock
from tests.integration.test_pages import password
from tests.report_samples import DINKES, sample_report
from tests.report_site import FakeReports, report_app


class Served:
    """The app on 127.0.0.1:<free port>, on its own event loop in a thread."""

    def __init__(self, reports: FakeReports) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self.server = make_server(report_app(reports, FakeClock()))
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
            time.sleep(0.05)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def reports() -> FakeReports:
    return FakeReports()


@pytest.fixture
def site(reports: FakeReports) -> Iterator[str]:
    served = Served(reports)
    try:
        yield served.base
    finally:
        served.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[ChromiumDriver]:
    with chromium(tmp_path / "profile", width=1280, height=1000) as driver:
        yield driver


def bar_share(driver: ChromiumDriver, owner: str) -> float:
    """The drawn width of an agency's bar over its track's, as Chromium laid them out."""
    share = driver.execute_script(
        "const g = document.querySelector(`#chart g.bar[data-owner='${arguments[0]}']`);"
        "const [track, fill] = g.querySelectorAll('rect');"
        "return fill.getBoundingClientRect().width / track.getBoundingClientRect().width;",
        owner)
    return float(share)


class TestReportInTheBrowser:
    """The kepala dinas reads the month's report, switches language and downloads the PDF."""

    def test_report_page(self, site: str, reports: FakeReports, browser: ChromiumDriver,
                         figure: Figure) -> None:
        screens = Screens(browser, "report")
        browser.get(f"{site}/login?next=/laporan%3Fbulan%3D2026-12")
        element(browser, "#username").send_keys("kadis")
        element(browser, "#password").send_keys(password("kadis"))
        element(browser, "#login-submit").click()
        element(browser, "#chart")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "id"
        text = body_text(browser)
        for words in ("Laporan Bulanan Ketersediaan Jaringan dan Kepatuhan SLA",
                      "1 Desember 2026 s.d. 31 Desember 2026 (WIB)", "99,95 %", "97,60 %",
                      "Kepatuhan SLA: Keseluruhan", "Unduh PDF"):
            assert words in text, words
        nav = element(browser, "#nav-report")
        assert nav.get_attribute("aria-current") == "page"
        ratio = sample_report().agencies[0].availability.ratio
        assert ratio is not None
        assert bar_share(browser, DINKES) == pytest.approx(ratio, abs=0.002)
        shot = screens.take("laporan-id")
        # the window as a person sees it (the README's picture, docs/images/laporan.png)
        window = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        (screens.folder / "laporan-id-window.png").write_bytes(base64.b64decode(window["data"]))

        # the PDF link answers with a PDF, signed by the kepala dinas
        started = time.monotonic()
        got = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(document.querySelector('#download-pdf').href).then(async r => done("
            "[r.status, r.headers.get('content-type'),"
            " new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5))]));")
        elapsed = time.monotonic() - started
        assert got == [200, "application/pdf", "%PDF-"]

        # another month from the form
        browser.execute_script("document.querySelector('#bulan').value = '2026-11';"
                               "document.querySelector('#month-form').submit();")
        wait_for(browser, lambda d: "bulan=2026-11" in d.current_url)
        element(browser, "#chart")
        assert reports.months[-1] == "2026-11"

        # English
        element(browser, "#lang-switch").click()
        wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute(
            "lang") == "en")
        text = body_text(browser)
        assert "Monthly Network Availability and SLA Compliance Report" in text
        assert "99.95 %" in text
        screens.take("laporan-en")
        figure(f"report page in Chromium: PDF fetched in {elapsed:.2f}s; screenshots "
               f"{', '.join(p.name for p in screens.taken)} ({shot.stat().st_size} bytes)")

    def test_phone_width(self, site: str, tmp_path: Path) -> None:
        with chromium(tmp_path / "phone", width=390, height=844) as phone:
            # a headless window is at least 500 px wide: emulate the phone's 390 px
            phone.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
            phone.get(f"{site}/login?next=/laporan%3Fbulan%3D2026-12")
            element(phone, "#username").send_keys("dinkes")
            element(phone, "#password").send_keys(password("dinkes"))
            element(phone, "#login-submit").click()
            element(phone, "#chart")
            text = body_text(phone)
            assert "Hanya perangkat Dinas Kesehatan." in text
            assert "sw-disdik-01" not in text
            # the page itself never scrolls sideways; wide tables scroll in their box
            width = phone.execute_script("return [document.documentElement.scrollWidth,"
                                         " window.innerWidth]")
            assert width == [390, 390], width
            Screens(phone, "report-phone").take("laporan-dinkes")
