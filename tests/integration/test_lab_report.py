"""Lab end to end: a device blackholed for a measured time while `pantau run` watches; then
`pantau report --format json` (and csv) gives that availability within 1 %, and the PDF, read
back with `pdftotext`, shows the kop, the device and the same figure.

The agent polls every 0.5 s (down after 2 failures, up after 2 answers), so detecting the
outage and the recovery take about the same time (each within about half a second of the
edge). The report counts hard states, so its down time is shorter than the blackholed time by
the failed checks' timeouts (about 0.3 to 0.7 s here): over ~160 s monitored, about 0.4 % of
the ratio, within the 1 % the issue asks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config import load
from agent.wiring import monthly_report
from lab.agentproc import AgentProcess
from lab.inventory import LabDevice
from lab.lab import Lab
from tests.conftest import Figure
from tests.fakes import FakeClock
from tests.report_site import serve_reports
from tests.unit.test_report_pdf import line_of, pdftotext

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab-report")]

OWNER = "Dinas Lab Laporan"
BEFORE_S, OUTAGE_S, AFTER_S = 60.0, 40.0, 60.0
KOP = ("PEMERINTAH KOTA LAB", "DINAS KOMUNIKASI DAN INFORMATIKA")


@pytest.fixture
def agent(lab: Lab, tmp_path: Path) -> Iterator[AgentProcess]:
    devices = [LabDevice("sw-report-out", lab.address(900), OWNER),
               LabDevice("sw-report-ok", lab.address(901), OWNER)]
    proc = AgentProcess(lab, tmp_path, devices, {
        "polling": {"interval_seconds": 0.5, "timeout_seconds": 0.3, "down_after": 2,
                    "up_after": 2, "retry_interval_seconds": 0.5},
        "sla": {"timezone": "Asia/Jakarta"},
        "web": {"kop": list(KOP)},
    })
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def report_file(agent: AgentProcess, fmt: str, month: str, lang: str = "en") -> Path:
    out = agent.workdir / f"laporan.{fmt}"
    done = subprocess.run([sys.executable, "-m", "agent", "report", "-c", str(agent.config),
                           "--month", month, "--format", fmt, "--lang", lang, "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out


def report(agent: AgentProcess, fmt: str, month: str) -> str:
    return report_file(agent, fmt, month).read_text(encoding="utf-8")


class TestLabReport:
    """The report's availability is the blackholed share of the monitored time."""

    @pytest.mark.timeout(300)  # the scenario itself lasts about 170 s
    def test_a_blackholed_device_gives_its_availability(
            self, lab: Lab, agent: AgentProcess, figure: Figure) -> None:
        out = lab.address(900)
        agent.took(lambda: agent.states() == {"sw-report-out": "up", "sw-report-ok": "up"}, 30)
        time.sleep(BEFORE_S)
        lab.blackhole(out)
        blackholed = time.monotonic()
        detected = agent.took(lambda: agent.states().get("sw-report-out") == "down", 20)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - blackholed)))
        lab.restore(out)
        outage = time.monotonic() - blackholed
        recovered = agent.took(lambda: agent.states().get("sw-report-out") == "up", 20)
        time.sleep(AFTER_S)
        assert agent.stop() < 5.0

        month = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
        doc = json.loads(report(agent, "json", month))
        by_name = {d["device"]: d["availability"] for d in doc["devices"]}
        a, ok = by_name["sw-report-out"], by_name["sw-report-ok"]
        expected = 1 - outage / a["monitored_seconds"]
        figure(f"blackholed {outage:.1f}s (DOWN after {detected:.1f}s, UP after "
               f"{recovered:.1f}s); report: down {a['down_seconds']:.1f}s of "
               f"{a['monitored_seconds']:.1f}s monitored, availability {a['ratio']:.4f} vs "
               f"{expected:.4f} measured ({abs(a['ratio'] - expected) * 100:.2f} points apart)")
        assert abs(a["ratio"] - expected) < 0.01
        assert a["outages"] == 1
        assert a["mttr_seconds"] == pytest.approx(a["down_seconds"])
        assert ok["ratio"] == 1.0
        assert ok["monitored_seconds"] >= BEFORE_S + OUTAGE_S + AFTER_S
        assert a["unreachable_seconds"] == a["maintenance_seconds"] == 0
        # the rest of the month: the agent was not running, so not monitored (never UP)
        assert a["unmonitored_seconds"] > 0

        avail = list(csv.DictReader(io.StringIO(
            report(agent, "csv", month).split("\r\n\r\n")[0])))
        row = next(r for r in avail if r["device"] == "sw-report-out")
        assert float(row["availability"]) == a["ratio"]
        assert float(row["down_seconds"]) == a["down_seconds"]

        # the PDF, in Indonesian: the kop, the device and its figure ("75,64 %")
        pdf = report_file(agent, "pdf", month, lang="id")
        text = pdftotext(pdf.read_bytes(), agent.workdir)
        flat = " ".join(text.split())
        for line in KOP:
            assert line in flat, line
        shown = f"{a['ratio'] * 100:.2f}".replace(".", ",") + " %"
        assert shown in line_of(text, "sw-report-out"), text

        # the page, from the same store: the real report behind /laporan
        config = load(agent.config)
        built = asyncio.run(monthly_report(config, config.devices, month, datetime.now(UTC)))

        async def page() -> str:
            async with serve_reports(clock=FakeClock(datetime.now(UTC))) as site:
                site.reports.report = built
                await site.sign_in("kadis")
                answer = await site.client.get(f"/laporan?bulan={month}")
                assert answer.status_code == 200, answer.text
                return answer.text

        html = asyncio.run(page())
        assert "sw-report-out" in html
        assert shown in html
        figure(f"month {month}, sw-report-out: JSON ratio {a['ratio']:.6f}, CSV "
               f"{row['availability']}, PDF {shown} ({pdf.stat().st_size} bytes, with the kop), "
               f"page {shown}; down {a['down_seconds']:.1f} s, monitored "
               f"{a['monitored_seconds']:.1f} s, 1 outage, MTTR {a['mttr_seconds']:.1f} s")
