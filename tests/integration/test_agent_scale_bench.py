"""The agent-scale benchmark (bench/agent_scale.py): its --quick run measures every figure
exactly and leaves no lab behind."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import agent_scale
from bench.agent_scale_report import ROWS
from bench.snmp_reference import EXPORTER
from lab import netns
from tests.lab_fixtures import require_lab

BENCH = Path(agent_scale.__file__).resolve()


@pytest.mark.lab
@pytest.mark.slow
class TestQuickRun:
    """A --quick run (100 devices, 5 s interval) is exact and cleans up after itself."""

    def test_quick_run_is_exact(self) -> None:
        require_lab()
        for tool in ("fping", EXPORTER):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} not installed")
        proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                              text=True, timeout=240, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert "all runs exact" in proc.stdout
        for label, _ in ROWS:
            assert label in proc.stdout, label
        figures = {line[:34].strip(): line[34:].strip() for line in proc.stdout.splitlines()}
        for label in ("CPU/echo agent (ICMP-only run)", "CPU/echo fping",
                      "CPU/SNMP poll snmp_exporter", "/metrics median / max"):
            assert figures[label] not in ("n/a", "failed"), (label, out)
        assert figures["false DOWN/UNREACH (ICMP-only)"] == "0 (0 devices)", out
        match = re.search(r"^lab (pantau-scale-\d+);", proc.stdout, re.MULTILINE)
        assert match is not None, out
        assert not netns.exists(match.group(1))
        assert not netns.exists(f"{match.group(1)}-peers")
