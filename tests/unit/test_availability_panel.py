"""The NOC dashboard's "Availability per agency" panel (issue 16): its query, taken from the
dashboard JSON, run by promtool over an hour of hand-made device states with the recording
rules loaded, gives each agency the share the monthly report gives (UP ÷ (UP + DOWN),
maintenance and UNREACHABLE time counted neither way)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from agent.reports.model import Availability
from tests.dashboard_support import GRAFANA, RULE_FILES, load_dashboard, panels, promtool
from tests.dashboard_support import substitute as fill

TITLE = "Availability per agency"
STATES = ("up", "down", "unreachable", "flapping", "maintenance", "unknown")
MINUTES = 60


def panel() -> dict[str, Any]:
    (found,) = [p for p in panels(load_dashboard(GRAFANA / "noc-overview.json"))
                if p["title"] == TITLE]
    return found


def history(device: str, owner: str, spans: list[tuple[str, int]],
            instance: str = "a:9806") -> list[dict[str, str]]:
    """One device's series, a sample a minute: its state for each (state, minutes) span
    ("absent": this member did not export the device then)."""
    timeline = [state for state, minutes in spans for _ in range(minutes)]
    assert len(timeline) == MINUTES
    labels = f'job="pantau",instance="{instance}",device="{device}"'

    def values(sample: Callable[[str], str]) -> str:
        return " ".join("_" if s == "absent" else sample(s) for s in timeline)

    def is_(state: str) -> Callable[[str], str]:
        return lambda s: "1" if s == state else "0"

    series = [{"series": f'pantau_device_up{{{labels},owner="{owner}"}}',
               "values": values(is_("up"))}]
    series += [{"series": f'pantau_device_state{{{labels},state="{state}"}}',
                "values": values(is_(state))} for state in STATES]
    return series


def run_panel(tmp_path: Path, expected: dict[str, float]) -> subprocess.CompletedProcess[str]:
    """promtool's unit test of the panel's query at the hour's last sample; the range (2 h)
    holds every sample however the window's start is counted."""
    (target,) = panel()["targets"]
    expr = fill(target["expr"], {"owner": ".*", "__range": "2h"})
    inputs = (history("sw-a", "Dinas A", [("up", 45), ("down", 15)])
              # a second member exported it too in its last 15 minutes (a handover): once
              + history("sw-a", "Dinas A", [("absent", 45), ("down", 15)], instance="b:9806")
              # all hour in maintenance: counted neither way (no sample UP or DOWN)
              + history("sw-b", "Dinas A", [("maintenance", 60)])
              # behind a failing parent for half the hour: not DOWN
              + history("sw-c", "Dinas B", [("up", 30), ("unreachable", 30)])
              + history("sw-d", "Dinas C", [("up", 20), ("down", 20), ("flapping", 10),
                                            ("up", 10)]))
    doc = {"rule_files": [str(p) for p in RULE_FILES if p.name == "rules.yml"],
           "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": [{
               "expr": expr, "eval_time": f"{MINUTES - 1}m",
               "exp_samples": [{"labels": f'{{owner="{owner}"}}', "value": value}
                               for owner, value in expected.items()]}]}]}
    path = tmp_path / "panel_test.yml"
    path.write_text(yaml.safe_dump(doc))
    return subprocess.run([promtool(), "test", "rules", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


def report_ratio(up_minutes: int, down_minutes: int, **apart: float) -> float:
    """The same figure by the report's own arithmetic (agent/reports/model.py)."""
    ratio = Availability(up_minutes * 60.0, down_minutes * 60.0, apart.get("unreachable", 0.0),
                         apart.get("maintenance", 0.0), 0.0, 0, None, 0.0).ratio
    assert ratio is not None
    return ratio


class TestAvailabilityPanel:
    """The panel's figure per agency is the report's, from the same states."""

    def test_shape(self) -> None:
        p = panel()
        assert p["type"] == "bargauge"
        assert p["fieldConfig"]["defaults"]["unit"] == "percentunit"
        (target,) = p["targets"]
        assert target["instant"] is True
        assert "$__range" in target["expr"]
        for words in ("monthly report", "Tolerance", "Maintenance", "UNREACHABLE"):
            assert words in p["description"], words

    def test_the_report_figures(self, tmp_path: Path) -> None:
        expected = {
            "Dinas A": report_ratio(45, 15, maintenance=3600.0),  # 0.75
            "Dinas B": report_ratio(30, 0, unreachable=1800.0),  # 1
            "Dinas C": report_ratio(30, 30),  # 0.5: flapping counts as DOWN, as in the report
        }
        assert expected == {"Dinas A": 0.75, "Dinas B": 1.0, "Dinas C": 0.5}
        out = run_panel(tmp_path, expected)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "SUCCESS" in out.stdout

    def test_a_wrong_figure_fails(self, tmp_path: Path) -> None:
        # maintenance counted as DOWN would give Dinas A 45/105: the check would see it
        out = run_panel(tmp_path, {"Dinas A": 45 / 105, "Dinas B": 1.0, "Dinas C": 0.5})
        assert out.returncode != 0
        assert "FAILED" in out.stdout + out.stderr
