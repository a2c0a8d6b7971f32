"""`pantau report` on a store with a history, and the running agent's run row (start, stop)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.cli import main
from agent.config import Config, load, loads
from agent.reports.model import MonthlyReport
from agent.wiring import open_history
from tests.unit.test_report_pdf import pdftotext
from ticketing.history import MonitorRun, StateChange
from ticketing.store.history import SqlHistory

START = datetime(2026, 10, 31, 17, tzinfo=UTC)  # November in WIB
END = datetime(2026, 11, 30, 17, tzinfo=UTC)
H = timedelta(hours=1)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "pantau.toml"
    path.write_text(f"""\
[agent]
listen = "127.0.0.1:0"
database = "sqlite:///{tmp_path / 'pantau.db'}"
journal = "{tmp_path / 'journal.db'}"

[[devices]]
name = "sw-dinkes-01"
address = "127.0.0.2"
owner = "Dinas Kesehatan"
site = "Gedung B"

[[users]]
name = "kadis"
role = "kepala_dinas"
token = "token-kadis-0123456789-0123456789-x"
""", encoding="utf-8")
    return path


async def seed(tmp_path: Path) -> None:
    history = await SqlHistory.connect(f"sqlite:///{tmp_path / 'pantau.db'}")
    try:
        await history.record(MonitorRun("r1", "a", START, END, END), [
            StateChange("r1", "sw-dinkes-01", "icmp", "", "up", START),
            StateChange("r1", "sw-dinkes-01", "icmp", "", "down", START + 24 * H),
            StateChange("r1", "sw-dinkes-01", "icmp", "", "up", START + 27 * H)])
    finally:
        await history.aclose()


class TestReportCommand:
    """The command writes the month's numbers in the format asked."""

    def test_json_and_csv_of_a_month(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        asyncio.run(seed(tmp_path))
        out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
        assert main(["report", "-c", str(config), "--month", "2026-11", "--format", "json",
                     "-o", str(out_json)]) == 0
        assert main(["report", "-c", str(config), "--month", "2026-11", "--format", "csv",
                     "--lang", "en", "-o", str(out_csv)]) == 0
        doc = json.loads(out_json.read_text(encoding="utf-8"))
        device = doc["devices"][0]
        assert device["device"] == "sw-dinkes-01"
        assert device["availability"]["down_seconds"] == 3 * 3600
        assert doc["period"]["start"] == START.isoformat()
        rows = list(csv.DictReader(io.StringIO(
            out_csv.read_text(encoding="utf-8").split("\r\n\r\n")[0])))
        assert float(rows[0]["availability"]) == device["availability"]["ratio"]
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.")] == []

    def test_a_bad_month_is_a_usage_error(self, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        config = write_config(tmp_path)
        assert main(["report", "-c", str(config), "--month", "2026-13"]) == 2
        assert "--month: month '2026-13': expected YYYY-MM" in capsys.readouterr().err

    def test_an_unknown_signer_is_a_usage_error(self, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
        config = write_config(tmp_path)
        assert main(["report", "-c", str(config), "--month", "2026-11", "--format", "pdf",
                     "--signer", "nobody"]) == 2
        assert "--signer: no user 'nobody' in [[users]]" in capsys.readouterr().err


class TestAgentRun:
    """A running agent keeps its run row: started, alive, stopped."""

    async def test_the_run_is_recorded_with_its_stop(self, tmp_path: Path) -> None:
        config = loads(write_config(tmp_path).read_text(encoding="utf-8").replace(
            "[[devices]]\nname = \"sw-dinkes-01\"\naddress = \"127.0.0.2\"\n"
            "owner = \"Dinas Kesehatan\"\nsite = \"Gedung B\"\n", ""))
        agent = Agent(config)
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        deadline = time.monotonic() + 10
        while agent.history is None or agent.history.run.last_alive == agent.history.run.started_at:
            assert time.monotonic() < deadline, "no first history write"
            assert not running.done(), running.exception()
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(running, 10)
        history = await SqlHistory.connect(f"sqlite:///{tmp_path / 'pantau.db'}")
        try:
            runs = await history.runs()
        finally:
            await history.aclose()
        assert len(runs) == 1
        assert runs[0].stopped_at is not None
        assert runs[0].stopped_at >= runs[0].started_at


class TestPdf:
    """`--format pdf`: the real PDF, signed by the kepala_dinas user, read back."""

    def test_the_pdf_names_the_month_the_device_and_the_signer(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        config.write_text(config.read_text(encoding="utf-8") + (
            'full_name = "Drs. Contoh, M.Si"\nnip = "19700101 199503 1 001"\n'
            '[web]\nkop = ["PEMERINTAH KOTA BOGOR"]\ncity = "Bogor"\n'), encoding="utf-8")
        asyncio.run(seed(tmp_path))
        out = tmp_path / "r.pdf"
        assert main(["report", "-c", str(config), "--month", "2026-11", "--format", "pdf",
                     "--lang", "en", "-o", str(out)]) == 0
        flat = " ".join(pdftotext(out.read_bytes(), tmp_path).split())
        for words in ("PEMERINTAH KOTA BOGOR", "November 2026", "sw-dinkes-01",
                      "Drs. Contoh, M.Si", "19700101 199503 1 001"):
            assert words in flat, words


class TestAgentReport:
    """The running agent's `report(month)`: what the page's `report_for` calls."""

    def test_the_agent_reports_a_month_from_its_store(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        asyncio.run(seed(tmp_path))
        agent = Agent(load(str(config)))
        opened: list[str] = []
        real = open_history

        async def counted(cfg: Config) -> Any:
            opened.append(cfg.agent.database)
            return await real(cfg)

        async def views() -> MonthlyReport:
            try:
                first = await agent.report("2026-11")
                again = await agent.report("2026-11")  # a second page view
                assert (again.devices, again.compliance) == (first.devices, first.compliance)
                with pytest.raises(ValueError, match="expected YYYY-MM"):
                    await agent.report("2026-13")
                return first
            finally:
                await agent.close_reports()

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("agent.app.open_history", counted)
            report = asyncio.run(views())
        assert report.period.label == "2026-11"
        assert [d.device for d in report.devices] == ["sw-dinkes-01"]
        assert report.devices[0].availability.down_seconds == 3 * 3600
        assert len(opened) == 1  # one reader for every view, not a store opened per request
