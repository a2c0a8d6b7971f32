"""The monthly report files: last month's report written into `[reports] directory` once
the month is over and its last minute stored (SETTLE), by the one member that leads (a
singleton duty, issue 15).

A month's files are the idempotence key: `laporan-YYYY-MM.<format>`, each written whole
(temp file, then rename). A new leader, or a restarted agent, writes only the ones missing,
so a handover mid-write costs one rewrite of the same bytes, never a torn or doubled file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from agent.core.clock import Clock
from agent.core.settings import ReportSettings, User, WebSettings
from agent.history import ALIVE_SECONDS, FLUSH_SECONDS
from agent.reports.files import last_month, render, signer_for, write_atomically
from agent.reports.model import MonthlyReport

log = logging.getLogger(__name__)

CHECK_SECONDS = 600.0  # how often the duty looks whether a month has ended
RETRY_SECONDS = 300.0  # after a failure (the store unreachable, the folder not writable)
# A month is written only once the history writer has stored its last minute: it writes the
# run's last-alive time at least every ALIVE_SECONDS, and changes at most FLUSH_SECONDS late.
# Written earlier, the file (written once: its name is the idempotence key) would show the
# month's last minute as not monitored, for good.
SETTLE = timedelta(seconds=ALIVE_SECONDS + FLUSH_SECONDS)


def file_name(month: str, fmt: str) -> str:
    return f"laporan-{month}.{fmt}"


class MonthlyFiles:
    """`run()` is the duty: it returns only when cancelled."""

    def __init__(self, settings: ReportSettings, *, timezone: str, users: tuple[User, ...],
                 letterhead: WebSettings, report_for: Callable[[str], Awaitable[MonthlyReport]],
                 clock: Clock) -> None:
        self.settings, self.timezone, self.clock = settings, timezone, clock
        self.letterhead, self.report_for = letterhead, report_for
        self.signer = signer_for(users, settings.signer)
        self.directory = Path(settings.directory)

    def missing(self, month: str) -> list[str]:
        """The formats of `month` not written yet."""
        return [f for f in self.settings.formats
                if not (self.directory / file_name(month, f)).exists()]

    async def write(self, month: str) -> list[Path]:
        """Write `month`'s missing files; the paths written."""
        formats = self.missing(month)
        if not formats:
            return []
        report = await self.report_for(month)
        self.directory.mkdir(parents=True, exist_ok=True)
        written = []
        for fmt in formats:
            # a PDF takes about half a second: off the loop, as the page does
            data = await asyncio.to_thread(render, report, fmt, self.settings.lang,
                                           self.letterhead, self.signer)
            target = self.directory / file_name(month, fmt)
            await asyncio.to_thread(write_atomically, data, target)
            written.append(target)
        log.info("monthly report written",
                 extra={"month": month, "files": [p.name for p in written]})
        return written

    async def run(self) -> None:
        while True:
            month = last_month(self.clock.now() - SETTLE, self.timezone)
            try:
                await self.write(month)
            except Exception as exc:  # logged and retried: the agent goes on
                # a file error names its path; another (the store's) only its class, since
                # its text may name the database's host or user
                detail = str(exc)[:200] if isinstance(exc, OSError) else ""
                log.warning("monthly report not written",
                            extra={"month": month, "error": type(exc).__name__,
                                   "detail": detail})
                await self.clock.sleep(RETRY_SECONDS)
                continue
            await self.clock.sleep(CHECK_SECONDS)
