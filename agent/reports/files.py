"""A report as a file: its bytes in each format, written whole or not at all. Used by
`pantau report` and by the leader's monthly files (agent/reports/monthly.py)."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.core.settings import User, WebSettings
from agent.reports.csv_out import render_csv
from agent.reports.json_out import render_json
from agent.reports.model import MonthlyReport
from agent.reports.pdf import render_pdf

FORMATS = ("json", "csv", "pdf")


def last_month(now: datetime, timezone: str) -> str:
    """The last full calendar month in `timezone`, "YYYY-MM"."""
    local = now.astimezone(ZoneInfo(timezone))
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{year:04d}-{month:02d}"


def render(report: MonthlyReport, fmt: str, lang: str, letterhead: WebSettings,
           signer: User | None) -> bytes:
    """The report in `fmt` ("json", "csv" or "pdf"); `lang` names CSV headers and the PDF."""
    if fmt == "json":
        return render_json(report).encode()
    if fmt == "csv":
        return render_csv(report, lang).encode()
    if fmt == "pdf":
        return render_pdf(report, lang, letterhead, signer)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def signer_for(users: tuple[User, ...], name: str | None) -> User | None:
    """The named user, or by default the first kepala_dinas user (as on the page)."""
    if name is not None:
        return next((u for u in users if u.name == name), None)
    return next((u for u in users if u.role == "kepala_dinas"), None)


def write_atomically(data: bytes, target: Path) -> None:
    """The whole file or nothing: written beside the target, then renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
