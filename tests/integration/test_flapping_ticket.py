"""A device that flaps every 20 s for 5 minutes gives exactly one ticket, marked flapping.

Flap detection looks at the share of state changes in a device's last 21 results, so the
window must span several toggles: at a 10 s interval it covers about 3.5 minutes (10 toggles),
where a single outage and its recovery are 2 changes (10 %) and flapping is 25-50 %.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pytest

from lab.agentproc import AgentProcess
from lab.inventory import LabDevice
from lab.lab import Lab
from tests.conftest import Figure

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("flapping")]

SECONDS, PERIOD = 300, 20


@pytest.fixture
def agent(lab: Lab, tmp_path: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    devices = [LabDevice("sw-flap", lab.address(800), "Kelurahan Babakan"),
               LabDevice("sw-steady-outage", lab.address(801), "Kelurahan Babakan")]
    proc = AgentProcess(lab, tmp_path, devices, {  # type: ignore[arg-type]
        "polling": {"interval_seconds": 10, "timeout_seconds": 2, "down_after": 3,
                    "up_after": 2},
        "flapping": {"window": 21, "high_percent": 15, "low_percent": 8},
    })
    proc.start()
    yield proc
    assert proc.stop() < 5.0


class TestFlapping:
    """Flapping every 20 s for 5 minutes: one ticket, marked flapping; a single outage and
    recovery in the same agent is not marked."""

    @pytest.mark.timeout(SECONDS + 120)  # the scenario itself lasts SECONDS
    def test_one_flapping_ticket(self, lab: Lab, agent: AgentProcess, figure: Figure) -> None:
        flap, single = lab.address(800), lab.address(801)
        lab.blackhole(single)
        end = time.monotonic() + SECONDS
        down, toggles = False, 0
        while time.monotonic() < end:
            if down:
                lab.restore(flap)
            else:
                lab.blackhole(flap)
            down, toggles = not down, toggles + 1
            if toggles == 3:
                lab.restore(single)  # one outage of ~40 s, then steady
            time.sleep(min(PERIOD, max(0.0, end - time.monotonic())))
        lab.restore_all()
        out = lab.run([sys.executable, "-m", "agent", "tickets", "list", "-c",
                       str(agent.config), "--status", "all", "--json"],
                      capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        found = json.loads(out.stdout)["tickets"]
        flapping = [t for t in found if t["device"] == "sw-flap"]
        assert len(flapping) == 1, flapping
        assert flapping[0]["flapping"] is True
        steady = [t for t in found if t["device"] == "sw-steady-outage"]
        assert len(steady) == 1
        assert steady[0]["flapping"] is False
        assert steady[0]["restored"] is True
        figure(f"{toggles} toggles in {SECONDS}s: 1 ticket, flapping; audit of "
              f"{flapping[0]['id']} kept every failure and restoration")
