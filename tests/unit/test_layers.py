"""The import contract: which package may import which.

- `agent.core` (model, errors, clock, settings) imports nothing else of pantau;
- `collectors` and `ticketing` see only `agent.core` of the `agent` package, and not each other;
- `agent.detect` is pure detection: of pantau it sees only `agent.core`;
- only `agent/app.py` and `agent/wiring.py` wire the concrete parts (the collectors'
  engines and the stores) into the agent.

The rules are read from each module's import statements (the AST), including imports inside
functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("agent", "collectors", "ticketing", "notify", "lab", "bench", "tests")
# Concrete parts that only the wiring may import (their Protocols live beside them).
CONCRETE = ("collectors.icmp", "collectors.snmp", "ticketing.store")
LEAVES = ("collectors", "ticketing", "notify")  # each sees only agent.core, never another
WIRING = {"agent/app.py", "agent/wiring.py"}
# Pure packages: of pantau they import only agent.core and themselves.
PURE = ("agent.detect",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for each import of one of pantau's packages."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            # `from agent import api` imports the module agent.api; `from x import Name`, x.
            named = {f"{name}.{alias.name}" for alias in node.names}
            for full in sorted({n if is_module(n) else name for n in named}):
                yield node.lineno, full


def is_module(name: str) -> bool:
    where = ROOT.joinpath(*name.split("."))
    return where.is_dir() or where.with_suffix(".py").is_file()


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def violations(path: Path) -> list[str]:
    me = module_name(path)
    rel = path.relative_to(ROOT).as_posix()
    found = []
    for line, name in imports_of(path):
        if not under(name, *OURS) or under(name, me):
            continue
        where = f"{rel}:{line} imports {name}"
        if under(me, "agent.core") and not under(name, "agent.core"):
            found.append(f"{where}: agent.core imports nothing else of pantau")
        if under(me, *LEAVES):
            own = me.split(".")[0]
            if under(name, "agent") and not under(name, "agent.core"):
                found.append(f"{where}: {own} may import only agent.core of agent")
            if under(name, *LEAVES) and not under(name, own):
                found.append(f"{where}: collectors, ticketing and notify do not import each other")
            if under(name, "lab", "bench", "tests"):
                found.append(f"{where}: {own} does not import the lab, benchmarks or tests")
        pure = next((p for p in PURE if under(me, p)), None)
        if pure is not None and not under(name, "agent.core", pure):
            found.append(f"{where}: {pure} is pure: it imports only agent.core")
        if under(me, "agent") and rel not in WIRING and under(name, *CONCRETE):
            found.append(f"{where}: only {', '.join(sorted(WIRING))} wires concrete parts")
    return found


def sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def test_the_layers_hold() -> None:
    problems = [v for path in sources("agent", *LEAVES) for v in violations(path)]
    assert problems == []


def test_core_exists_with_its_four_parts() -> None:
    core = {p.stem for p in (ROOT / "agent" / "core").glob("*.py")}
    assert {"model", "errors", "clock", "settings"} <= core


@pytest.mark.parametrize(
    ("rel", "source", "expected"),
    [
        ("agent/core/x.py", "from agent.config import Config\n", "agent.core imports nothing"),
        ("collectors/x.py", "from agent.detect import Detector\n", "only agent.core"),
        ("collectors/x.py", "import ticketing.sop\n", "do not import each other"),
        ("ticketing/x.py", "from agent import api\n", "only agent.core"),
        ("ticketing/x.py", "def f():\n    from collectors.base import Collector\n", "each other"),
        ("notify/x.py", "from ticketing.models import Ticket\n", "each other"),
        ("notify/channels/x.py", "from agent.config import Config\n", "only agent.core"),
        ("notify/channels/x.py", "from ..channel import Message\n", None),
        ("agent/x.py", "from ticketing.store.sql import SqlBackend\n", "wires concrete parts"),
        ("agent/detect/x.py", "from agent.config import Config\n", "imports only agent.core"),
        ("agent/detect/x.py", "from agent.metrics import Metrics\n", "imports only agent.core"),
        ("agent/detect/x.py", "from .events import Transition\n", None),
        ("agent/web/x.py", "from ..api import y\n", None),
        ("ticketing/store/x.py", "from ..sop import SOP_006\n", None),
        ("collectors/snmp/x.py", "from ...agent.core import model\n", None),
    ],
)
def test_the_checker_catches_each_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rel: str, source: str, expected: str | None
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    found = violations(path)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1
        assert expected in found[0]


def backend_uses(path: Path) -> list[str]:
    """Places where a module reaches through the ticket service to its backend."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT).as_posix()
    return [f"{rel}:{node.lineno} uses .backend: go through TicketService"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "backend"]


def test_adapters_go_through_the_ticket_service() -> None:
    problems = [v for path in sources("agent") if path.relative_to(ROOT).as_posix() not in WIRING
                for v in backend_uses(path)]
    assert problems == []


def test_the_backend_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = tmp_path / "agent" / "x.py"
    path.parent.mkdir()
    path.write_text("async def f(s):\n    return await s.service.backend.get('x')\n")
    assert backend_uses(path) == ["agent/x.py:2 uses .backend: go through TicketService"]
