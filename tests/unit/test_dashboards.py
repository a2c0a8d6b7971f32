"""Dashboards and rules: Grafana JSON shape, metric names against agent/metrics.py, and
promtool's check and unit tests of the Prometheus rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from agent.metrics import EXPOSED_NAMES
from tests.dashboard_support import (
    BUILTINS,
    DASHBOARD_FILES,
    GRAFANA,
    PROMETHEUS,
    RULE_FILES,
    load_dashboard,
    names_used,
    panels,
    promtool,
    queries,
    recorded_names,
    rules,
    substitute,
    variable_queries,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED = {"noc-overview.json", "device.json", "sop006.json"}
SAMPLE_VALUES = {"owner": "Dinas Kesehatan", "device": "sw-1", "datasource": "", **BUILTINS}


def all_exprs() -> list[tuple[str, str]]:
    """(where, expression) for every panel target, variable query and rule."""
    found = [(f"{q.dashboard}: {q.panel} {q.ref}", q.expr)
             for path in DASHBOARD_FILES for q in queries(path)]
    found += [(f"{path.name}: variable", q) for path in DASHBOARD_FILES
              for q in variable_queries(load_dashboard(path))]
    found += [(f"rule {r.get('record') or r.get('alert')}", str(r["expr"])) for r in rules()]
    return found


def run_promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


class TestGrafanaJson:
    """Every dashboard loads, asks for its datasource and has no exported inputs."""

    def test_the_three_dashboards_exist(self) -> None:
        assert {p.name for p in DASHBOARD_FILES} == EXPECTED

    @pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
    def test_shape(self, path: Path) -> None:
        doc = load_dashboard(path)
        assert "__inputs" not in doc
        assert "${DS_" not in path.read_text()  # leftovers of an export for sharing
        assert doc["uid"].startswith("pantau-")
        assert doc["schemaVersion"] >= 39
        variables = {v["name"]: v for v in doc["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["owner"]["multi"]
        assert variables["owner"]["includeAll"]
        assert "label_values(pantau_device_up, owner)" in str(variables["owner"]["query"])
        assert 'owner=~"$owner"' in str(variables["device"]["query"])

    @pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
    def test_every_target_uses_the_datasource_variable(self, path: Path) -> None:
        found = list(queries(path))
        assert found
        for q in found:
            assert q.datasource == DATASOURCE, (q.panel, q.ref)
            assert q.expr.strip(), (q.panel, q.ref)
        for panel in panels(load_dashboard(path)):
            assert panel["datasource"] == DATASOURCE, panel["title"]

    def test_panel_ids_unique_and_uids_distinct(self) -> None:
        uids = [load_dashboard(p)["uid"] for p in DASHBOARD_FILES]
        assert len(set(uids)) == len(uids)
        for path in DASHBOARD_FILES:
            ids = [p["id"] for p in load_dashboard(path)["panels"]]
            assert len(set(ids)) == len(ids), path.name


class TestNames:
    """Every pantau_* name used is exposed by agent/metrics.py or recorded in rules.yml."""

    def test_names_exist(self) -> None:
        recorded = recorded_names()
        unknown = []
        used: set[str] = set()
        for where, expr in all_exprs():
            raw, rec = names_used(expr)
            used |= raw
            unknown += [(where, n) for n in raw if n not in EXPOSED_NAMES]
            unknown += [(where, n) for n in rec if n not in recorded]
        assert not unknown
        assert len(used) >= 20  # the scan sees the names at all

    def test_the_scan_catches_a_wrong_name(self) -> None:
        raw, rec = names_used('rate(pantau_interface_receive_bytes[5m]) + pantau:nope:x'
                              ' + pantau_scheduler_lag_seconds')
        assert raw - EXPOSED_NAMES == {"pantau_interface_receive_bytes",
                                       "pantau_scheduler_lag_seconds"}
        assert rec - recorded_names() == {"pantau:nope:x"}

    def test_recording_rules_are_namespaced(self) -> None:
        for name in recorded_names():
            assert name.startswith("pantau:"), name


class TestNotifications:
    """The NOC overview and the alerts watch the outbox (issue 12)."""

    def test_the_noc_overview_shows_every_notification_family(self) -> None:
        used = {(q.panel, n) for q in queries(GRAFANA / "noc-overview.json")
                for n in names_used(q.expr)[0] if n.startswith("pantau_notifications_")}
        assert {n for _, n in used} == {
            "pantau_notifications_queued", "pantau_notifications_oldest_queued_seconds",
            "pantau_notifications_oldest_due_seconds", "pantau_notifications_sent_total",
            "pantau_notifications_failed_total"}
        assert {p for p, _ in used} == {"Notifications waiting",
                                        "Notifications sent and failed"}

    def test_the_stuck_alert_ignores_held_messages(self) -> None:
        by_name = {str(r.get("alert")): str(r["expr"]) for r in rules() if "alert" in r}
        # oldest_queued_seconds grows every night (messages held for the working morning)
        assert "pantau_notifications_oldest_due_seconds" in by_name["PantauNotificationsStuck"]
        assert "oldest_queued" not in by_name["PantauNotificationsStuck"]
        assert "pantau_notifications_failed_total" in by_name["PantauNotificationsFailed"]


class TestVariables:
    """Variable substitution replaces every variable a dashboard uses."""

    def test_substitute(self) -> None:
        expr = 'rate(x{device=~"$device", owner=~"${owner}"}[$__rate_interval]) [[device]]'
        assert substitute(expr, {"device": "a", "owner": "b", "__rate_interval": "1m"}) == (
            'rate(x{device=~"a", owner=~"b"}[1m]) a')
        with pytest.raises(KeyError):
            substitute("$nope", {})

    @pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
    def test_all_variables_known(self, path: Path) -> None:
        for q in queries(path):
            assert "$" not in substitute(q.expr, SAMPLE_VALUES), (q.panel, q.ref)


class TestProvisioning:
    """The provisioning files point Grafana at a Prometheus and at the dashboards folder."""

    def test_datasource(self) -> None:
        doc = yaml.safe_load((GRAFANA / "provisioning/datasources/pantau.yml").read_text())
        (ds,) = doc["datasources"]
        assert doc["apiVersion"] == 1
        assert ds["type"] == "prometheus"
        assert ds["url"].startswith("http")

    def test_dashboards(self) -> None:
        doc = yaml.safe_load((GRAFANA / "provisioning/dashboards/pantau.yml").read_text())
        (provider,) = doc["providers"]
        assert doc["apiVersion"] == 1
        assert provider["type"] == "file"
        assert provider["options"]["path"] == "/var/lib/grafana/dashboards/pantau"


class TestPromtool:
    """promtool accepts the rules, passes their unit tests, and parses every panel query."""

    def test_check_rules(self) -> None:
        out = run_promtool("check", "rules", *(str(p) for p in RULE_FILES))
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.count("SUCCESS") == len(RULE_FILES)

    def test_unit_tests(self) -> None:
        files = sorted((PROMETHEUS / "tests").glob("*.yml"))
        assert {f.name for f in files} >= {"alerts_test.yml", "rules_test.yml"}
        out = run_promtool("test", "rules", *(str(f) for f in files))
        assert out.returncode == 0, out.stdout + out.stderr
        assert "FAILED" not in out.stdout

    def test_every_alert_has_a_firing_and_a_quiet_case(self) -> None:
        alerts = {str(r["alert"]) for r in rules() if "alert" in r}
        firing: set[str] = set()
        quiet: set[str] = set()
        doc = yaml.safe_load((PROMETHEUS / "tests/alerts_test.yml").read_text())
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case["exp_alerts"] else quiet).add(case["alertname"])
        assert alerts == firing == quiet
        assert len(alerts) == 10  # PantauChecksLate (issue 11); two notification alerts (12)

    def test_every_recording_rule_is_tested(self) -> None:
        doc = yaml.safe_load((PROMETHEUS / "tests/rules_test.yml").read_text())
        tested = {case["expr"].split("{")[0] for t in doc["tests"]
                  for case in t.get("promql_expr_test", [])}
        assert tested == recorded_names()

    def test_panel_queries_parse(self, tmp_path: Path) -> None:
        # promtool has no "check expression": wrap each query in a recording rule.
        exprs = [substitute(q.expr, SAMPLE_VALUES) for p in DASHBOARD_FILES for q in queries(p)]
        doc = {"groups": [{"name": "panels", "rules": [
            {"record": f"panel:query_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
        path = tmp_path / "panels.yml"
        path.write_text(yaml.safe_dump(doc))
        out = run_promtool("check", "rules", str(path), cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"{len(exprs)} rules found" in out.stdout

    def test_a_broken_expression_is_caught(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
            {"record": "x:y", "expr": "sum by (step (pantau_tickets_open)"}]}]}))
        out = run_promtool("check", "rules", str(path), cwd=tmp_path)
        assert out.returncode != 0
