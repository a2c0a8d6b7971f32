"""`pantau run|check-config|probe|tickets|report|cluster|hash-password`: argument parsing,
logging set-up
and exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from agent import __version__
from agent.core.errors import AgentError, ConfigError, InvalidTransition

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

# LogRecord attributes that are not `extra=` fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    """`2026-11-24T08:00:00+0000 INFO agent.app: agent started devices=12 listen=...`.

    One record is always one line, and a value can never fake another key or record: a value
    (or message) that is not plain printable ASCII is written as a JSON string, escapes and
    all, and a traceback follows as the quoted field `exc`.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        base = (
            f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S%z')} {record.levelname} "
            f"{record.name}: {message if _PLAIN_MESSAGE.fullmatch(message) else _json(message)}"
        )
        fields = [f"{k}={_quote(v)}" for k, v in record.__dict__.items() if k not in _STANDARD]
        if record.exc_info:
            fields.append(f"exc={_json(self.formatException(record.exc_info))}")
        return " ".join([base, *fields])


# A bare value: printable ASCII without spaces, quotes, `=` or backslashes. A message may also
# hold single spaces between words. Anything else is quoted (newlines, NBSP, controls, ...).
_PLAIN_VALUE = re.compile(r"[!#-<>-\[\]-~]+")
_PLAIN_MESSAGE = re.compile(r"[!#-<>-\[\]-~]+(?: [!#-<>-\[\]-~]+)*")


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def _quote(value: object) -> str:
    text = str(value)
    return text if _PLAIN_VALUE.fullmatch(text) else _json(text)


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def default_config_path() -> str:
    return os.environ.get("PANTAU_CONFIG") or "pantau.toml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pantau",
        description="Network monitoring agent that files and tracks SOP-006 requests.",
    )
    parser.add_argument("--version", action="version", version=f"pantau {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-c",
            "--config",
            default=None,
            help="configuration file (default: $PANTAU_CONFIG, then ./pantau.toml)",
        )

    run = sub.add_parser(
        "run", help="run the agent until SIGTERM/SIGINT; SIGHUP reloads the config file")
    with_config(run)
    run.add_argument("--log-level", default=None, help="override agent.log_level")

    check = sub.add_parser("check-config", help="validate the configuration; exit 2 if invalid")
    with_config(check)

    probe = sub.add_parser("probe", help="probe devices live once and print what was seen")
    with_config(probe)
    probe.add_argument("devices", nargs="+", metavar="DEVICE")
    probe.add_argument("--json", action="store_true", help="print JSON instead of a table")

    hashpw = sub.add_parser(
        "hash-password", help="read a password and print its hash for [[users]] password_hash")
    hashpw.add_argument("--stdin", action="store_true",
                        help="read the password from the first line of standard input "
                             "instead of asking twice on the terminal")

    from agent.tickets_cli import add_parser

    add_parser(sub, with_config)
    from agent.report_cli import add_parser as add_report

    add_report(sub, with_config)
    from agent.cluster.cli import add_parser as add_cluster_parser

    add_cluster_parser(sub, with_config)
    return parser


def hash_password_command(from_stdin: bool) -> int:
    """Print the scrypt hash of a password typed twice (or read from stdin); never echo it."""
    import getpass

    from agent.web.passwords import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("pantau: the two passwords differ", file=sys.stderr)
            return EXIT_USAGE
    if len(password) < 8:
        print("pantau: a password needs at least 8 characters", file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if args.command == "hash-password":
        return hash_password_command(args.stdin)
    config_path = args.config or default_config_path()
    try:
        if args.command == "check-config":
            from agent.check_config import check_config

            return check_config(config_path, sys.stdout)
        from agent.config import load

        config = load(config_path)
        if args.command == "run":
            setup_logging(args.log_level or config.agent.log_level)
            return asyncio.run(_run(config))
        if args.command == "tickets":
            setup_logging("WARNING")
            from agent.tickets_cli import main_tickets

            return main_tickets(config, args)
        if args.command == "report":
            setup_logging("WARNING")
            from agent.report_cli import main_report

            return main_report(config, args)
        if args.command == "cluster":
            setup_logging("WARNING")
            from agent.cluster.cli import main_cluster

            return main_cluster(config, args)
        if args.command == "probe":
            setup_logging("WARNING")
            from agent.probe import probe

            return asyncio.run(probe(config, args.devices, sys.stdout, as_json=args.json))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found in {exc.file}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidTransition as exc:  # in the reader's language where a command has --lang
        lang = getattr(args, "lang", "en")
        print(f"pantau: {'ditolak' if lang == 'id' else 'refused'}: {exc.text(lang)}",
              file=sys.stderr)
        return EXIT_FAILURE
    except AgentError as exc:
        print(f"pantau: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"pantau: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits


async def _run(config: Any) -> int:
    from agent.app import Agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    agent = Agent(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, agent.request_reload)  # reload the config file
    try:
        await agent.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return EXIT_OK
