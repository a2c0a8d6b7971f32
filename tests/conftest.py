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
    lines = [f"{r.nodeid.split('::', 1)[-1].split('@')[0]}: {value}"
             for r in terminalreporter.stats.get("passed", [])
             for key, value in getattr(r, "user_properties", []) if key == "figure"]
    if lines:
        terminalreporter.section("pantau figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With `-n 2 --dist loadgroup` (scripts/test), every test runs in order on one worker,
    except those marked with their own xdist_group (the 5-minute flapping scenario, the
    city-scale scenarios), which run beside them on the other: the long scenarios overlap the
    suite instead of adding to it, and no two timing-sensitive lab tests ever share the CPU."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("suite"))
    if getattr(config.option, "loadgroup", False):  # in an xdist worker
        _name_groups(items)


def _name_groups(items: list[pytest.Item]) -> None:
    """xdist 3.8 groups tests by a "@group" suffix it writes to `item._nodeid`, which pytest 9
    no longer reads (the id is `item._id`): without this, every module is its own group and
    lab tests of different modules share the CPU. Write the suffix where pytest 9 reads it."""
    if not all(hasattr(i, "_id") for i in items):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")
