"""The pages in real headless Chromium against the running agent and the lab: a kasi signs in
and disposes the agent's own ticket, a teknisi records the checks, "verify now" fails while the
device is blackholed and passes once it is restored, and the printable Laporan Tindaklanjut
shows the probes. Every page is checked for its Indonesian text and kept as a screenshot in
test-artifacts/browser (or $PANTAU_ARTIFACTS/browser)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from agent.web.passwords import hash_password
from lab.agentproc import AgentProcess
from lab.inventory import LabDevice
from lab.lab import Lab
from tests.browser_support import (
    Forward,
    Screens,
    body_text,
    chromium,
    element,
    require_chromium,
    settle,
    wait_for,
)
from tests.conftest import Figure

pytestmark = pytest.mark.lab

OWNER = "Dinas Kesehatan"
USERS = {"kadis": "kepala_dinas", "kabid": "kabid", "kasi": "kasi", "teknisi": "teknisi"}


def password(user: str) -> str:
    return f"sandi-{user}-lab-2026"


@pytest.fixture(scope="module")
def agent(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    require_chromium()
    devices = [LabDevice("sw-kominfo", lab.address(810), OWNER),
               LabDevice("ap-dinkes-01", lab.address(811), OWNER)]
    sections: dict[str, Any] = {
        "polling": {"interval_seconds": 2, "timeout_seconds": 1, "down_after": 2,
                    "up_after": 2},
        "tickets": {"verification_probes": 2, "verification_hold_seconds": 1,
                    "sla_sweep_seconds": 1},
        "sla": {"calendar": "calendar"},
    }
    proc = AgentProcess(lab, tmp_path_factory.mktemp("browser"), devices, sections,
                        env={f"TOKEN_{u.upper()}": f"token-{u}-0123456789abcdef0123456789"
                             for u in USERS})
    people = "\n".join(
        f'[[users]]\nname = "{u}"\nrole = "{r}"\ntoken = {{ env = "TOKEN_{u.upper()}" }}\n'
        f'password_hash = "{hash_password(password(u))}"\n' for u, r in USERS.items())
    proc.config.write_text(proc.config.read_text() + "\n" + people)
    proc.start()
    try:
        proc.wait(lambda: set(proc.states().values()) == {"up"}, 30)
        yield proc
    finally:
        assert proc.stop() < 5.0


@pytest.fixture(scope="module")
def site(lab: Lab, agent: AgentProcess) -> Iterator[str]:
    fwd = Forward(lab.name, agent.port)
    try:
        yield fwd.base
    finally:
        fwd.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[ChromiumDriver]:
    with chromium(tmp_path / "profile") as driver:
        yield driver


def open_ticket(agent: AgentProcess, device: str) -> dict[str, Any] | None:
    out = agent.tickets("list", "--status", "open", "--json")
    assert out.returncode == 0, out.stderr
    found = [t for t in json.loads(out.stdout)["tickets"] if t["device"] == device]
    return found[0] if found else None


def sign_in(driver: WebDriver, base: str, user: str) -> None:
    driver.get(f"{base}/login")
    element(driver, "#username").send_keys(user)
    element(driver, "#password").send_keys(password(user))
    element(driver, "#login-submit").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "signed-in"))


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "login-form"))


def submitted(driver: WebDriver, flash: str, timeout: float = 60) -> str:
    """Wait until the page after a form post shows `flash`; return the page's text."""
    wait_for(driver, lambda d: flash in body_text(d), timeout)
    return body_text(driver)


def assert_indonesian(driver: WebDriver) -> None:
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "id"


class TestSopInTheBrowser:
    """Kasi disposes, teknisi checks, verify-now fails then passes, the report prints."""

    def test_scenario(self, lab: Lab, agent: AgentProcess, site: str, browser: ChromiumDriver,
                      figure: Figure) -> None:
        screens = Screens(browser, "browser")
        address = lab.address(810)
        lab.blackhole(address)
        ticket = agent.wait(lambda: open_ticket(agent, "sw-kominfo"), 30)
        assert ticket is not None
        tid = ticket["id"]
        for step, user in ((2, "kadis"), (3, "kabid")):
            done = agent.tickets("complete", tid, str(step), "--as", user,
                                 "--set", "note=Segera ditindaklanjuti", "--set", "to=bawahan")
            assert done.returncode == 0, done.stderr

        # the kasi signs in and disposes the ticket to the technicians
        browser.get(f"{site}/")
        element(browser, "#login-form")
        assert "Kata sandi" in body_text(browser)
        assert_indonesian(browser)
        screens.take("masuk")
        sign_in(browser, site, "kasi")
        row = element(browser, "tr[data-device='sw-kominfo']")
        assert [w for w in ("MATI", "100 %", tid) if w not in row.text] == [], row.text
        screens.take("papan-perangkat-mati")
        browser.get(f"{site}/tickets")
        step4 = element(browser, "#step-4")
        assert tid in step4.text
        countdown = step4.find_element(By.CSS_SELECTOR, ".countdown")
        before = countdown.text
        assert before.startswith("sisa ")
        # the page's own clock rewrites the countdown every second
        browser.execute_script("arguments[0].textContent = '?'", countdown)
        settle(1.5)
        assert countdown.text.startswith("sisa ")
        assert "Tiket per langkah SOP-006" in body_text(browser)
        screens.take("tiket-per-langkah")
        step4.find_element(By.LINK_TEXT, tid).click()
        element(browser, "#step-form")
        assert "Selesaikan langkah 4" in body_text(browser)
        element(browser, "#field-note").send_keys("Mohon teknisi memeriksa switch hari ini")
        screens.take("kasi-disposisi")
        element(browser, "#complete-step").click()
        text = submitted(browser, "Langkah 4 selesai.")
        assert "Mohon teknisi memeriksa switch hari ini" in text
        assert_indonesian(browser)
        sign_out(browser)

        # the technician records the checks of steps 5 and 6
        sign_in(browser, site, "teknisi")
        browser.get(f"{site}/tickets/{tid}")
        element(browser, "#field-findings").send_keys("Switch tidak menyala, adaptor rusak")
        element(browser, "#field-devices").send_keys("Switch 24 port\nAdaptor 12V")
        element(browser, "#complete-step").click()
        submitted(browser, "Langkah 5 selesai.")
        element(browser, "#field-findings").send_keys("Stok switch tersedia di gudang")
        browser.find_element(By.CSS_SELECTOR, "input[name=stock_available][value=yes]").click()
        element(browser, "#complete-step").click()
        text = submitted(browser, "Langkah 6 selesai.")
        assert "Switch 24 port, Adaptor 12V" in text
        screens.take("teknisi-pengecekan")

        # "verify now" while the device is still blackholed: it fails, each probe shown
        element(browser, "#verify-now").click()
        text = submitted(browser, "Hasil verifikasi GAGAL")
        probes = browser.find_elements(By.CSS_SELECTOR, "#probe-table tr.probe")
        assert probes
        assert all("bad" in (p.get_attribute("class") or "") for p in probes)
        assert any("sw-kominfo" in p.text and "icmp" in p.text for p in probes)
        assert "Verifikasi sekarang" in text
        screens.take("verifikasi-gagal")

        # restored: it passes, every probe of both rounds healthy
        lab.restore(address)
        agent.wait(lambda: agent.states()["sw-kominfo"] == "up", 30)
        element(browser, "#verify-now").click()
        submitted(browser, "Hasil verifikasi LULUS")
        probes = browser.find_elements(By.CSS_SELECTOR, "#probe-table tr.probe")
        rounds = {p.find_element(By.CSS_SELECTOR, "td").text for p in probes}
        assert rounds == {"1", "2"}
        assert all("ok" in (p.get_attribute("class") or "").split() for p in probes)
        assert all(" ms" in p.text for p in probes if "icmp" in p.text)
        screens.take("verifikasi-lulus")

        # step 7, the follow-up report, is accepted now
        element(browser, "#field-action").send_keys("Adaptor diganti, switch menyala kembali")
        element(browser, "#complete-step").click()
        submitted(browser, "Langkah 7 selesai.")
        link = element(browser, "#doc-7")
        assert link.text == "Laporan Tindaklanjut"

        # the printable Laporan Tindaklanjut shows the verification's probes
        browser.get(f"{site}/tickets/{tid}/documents/7")
        letter = body_text(browser)
        assert "PEMERINTAH KOTA BOGOR" in letter
        assert "LAPORAN TINDAKLANJUT" in letter.upper()
        assert "Adaptor diganti, switch menyala kembali" in letter
        assert "LULUS" in letter
        assert letter.count("sw-kominfo") >= 2  # one row per probe round
        assert "November" in letter or "Desember" in letter or "Januari" in letter
        screens.take("laporan-tindaklanjut")
        # "Cetak" opens the print dialog through the page's own script (the CSP allows no
        # inline handler): count the calls instead of opening a dialog headless Chromium lacks
        browser.execute_script("window.printed = 0; window.print = () => { window.printed++; };")
        element(browser, "#cetak").click()
        assert browser.execute_script("return window.printed") == 1

        # the device board, and the ticket's page on a phone
        browser.get(f"{site}/devices")
        board = body_text(browser)
        assert "Papan perangkat" in board
        assert "sw-kominfo" in board
        assert "NORMAL" in board
        screens.take("papan-perangkat-pulih")
        browser.set_window_size(390, 844)
        browser.get(f"{site}/tickets/{tid}")
        element(browser, "#ticket-title")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"the page is {width}px wide on a 390px phone"
        assert "Langkah saat ini" in body_text(browser)
        screens.take("ponsel-tiket")

        names = ", ".join(p.name for p in screens.taken)
        figure(f"browser scenario: {len(screens.taken)} screenshots in "
               f"{screens.folder}: {names}")
        assert len(screens.taken) == 10
