"""The real agent polling the lab over SNMP: v2c and v3 answer, auth problems are UNKNOWN
(never DOWN), an interface fault and its recovery within the bound, one reboot per snmpd
restart, and SNMP dropped while ICMP answers is "SNMP agent down"."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agent.exposition import MAX_PERIOD_SECONDS
from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.conftest import Figure

pytestmark = pytest.mark.lab

INTERVAL, TIMEOUT, DOWN_AFTER, UP_AFTER = 5, 2, 3, 2
DOWN_BOUND = DOWN_AFTER * INTERVAL + TIMEOUT + 1
UP_BOUND = UP_AFTER * INTERVAL + TIMEOUT + 1


def devices(lab: Lab) -> list[LabDevice]:
    def dev(name: str, i: int, owner: str, auth: str, *ifaces: str) -> LabDevice:
        return LabDevice(name, lab.address(i), owner, snmp_auth=auth, snmp_port=lab.snmp_port,
                         interfaces=ifaces)

    return [
        dev("sw-v2c", 500, "Dinas Kesehatan", "lab_v2c", lab.ports[0]),
        dev("sw-v3", 501, "Dinas Pendidikan", "lab_v3"),
        dev("sw-v3-sha256", 502, "Dinas Pendidikan", "lab_v3_sha256"),
        dev("sw-badcommunity", 503, "RSUD Kota Bogor", "wrong_v2c"),
        dev("sw-badkey", 504, "RSUD Kota Bogor", "wrong_v3"),
        dev("sw-snmpdead", 505, "Kelurahan Babakan", "lab_v2c"),
    ]


@pytest.fixture(scope="module")
def agent(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    assert lab.v3_user_sha256 is not None, "this net-snmp lacks SHA-256/AES-256"
    v3: dict[str, TomlValue] = {"version": "3", "username": lab.v3_user, "auth_protocol": "sha",
          "auth_key": {"env": "LAB_AUTH"}, "priv_protocol": "aes128",
          "priv_key": {"env": "LAB_PRIV"}}
    sections: dict[str, dict[str, TomlValue]] = {
        "polling": {"interval_seconds": INTERVAL, "timeout_seconds": TIMEOUT,
                    "down_after": DOWN_AFTER, "up_after": UP_AFTER},
        "snmp": {"timeout_seconds": 0.8},
        "snmp.auth.lab_v2c": {"version": "2c", "community": {"env": "LAB_COMMUNITY"}},
        "snmp.auth.wrong_v2c": {"version": "2c", "community": "not-the-community"},
        "snmp.auth.lab_v3": v3,
        "snmp.auth.lab_v3_sha256": {**v3, "username": lab.v3_user_sha256,
                                    "auth_protocol": "sha256", "priv_protocol": "aes256"},
        "snmp.auth.wrong_v3": {**v3, "auth_key": "wrong-auth-key", "priv_key": "wrong-priv-key"},
    }
    proc = AgentProcess(lab, tmp_path_factory.mktemp("snmp-agent"), devices(lab), sections,
                        env={"LAB_COMMUNITY": lab.community, "LAB_AUTH": lab.v3_auth_key,
                             "LAB_PRIV": lab.v3_priv_key})
    proc.start()
    try:
        proc.took(lambda: snmp_status(proc, "sw-v2c") == "ok", 30)
        yield proc
    finally:
        assert proc.stop() < 5.0



def device(agent: AgentProcess, name: str) -> dict[str, object]:
    for d in agent.get("/api/v1/devices").json()["devices"]:
        if d["name"] == name:
            return d  # type: ignore[no-any-return]
    raise KeyError(name)


def snmp_status(agent: AgentProcess, name: str) -> str | None:
    checks = device(agent, name)["checks"]
    assert isinstance(checks, dict)
    snmp = checks.get("snmp")
    return None if snmp is None else str(snmp["status"])


def faults(agent: AgentProcess, name: str) -> dict[tuple[str, str], str]:
    found = device(agent, name)["faults"]
    assert isinstance(found, list)
    return {(f["check"], f["item"]): f["state"] for f in found}


class TestVersions:
    """v2c, v3 SHA/AES-128 and v3 SHA-256/AES-256 answer with the lab's 49 interfaces."""

    @pytest.mark.parametrize("name", ["sw-v2c", "sw-v3", "sw-v3-sha256"])
    def test_answers(self, agent: AgentProcess, name: str) -> None:
        agent.took(lambda: snmp_status(agent, name) == "ok", 20)
        checks = device(agent, name)["checks"]
        assert isinstance(checks, dict)
        snmp = checks["snmp"]
        assert len(snmp["interfaces"]) == 49
        assert snmp["samples"]["snmp_uptime_seconds"] > 0
        # /metrics is served from a background render at most one period old (README)
        key = frozenset({("device", name)})
        agent.took(lambda: agent.metrics().get("pantau_snmp_up", {}).get(key) is not None,
             MAX_PERIOD_SECONDS + 2)
        assert agent.metrics()["pantau_snmp_up"][key] == 1.0


class TestAuthProblems:
    """A wrong community or v3 key is UNKNOWN with a clear reason, never DOWN."""

    @pytest.mark.parametrize(("name", "words"), [
        ("sw-badcommunity", "community"), ("sw-badkey", "key")])
    def test_unknown_not_down(self, agent: AgentProcess, name: str, words: str) -> None:
        agent.took(lambda: snmp_status(agent, name) == "unknown"
             and device(agent, name)["state"] == "up", 20)
        d = device(agent, name)
        checks = d["checks"]
        assert isinstance(checks, dict)
        assert checks["snmp"]["error"] == "auth"
        assert words in checks["snmp"]["reason"]
        assert d["state"] == "up"
        assert ("snmp", "") not in faults(agent, name)
        text = agent.get("/metrics").text + agent.get("/api/v1/devices").text + agent.logs()
        for secret in ("not-the-community", "wrong-auth-key", agent.env["LAB_COMMUNITY"],
                       agent.env["LAB_AUTH"], agent.env["LAB_PRIV"]):
            assert secret not in text


class TestSnmpAgentDown:
    """SNMP dropped by iptables while ICMP answers: SNMP agent down, the device stays UP."""

    def test_snmp_down_device_up(self, lab: Lab, agent: AgentProcess) -> None:
        name = "sw-snmpdead"
        agent.took(lambda: snmp_status(agent, name) == "ok", 20)
        lab.snmp_dead(lab.address(505))
        took = agent.took(lambda: faults(agent, name).get(("snmp", "")) == "down",
                    DOWN_BOUND + 5)
        assert device(agent, name)["state"] == "up"
        assert took <= DOWN_BOUND
        lab.restore(lab.address(505))
        agent.took(lambda: ("snmp", "") not in faults(agent, name), UP_BOUND + 5)


class TestInterfaceFault:
    """A monitored port cut: an interface fault within the bound, cleared after repair."""

    def test_port_down_and_up(self, lab: Lab, agent: AgentProcess, figure: Figure) -> None:
        name, port = "sw-v2c", lab.ports[0]
        agent.took(lambda: snmp_status(agent, name) == "ok", 20)
        assert ("interface", port) not in faults(agent, name)
        lab.set_port(port, up=False)
        took_down = agent.took(lambda: faults(agent, name).get(("interface", port)) == "down",
                         DOWN_BOUND + 10)
        lab.set_port(port, up=True)
        took_up = agent.took(lambda: ("interface", port) not in faults(agent, name),
                       UP_BOUND + 10)
        figure(f"interface fault in {took_down:.1f}s (bound {DOWN_BOUND}s, including snmpd's"
              f" ifTable cache), cleared in {took_up:.1f}s (bound {UP_BOUND}s)")
        assert took_down <= DOWN_BOUND
        assert took_up <= UP_BOUND


class TestReboot:
    """Restarting snmpd gives exactly one reboot per device."""

    def test_one_reboot(self, lab: Lab, agent: AgentProcess) -> None:
        name = "sw-v2c"
        key = frozenset({("device", name)})
        before = agent.metrics().get("pantau_device_reboots_total", {}).get(key, 0.0)
        time.sleep(6)  # let the lab's snmpd be up long enough for a reboot to be told apart
        lab.restart_snmpd()
        agent.took(lambda: agent.metrics().get("pantau_device_reboots_total", {}).get(
            key, 0.0) == before + 1, 20)
        time.sleep(3 * INTERVAL)  # a few more polls: still exactly one
        after = agent.metrics()["pantau_device_reboots_total"][key]
        assert after == before + 1


class TestProbe:
    """`pantau probe` shows the SNMP view of a device next to its ICMP result."""

    def test_probe_snmp(self, lab: Lab, agent: AgentProcess) -> None:
        import json
        import sys

        out = lab.run([sys.executable, "-m", "agent", "probe", "-c", str(agent.config),
                       "sw-v2c", "sw-badcommunity", "--json"], capture_output=True, text=True,
                      timeout=30, env={**agent.env, "PATH": "/usr/bin:/bin"})
        assert out.returncode == 1, out.stderr  # the wrong community is not a good answer
        doc = {d["name"]: d["checks"] for d in json.loads(out.stdout)["devices"]}
        good, bad = doc["sw-v2c"], doc["sw-badcommunity"]
        assert good["icmp"]["status"] == "ok"
        assert good["snmp"]["status"] == "ok"
        assert len(good["snmp"]["interfaces"]) == 49
        assert good["snmp"]["info"]["sysObjectID"].startswith("1.3.6.1.4.1.")
        assert bad["icmp"]["status"] == "ok"
        assert (bad["snmp"]["status"], bad["snmp"]["error"]) == ("unknown", "auth")
        table = lab.run([sys.executable, "-m", "agent", "probe", "-c", str(agent.config),
                         "sw-v2c"], capture_output=True, text=True, timeout=30,
                        env={**agent.env, "PATH": "/usr/bin:/bin"})
        assert table.returncode == 0, table.stderr
        assert "/49 if up" in table.stdout
        assert agent.env["LAB_COMMUNITY"] not in out.stdout + table.stdout + out.stderr
