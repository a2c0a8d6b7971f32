"""The leader's monthly report files: last month's, written once, whole, after the month
ends; a failure is retried; a new leader writes only what is missing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import loads
from agent.core.errors import ConfigError
from agent.core.settings import ReportSettings, WebSettings
from agent.history import ALIVE_SECONDS, FLUSH_SECONDS
from agent.reports.model import MonthlyReport
from agent.reports.monthly import CHECK_SECONDS, RETRY_SECONDS, SETTLE, MonthlyFiles
from tests.fakes import FakeClock
from tests.report_samples import sample_report

# 31 Dec 2026 16:59 UTC is 23:59 WIB: still December in Jakarta
BEFORE_END = datetime(2026, 12, 31, 16, 59, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 1 January 00:00 WIB


class Builder:
    def __init__(self) -> None:
        self.months: list[str] = []
        self.fail = 0

    async def __call__(self, month: str) -> MonthlyReport:
        self.months.append(month)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store unreachable")
        return sample_report()


def files(tmp_path: Path, builder: Builder, clock: FakeClock,
          formats: tuple[str, ...] = ("json", "csv")) -> MonthlyFiles:
    return MonthlyFiles(ReportSettings(directory=str(tmp_path / "laporan"), formats=formats),
                        timezone="Asia/Jakarta", users=(), letterhead=WebSettings(),
                        report_for=builder, clock=clock)


async def settle(clock: FakeClock, seconds: float) -> None:
    await clock.wait_sleepers(1)
    clock.advance(seconds)
    await asyncio.sleep(0.05)  # the file writes run in threads


class TestMonthlyFiles:
    async def test_the_month_is_written_once_after_it_ends(self, tmp_path: Path) -> None:
        clock, builder = FakeClock(BEFORE_END), Builder()
        duty = asyncio.create_task(files(tmp_path, builder, clock).run())
        try:
            await clock.wait_sleepers(1)
            # November's files first (the last full month on 31 December)
            assert sorted(p.name for p in (tmp_path / "laporan").iterdir()) == [
                "laporan-2026-11.csv", "laporan-2026-11.json"]
            await settle(clock, CHECK_SECONDS)  # into January WIB: December is over
            await clock.wait_sleepers(1)
            assert (tmp_path / "laporan" / "laporan-2026-12.json").exists()
            doc = json.loads((tmp_path / "laporan" / "laporan-2026-12.json").read_text())
            assert doc["period"]["label"] == sample_report().period.label
            await settle(clock, CHECK_SECONDS)
            await clock.wait_sleepers(1)
            assert builder.months == ["2026-11", "2026-12"]  # nothing built twice
        finally:
            duty.cancel()

    @pytest.mark.parametrize(("after", "december"), [
        (timedelta(seconds=1), False),
        (SETTLE - timedelta(seconds=1), False),
        (SETTLE, True),
    ])
    async def test_the_month_waits_until_its_last_minute_is_stored(
            self, tmp_path: Path, after: timedelta, december: bool) -> None:
        # the history writer stores last_alive every ALIVE_SECONDS and changes up to
        # FLUSH_SECONDS late: a file written at once would show the month's end unmonitored
        assert timedelta(seconds=ALIVE_SECONDS + FLUSH_SECONDS) == SETTLE
        clock, builder = FakeClock(MIDNIGHT + after), Builder()
        duty = asyncio.create_task(files(tmp_path, builder, clock).run())
        try:
            await clock.wait_sleepers(1)
            written = sorted(p.name for p in (tmp_path / "laporan").iterdir())
            if december:
                assert builder.months == ["2026-12"]
                assert written == ["laporan-2026-12.csv", "laporan-2026-12.json"]
            else:
                assert builder.months == ["2026-11"]
                assert written == ["laporan-2026-11.csv", "laporan-2026-11.json"]
                await settle(clock, CHECK_SECONDS)  # the next look, past the settle time
                await clock.wait_sleepers(1)
                assert builder.months == ["2026-11", "2026-12"]
                assert (tmp_path / "laporan" / "laporan-2026-12.json").exists()
        finally:
            duty.cancel()

    async def test_a_new_leader_writes_only_what_is_missing(self, tmp_path: Path) -> None:
        clock, builder = FakeClock(BEFORE_END), Builder()
        folder = tmp_path / "laporan"
        folder.mkdir()
        (folder / "laporan-2026-11.json").write_text("{}")
        written = await files(tmp_path, builder, clock).write("2026-11")
        assert [p.name for p in written] == ["laporan-2026-11.csv"]
        assert (folder / "laporan-2026-11.json").read_text() == "{}"
        assert await files(tmp_path, builder, clock).write("2026-11") == []
        assert builder.months == ["2026-11"]

    async def test_a_failure_is_retried_and_leaves_no_file(self, tmp_path: Path) -> None:
        clock, builder = FakeClock(datetime(2026, 12, 15, tzinfo=UTC)), Builder()
        builder.fail = 1
        duty = asyncio.create_task(files(tmp_path, builder, clock).run())
        try:
            await clock.wait_sleepers(1)
            assert not (tmp_path / "laporan").exists() or not any(
                (tmp_path / "laporan").iterdir())
            await settle(clock, RETRY_SECONDS)
            await clock.wait_sleepers(1)
            assert builder.months == ["2026-11", "2026-11"]
            assert (tmp_path / "laporan" / "laporan-2026-11.csv").exists()
        finally:
            duty.cancel()

    async def test_the_pdf_is_a_pdf(self, tmp_path: Path) -> None:
        clock, builder = FakeClock(BEFORE_END), Builder()
        (path,) = await files(tmp_path, builder, clock, formats=("pdf",)).write("2026-11")
        assert path.read_bytes().startswith(b"%PDF-")


class TestConfig:
    DEVICE = '[[devices]]\nname = "a"\naddress = "127.0.0.1"\nowner = "X"\n'

    def test_relative_to_the_config_file_and_defaults(self) -> None:
        config = loads(self.DEVICE + '[reports]\ndirectory = "laporan"\n')
        assert config.reports is not None
        assert config.reports.formats == ("pdf", "csv", "json")
        assert (config.reports.lang, config.reports.signer) == ("id", None)
        assert Path(config.reports.directory).is_absolute()
        assert Path(config.reports.directory).name == "laporan"

    @pytest.mark.parametrize(("extra", "path"), [
        ('formats = ["docx"]\n', "reports.formats[0]"),
        ('signer = "nobody"\n', "reports.signer"),
        ('lang = "jv"\n', "reports.lang"),
        ("", "reports.directory"),
    ])
    def test_bad_values_name_their_key(self, extra: str, path: str) -> None:
        directory = 'directory = "laporan"\n' if path != "reports.directory" else ""
        with pytest.raises(ConfigError) as info:
            loads(self.DEVICE + "[reports]\n" + directory + extra)
        assert path in [p.path for p in info.value.problems]
