"""`pantau report`: the monthly report from the store, as JSON, CSV or PDF, for cron and mail
(works while the agent runs: the store is shared).

    pantau report -c pantau.toml --month 2026-12 --format pdf -o laporan-2026-12.pdf

The month is counted in `sla.timezone` (default: the last full month there); the file is
written whole or not at all (a temporary file renamed into place); without `-o`, standard
output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.app import monthly_report
from agent.config import Config
from agent.core.clock import Clock, SystemClock
from agent.core.settings import User
from agent.reports.csv_out import render_csv
from agent.reports.json_out import render_json
from agent.reports.model import MonthlyReport

FORMATS = ("json", "csv", "pdf")
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any, with_config: Any) -> None:
    report = sub.add_parser("report", help="the monthly availability and SLA report")
    with_config(report)
    report.add_argument("--month", help="YYYY-MM (default: the last full month, in "
                                        "sla.timezone)")
    report.add_argument("--format", choices=FORMATS, default="json")
    report.add_argument("--lang", choices=("id", "en"), default="id",
                        help="the language of CSV headers and the PDF (default id)")
    report.add_argument("--signer", metavar="USER",
                        help="a configured user who signs the PDF (full name, NIP, jabatan); "
                             "default: the first kepala_dinas user")
    report.add_argument("-o", "--output", metavar="FILE", help="default: standard output")


def last_month(now: datetime, timezone: str) -> str:
    local = now.astimezone(ZoneInfo(timezone))
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{year:04d}-{month:02d}"


def render(report: MonthlyReport, config: Config, fmt: str, lang: str,
           signer: User | None) -> bytes:
    if fmt == "json":
        return render_json(report).encode()
    if fmt == "csv":
        return render_csv(report, lang).encode()
    try:  # the PDF is issue 16's other part (agent/reports/pdf.py): json and csv work without
        from agent.reports.pdf import render_pdf  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise OSError(f"PDF output is not available in this build ({exc})") from exc
    data: bytes = render_pdf(report, lang, config.web, signer)
    return data


def write_output(data: bytes, output: str | None) -> None:
    """The whole file or nothing: written beside the target, then renamed over it."""
    if output is None or output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main_report(config: Config, args: argparse.Namespace, clock: Clock | None = None) -> int:
    clock = clock or SystemClock()
    month = args.month or last_month(clock.now(), config.sla.timezone)
    # as the page's PDF: signed by the first kepala_dinas user unless --signer names one
    signer = next((u for u in config.users if u.role == "kepala_dinas"), None)
    if args.signer is not None:
        signer = next((u for u in config.users if u.name == args.signer), None)
        if signer is None:
            print(f"pantau: --signer: no user {args.signer!r} in [[users]]", file=sys.stderr)
            return EXIT_USAGE
    try:
        report = asyncio.run(monthly_report(config, config.devices, month, clock.now()))
    except ValueError as exc:
        print(f"pantau: --month: {exc}", file=sys.stderr)
        return EXIT_USAGE
    write_output(render(report, config, args.format, args.lang, signer), args.output)
    return EXIT_OK
