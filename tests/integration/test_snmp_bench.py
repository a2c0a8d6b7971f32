"""The SNMP benchmark (bench/snmp_poll.py): its --quick run gets equal values from every tool,
and its value check catches tools that disagree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import snmp_poll, snmp_reference, snmp_values
from bench.snmp_reference import EXPORTER
from bench.snmp_values import Run, Values
from lab.lab import Lab

BENCH = Path(snmp_poll.__file__).resolve()
ADDR = "127.20.1.1"


def _quick(lab: Lab, tools: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--lab", lab.name, "--tools", tools],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _device(
    oper: int = 1, octets: int = 1000, uptime: int = 500
) -> dict[str, dict[str, int | str]]:
    return {
        "sysUpTime": {"0": uptime},
        "ifName": {"1": "lo", "2": "lab-p01"},
        "ifOperStatus": {"1": 1, "2": oper},
        "ifHCInOctets": {"1": octets, "2": 0},
    }


def _run(tool: str, values: Values, round_no: int = 1) -> Run:
    return Run(tool, len(values), round_no, 1.0, 0.01, values)


@pytest.mark.lab
class TestQuickRun:
    """A --quick run on the lab answers every device and finds equal values."""

    def test_pantau_and_bulkwalk_agree(self, lab: Lab) -> None:
        tools = "pantau,pantau-fast,bulkwalk"
        proc = _quick(lab, tools)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "values equal: yes" in proc.stdout
        for tool in tools.split(","):
            assert f"round 1 {tool:11} " in proc.stdout
        assert proc.stdout.count("answered 50/50") == len(tools.split(","))
        assert lab.community not in proc.stdout + proc.stderr

    def test_exporter_agrees(self, lab: Lab) -> None:
        if shutil.which(EXPORTER) is None:
            message = f"{EXPORTER} missing: apt-get install {EXPORTER}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        proc = _quick(lab, "pantau-fast,exporter")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "values equal: yes" in proc.stdout
        assert proc.stdout.count("answered 50/50") == 2


class TestValueCheck:
    """The benchmark's value check accepts moving counters and rejects disagreement."""

    def test_equal_static_values_and_rising_counters_pass(self) -> None:
        runs = [_run("exporter", {ADDR: _device()}), _run("bulkwalk", {ADDR: _device(octets=1500)})]
        assert snmp_values.compare(runs, [ADDR]) == []

    def test_a_different_oper_status_fails(self) -> None:
        runs = [_run("exporter", {ADDR: _device()}), _run("pantau-fast", {ADDR: _device(oper=2)})]
        problems = snmp_values.compare(runs, [ADDR])
        assert problems[0] == "1 mismatches in pantau-fast ifOperStatus"

    def test_a_falling_counter_fails(self) -> None:
        runs = [_run("exporter", {ADDR: _device(octets=900)}), _run("bulkwalk", {ADDR: _device()}),
                _run("pantau-fast", {ADDR: _device(octets=800)}, round_no=2)]  # fmt: skip
        problems = snmp_values.compare(runs, [ADDR])
        assert problems[0] == "1 mismatches in pantau-fast ifHCInOctets"

    def test_a_missing_device_fails(self) -> None:
        runs = [_run("exporter", {ADDR: _device()}), _run("bulkwalk", {})]
        assert snmp_values.compare(runs, [ADDR]) == [
            f"bulkwalk round 1: 1 devices without values (first {ADDR})"
        ]


class TestParsing:
    """Each tool's output becomes the same values."""

    def test_exposition_strings_come_from_labels_and_numbers_are_exact(self) -> None:
        text = "\n".join([
            "# HELP ifAlias x",
            'ifAlias{ifAlias="a \\"b\\" \\\\c",ifIndex="2"} 1',
            'ifSpeed{ifIndex="2"} 4.294967295e+09',
            "sysUpTime 12345",
            'snmp_scrape_walk_duration_seconds{module="bench"} 0.01',
        ])  # fmt: skip
        assert snmp_reference.parse_exposition(text) == {
            "ifAlias": {"2": 'a "b" \\c'},
            "ifSpeed": {"2": 4294967295},
            "sysUpTime": {"0": 12345},
        }

    def test_bulkwalk_output(self) -> None:
        text = '.1.3.6.1.2.1.31.1.1.1.18.2 "say \\"hi\\""\n.1.3.6.1.2.1.31.1.1.1.18.3 ""\n'
        assert snmp_reference.parse_bulkwalk("ifAlias", text) == {"2": 'say "hi"', "3": ""}
        assert snmp_reference.parse_bulkwalk("sysUpTime", ".1.3.6.1.2.1.1.3.0 788\n") == {"0": 788}

    def test_exporter_module_walks_the_fourteen_oids(self) -> None:
        config = snmp_reference.exporter_config('c"x')
        walks = [line for line in config.splitlines() if line.startswith("  - 1.3.6")]
        assert len(walks) == 14
        assert '    community: "c\\"x"' in config
