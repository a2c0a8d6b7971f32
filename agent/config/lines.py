"""Lines: tomllib reports no positions, so find each key path's line in the TOML text.

A small scanner, not a parser: it follows table headers, keys and the brackets and strings
of values well enough to say on which line a key path first appears.
"""

from __future__ import annotations

import json
import re

from agent.config.problems import Loc

BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


class KeyLines:
    """The 1-based line where each key path (with array-of-tables indexes) first appears.

    `find()` falls back to the nearest enclosing path that has a line: a key inside an
    inline table or a multi-line array is reported at the line of the key that holds it,
    a missing key at its table's header.
    """

    def __init__(self, text: str) -> None:
        self._at: dict[Loc, int] = {}
        self._arrays: dict[Loc, int] = {}  # array-of-tables path → tables seen so far
        table: Loc = ()
        depth, multiline = 0, ""
        for lineno, line in enumerate(text.split("\n"), start=1):  # as tomllib counts
            if depth > 0 or multiline:  # continuation of a multi-line array or string
                depth, multiline = scan(line, 0, depth, multiline)
                continue
            stripped = line.lstrip()
            start = len(line) - len(stripped)
            if stripped.startswith("[["):
                parts, _ = read_key(line, start + 2)
                path = (*self._resolve(parts[:-1]), *parts[-1:])
                self._arrays[path] = self._arrays.get(path, 0) + 1
                table = (*path, self._arrays[path] - 1)
                self._record(table, lineno)
            elif stripped.startswith("["):
                parts, _ = read_key(line, start + 1)
                table = self._resolve(parts)
                self._record(table, lineno)
            elif stripped and not stripped.startswith("#"):
                parts, end = read_key(line, start)
                if parts:
                    self._record((*table, *parts), lineno)
                    equals = line.find("=", end)
                    depth, multiline = scan(line, equals + 1, 0, "")

    def _resolve(self, parts: list[str]) -> Loc:
        path: Loc = ()
        for part in parts:
            path = (*path, part)
            if path in self._arrays:  # [a.b] under [[a]] means the last table of a
                path = (*path, self._arrays[path] - 1)
        return path

    def _record(self, loc: Loc, line: int) -> None:
        for n in range(1, len(loc) + 1):
            self._at.setdefault(loc[:n], line)

    def find(self, loc: Loc) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self._at:
                return self._at[loc[:n]]
        return None


def read_key(line: str, i: int) -> tuple[list[str], int]:
    """Parse a (dotted, maybe quoted) key at `line[i:]`; return its parts and the end index."""
    parts: list[str] = []
    while True:
        while i < len(line) and line[i] in " \t":
            i += 1
        if line.startswith('"', i) and (m := _BASIC_STRING_RE.match(line, i)):
            try:
                parts.append(json.loads(m.group(0)))
            except ValueError:  # a TOML-only escape: close enough for finding a line
                parts.append(m.group(1))
            i = m.end()
        elif line.startswith("'", i) and (end := line.find("'", i + 1)) >= 0:
            parts.append(line[i + 1 : end])
            i = end + 1
        elif m := BARE_KEY_RE.match(line, i):
            parts.append(m.group(0))
            i = m.end()
        else:
            return parts, i
        while i < len(line) and line[i] in " \t":
            i += 1
        if not line.startswith(".", i):
            return parts, i
        i += 1


def scan(line: str, i: int, depth: int, multiline: str) -> tuple[int, str]:
    """Follow a value through `line`: bracket depth and an open multi-line string, if any."""
    while i < len(line):
        if multiline:
            end = line.find(multiline, i)
            if end < 0:
                return depth, multiline
            i, multiline = end + 3, ""
            continue
        char = line[i]
        if char == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            multiline = line[i : i + 3]
            i += 3
            continue
        if char == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif char == "'":
            end = line.find("'", i + 1)
            i = end if end >= 0 else len(line)
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        i += 1
    return depth, multiline
