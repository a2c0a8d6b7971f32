"""examples/prometheus-cluster.yml: promtool accepts it (with the repository's rule files), it
scrapes every member under the job the alerts expect, and adds no target label that would
rename one of pantau's own labels."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.dashboard_support import ROOT, promtool

EXAMPLE = ROOT / "examples" / "prometheus-cluster.yml"
OWN_LABELS = {"node", "device", "owner", "state", "check", "interface", "step", "channel",
              "kind"}


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), "check", "config", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def load() -> dict[str, Any]:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


class TestPrometheusClusterExample:
    """The example is a valid Prometheus config for three members."""

    def test_promtool_accepts_it_and_its_rules(self) -> None:
        done = check(EXAMPLE)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 rule files found" in done.stdout

    def test_promtool_catches_a_broken_copy(self, tmp_path: Path) -> None:
        broken = tmp_path / "prometheus.yml"
        broken.write_text(EXAMPLE.read_text().replace("scrape_interval: 15s",
                                                      "scrape_interval: soon"))
        assert check(broken).returncode != 0

    def test_one_pantau_job_scrapes_every_member(self) -> None:
        jobs = load()["scrape_configs"]
        assert [j["job_name"] for j in jobs] == ["pantau"]  # PantauAgentDown's job
        targets = [t for c in jobs[0]["static_configs"] for t in c["targets"]]
        assert len(targets) == 3
        assert all(t.rsplit(":", 1)[1].isdigit() for t in targets)

    def test_no_target_label_shadows_a_pantau_label(self) -> None:
        for config in load()["scrape_configs"][0]["static_configs"]:
            assert not set(config.get("labels", {})) & OWN_LABELS
