"""The key=value log line (agent/cli.py): one record, one line; no value fakes a key (finding 8)."""

from __future__ import annotations

import json
import logging
import re
import sys

from hypothesis import given
from hypothesis import strategies as st

from agent.cli import KeyValueFormatter

FIELD = re.compile(r' (\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


def line(msg: str = "sign-in failed", *args: object, exc: bool = False,
         **extra: object) -> str:
    record = logging.makeLogRecord({"name": "agent.web.signin", "levelno": logging.WARNING,
                                    "levelname": "WARNING", "msg": msg, "args": args or None,
                                    **extra})
    if exc:
        try:
            raise ValueError("rusak\nbaris kedua")
        except ValueError:
            record.exc_info = sys.exc_info()
    return KeyValueFormatter().format(record)


def fields(text: str) -> dict[str, str]:
    """The fields after the message; the whole rest of the line must be ` key=value` pairs."""
    tail = text.split(": ", 1)[1]
    if tail.startswith('"'):
        _, pos = json.JSONDecoder().raw_decode(tail)
    else:
        message = re.match(r"[^\s\"=]+(?: [^\s\"=]+)*(?= |$)", tail)  # bare words, no `=`
        assert message is not None, tail
        pos = message.end()
    found: dict[str, str] = {}
    while pos < len(tail):
        pair = FIELD.match(tail, pos)
        assert pair is not None, tail[pos:]
        key, value = pair.groups()
        found[key] = json.loads(value) if value.startswith('"') else value
        pos = pair.end()
    return found


class TestKeyValueFormatter:
    """Plain values stay bare; anything else is a JSON string with ASCII escapes."""

    def test_plain_values_are_bare(self) -> None:
        text = line(user="kasi", client="127.0.0.1", path="/tickets/2026-0001")
        assert text.endswith(": sign-in failed user=kasi client=127.0.0.1 "
                             "path=/tickets/2026-0001")

    def test_hostile_values_are_quoted(self) -> None:
        for value, shown in [("a b", '"a b"'), ("a\nb", '"a\\nb"'), ("a\u00a0b", '"a\\u00a0b"'),
                             ('a"b', '"a\\"b"'), ("a=b", '"a=b"'), ("a\\b", '"a\\\\b"'),
                             ("", '""'), ("\x1b[31m", '"\\u001b[31m"'), ("a\rb", '"a\\rb"')]:
            assert line(user=value).endswith(f" user={shown}"), value

    def test_a_message_with_a_newline_is_quoted(self) -> None:
        text = line("check failed: %s", "x\ny=1")
        assert "\n" not in text
        assert ': "check failed: x\\ny=1"' in text
        assert "y" not in fields(text)

    def test_a_traceback_is_one_quoted_field(self) -> None:
        text = line(exc=True, user="kasi")
        assert "\n" not in text
        assert "ValueError: rusak\nbaris kedua" in fields(text)["exc"]

    @given(st.text(max_size=40), st.text(max_size=40))
    def test_any_value_is_one_line_and_reads_back(self, user: str, client: str) -> None:
        text = line(user=user, client=client)
        assert len(text.splitlines()) == 1
        assert text.isascii()
        assert fields(text) == {"user": user, "client": client}
