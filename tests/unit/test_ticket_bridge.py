"""From detector transitions to ticketing observations (agent/tickets.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.detect import Transition
from agent.tickets import observation, root_cause
from ticketing.models import Fault
from ticketing.observation import AFFECTED, FAILING, FLAPPING, RESTORED

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
DEVICES = {d.name: d for d in (
    Device("core", "127.0.0.2", "Diskominfostandi"),
    Device("sw", "127.0.0.3", "Dinas Kesehatan", parent="core"),
    Device("ap", "127.0.0.4", "Dinas Kesehatan", parent="sw"),
)}


def transition(device: str, new: DeviceState, check: str = "icmp", item: str = "",
               **kw: Any) -> Transition:
    evidence = CheckResult(device, check, Status.DOWN, T0, 0.1)
    return Transition(device=device, check=check, item=item, old=DeviceState.UP, new=new,
                      at=T0, reason="r", evidence=evidence, maintenance=kw.get(
                          "maintenance", False), flapping=False,
                      affected=kw.get("affected", ()))


def states(**s: DeviceState) -> Any:
    return lambda name: s.get(name, DeviceState.UP)


def evidence(device: str) -> dict[str, Any]:
    return {"icmp": {"status": "down"}}  # the device's last results, by check


class TestObservation:
    """Each hard transition maps to at most one ticketing observation."""

    def test_device_down(self) -> None:
        obs = observation(transition("sw", DeviceState.DOWN, affected=("ap",)), DEVICES,
                          states(), evidence)
        assert obs is not None
        assert (obs.device, obs.fault, obs.kind, obs.affected) == (
            "sw", Fault.DEVICE_DOWN, FAILING, ("ap",))
        assert obs.evidence["last"] == {"icmp": {"status": "down"}}
        assert obs.evidence["affected"] == ["ap"]

    def test_maintenance_is_ignored(self) -> None:
        assert observation(transition("sw", DeviceState.DOWN, maintenance=True), DEVICES,
                           states(), evidence) is None

    def test_unreachable_goes_to_the_root_cause(self) -> None:
        down = states(core=DeviceState.DOWN, sw=DeviceState.UNREACHABLE)
        obs = observation(transition("ap", DeviceState.UNREACHABLE), DEVICES, down, evidence)
        assert obs is not None
        assert (obs.device, obs.kind, obs.affected) == ("core", AFFECTED, ("ap",))
        assert root_cause(DEVICES["core"], DEVICES, down) is None

    def test_interface_and_snmp(self) -> None:
        iface = observation(transition("sw", DeviceState.DOWN, check="interface",
                                       item="uplink1"), DEVICES, states(), evidence)
        assert iface is not None
        assert (iface.fault, iface.item, iface.dedup_key) == (
            Fault.INTERFACE_DOWN, "uplink1", "sw/interface_down/uplink1")
        snmp = observation(transition("sw", DeviceState.DOWN, check="snmp"), DEVICES,
                           states(), evidence)
        assert snmp is not None
        assert snmp.fault is Fault.SNMP_DOWN
        assert observation(transition("sw", DeviceState.UNREACHABLE, check="snmp"), DEVICES,
                           states(core=DeviceState.DOWN), evidence) is None

    def test_up_and_flapping(self) -> None:
        up = observation(transition("sw", DeviceState.UP), DEVICES, states(), evidence)
        flap = observation(transition("sw", DeviceState.FLAPPING), DEVICES, states(), evidence)
        assert up is not None
        assert flap is not None
        assert (up.kind, flap.kind) == (RESTORED, FLAPPING)
        assert observation(transition("sw", DeviceState.UNKNOWN), DEVICES, states(),
                           evidence) is None
