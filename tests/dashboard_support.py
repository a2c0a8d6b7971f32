"""Reading dashboards/: every Grafana panel query and Prometheus rule expression, the metric
names they use, Grafana variable substitution, and finding promtool (skip outside CI)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"
GRAFANA = DASHBOARDS / "grafana"
PROMETHEUS = DASHBOARDS / "prometheus"
RULE_FILES = (PROMETHEUS / "rules.yml", PROMETHEUS / "alerts.yml")
DASHBOARD_FILES = tuple(sorted(GRAFANA.glob("*.json")))

#: A metric name: not preceded by a word character or colon (so not inside another name).
_PANTAU_NAME = re.compile(r"(?<![\w:])pantau_[A-Za-z0-9_]+")
_RECORDED_NAME = re.compile(r"(?<![\w:])pantau:[A-Za-z0-9_:]+")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str
    datasource: object


def load_dashboard(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included, rows themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(path: Path) -> Iterator[PanelQuery]:
    for panel in panels(load_dashboard(path)):
        for t in panel.get("targets", []):
            yield PanelQuery(path.name, str(panel.get("title")), str(t.get("refId")),
                             str(t.get("expr", "")), t.get("datasource"))


def variable_queries(dashboard: Mapping[str, Any]) -> Iterator[str]:
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var.get("query")
            yield str(q.get("query") if isinstance(q, dict) else q)


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            yield from group["rules"]


def recorded_names() -> set[str]:
    return {str(r["record"]) for r in rules() if "record" in r}


def names_used(expr: str) -> tuple[set[str], set[str]]:
    """(raw pantau_* series names, pantau:* recording-rule names) in a PromQL expression."""
    return set(_PANTAU_NAME.findall(expr)), set(_RECORDED_NAME.findall(expr))


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Grafana's variable interpolation, enough for our dashboards: `$x`, `${x}`, `${x:fmt}`
    and `[[x]]`; an unknown variable raises KeyError (so a typo cannot slip through)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return values[name]

    return _VARIABLE.sub(one, expr)


#: Grafana's built-in interval variables, as Grafana would fill them for a short range.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


def promtool() -> str:
    """Path of promtool; skips the test without it, fails it in CI (CI=true)."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not found: apt-get install prometheus"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def prometheus() -> str:
    """Path of the Prometheus server; skips without it, fails in CI."""
    found = shutil.which("prometheus")
    if found is None:
        message = "prometheus not found: apt-get install prometheus"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found
