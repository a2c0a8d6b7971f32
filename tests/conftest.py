"""Shared pytest wiring: the device lab (tests/lab_fixtures.py) and PostgreSQL
(tests/postgres_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest_plugins = ["tests.lab_fixtures", "tests.postgres_fixtures"]

Figure = Callable[[str], None]


@pytest.fixture
def figure(record_property: Callable[[str, object], None]) -> Figure:
    """`figure("detected DOWN in 9.8s")`: a measured figure, printed at the end of the run
    (pytest hides a passing test's output; xdist carries user properties to the summary)."""

    def note(text: str) -> None:
        record_property("figure", text.strip())

    return note


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config
                            ) -> None:
    lines = [f"{r.nodeid.split('::', 1)[-1]}: {value}"
             for r in terminalreporter.stats.get("passed", [])
             for key, value in getattr(r, "user_properties", []) if key == "figure"]
    if lines:
        terminalreporter.section("pantau figures")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With `-n 2 --dist loadgroup` (scripts/test), every test runs in order on one worker,
    except those marked with their own xdist_group (the 5-minute flapping scenario), which run
    beside them on the other: the long scenario overlaps the suite instead of adding to it,
    and no two timing-sensitive lab tests ever share the CPU."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("suite"))
