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
import sys
from pathlib import Path
from typing import Any

from agent.config import Config
from agent.core.clock import Clock, SystemClock
from agent.reports.files import FORMATS, last_month, render, signer_for, write_atomically
from agent.wiring import monthly_report

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


def write_output(data: bytes, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_atomically(data, Path(output))


def main_report(config: Config, args: argparse.Namespace, clock: Clock | None = None) -> int:
    clock = clock or SystemClock()
    month = args.month or last_month(clock.now(), config.sla.timezone)
    # as the page's PDF: signed by the first kepala_dinas user unless --signer names one
    signer = signer_for(config.users, args.signer)
    if args.signer is not None and signer is None:
        print(f"pantau: --signer: no user {args.signer!r} in [[users]]", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = asyncio.run(monthly_report(config, config.devices, month, clock.now()))
    except ValueError as exc:
        print(f"pantau: --month: {exc}", file=sys.stderr)
        return EXIT_USAGE
    write_output(render(report, args.format, args.lang, config.web, signer), args.output)
    return EXIT_OK
