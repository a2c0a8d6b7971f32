"""The device lab itself: real snmpd answers, faults and port changes take effect, restore works."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest

from lab import netns
from lab.cli import main as lab_cli
from lab.lab import SYSUPTIME, Lab, SnmpVersion

pytestmark = pytest.mark.lab

IF_ADMIN_STATUS = ".1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = ".1.3.6.1.2.1.2.2.1.8"
IF_NUMBER = ".1.3.6.1.2.1.2.1.0"


def ping(lab: Lab, address: str) -> bool:
    return lab.run(["ping", "-c1", "-W1", "-q", address], capture_output=True).returncode == 0


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    """Poll `predicate` every 0.1 s for at most `seconds` (snmpd caches ifTable ~3-5 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def uptime_seconds(lab: Lab, address: str) -> float:
    values = lab.snmpget(address, SYSUPTIME)
    assert values is not None
    return int(values[SYSUPTIME]) / 100


class TestSnmpAnswers:
    """snmpd answers v1, v2c and v3 on any lab address, with the lab's own credentials."""

    @pytest.mark.parametrize("version", ["1", "2c", "3"])
    def test_two_addresses_answer(self, lab: Lab, version: SnmpVersion) -> None:
        for address in (lab.address(0), lab.address(19_999)):
            values = lab.snmpget(address, SYSUPTIME, version=version)
            assert values is not None, f"no answer from {address} over v{version}"
            assert int(values[SYSUPTIME]) >= 0

    def test_sha256_aes256_user_answers(self, lab: Lab) -> None:
        if lab.v3_user_sha256 is None:
            pytest.skip("this net-snmp has no SHA-256/AES-256")
        assert lab.snmpget(lab.address(7), SYSUPTIME, version="3-sha256") is not None

    def test_wrong_community_gets_no_answer(self, lab: Lab) -> None:
        proc = lab.run(["snmpget", "-v2c", "-c", "not-the-community", "-On", "-t", "0.3",
                        "-r", "0", f"{lab.address(0)}:{lab.snmp_port}", SYSUPTIME],
                       capture_output=True, text=True)
        assert proc.returncode != 0
        assert "Timeout" in proc.stderr

    def test_if_table_has_a_row_per_port_and_lo(self, lab: Lab) -> None:
        values = lab.snmpget(lab.address(0), IF_NUMBER)
        assert values == {IF_NUMBER: str(len(lab.ports) + 1)}

    def test_every_fourth_port_is_admin_down(self, lab: Lab) -> None:
        down, up = lab.if_index("lab-p04"), lab.if_index("lab-p05")
        oids = [f"{IF_ADMIN_STATUS}.{down}", f"{IF_ADMIN_STATUS}.{up}"]
        assert lab.snmpget(lab.address(0), *oids) == {oids[0]: "2", oids[1]: "1"}

    def test_addresses_are_distinct_and_avoid_zero_and_broadcast_octets(self) -> None:
        addresses = [Lab.address(i) for i in range(20_000)]
        assert len(set(addresses)) == 20_000
        assert "127.0.0.1" not in addresses
        for address in addresses:
            assert all(0 < int(octet) < 255 for octet in address.split(".")[1:])


class TestBlackhole:
    """A blackholed address answers neither ping nor SNMP until restored."""

    def test_blackhole_and_restore(self, lab: Lab) -> None:
        address, other = lab.address(100), lab.address(101)
        assert ping(lab, address)
        lab.blackhole(address)
        assert not ping(lab, address)
        assert lab.snmpget(address, SYSUPTIME, timeout=0.5) is None
        assert lab.snmpget(other, SYSUPTIME) is not None
        lab.restore(address)
        assert ping(lab, address)
        assert lab.snmpget(address, SYSUPTIME) is not None

    def test_restore_all_clears_every_rule(self, lab: Lab) -> None:
        lab.blackhole(lab.address(1))
        lab.snmp_dead(lab.address(2))
        lab.lossy(lab.address(3))
        assert len(lab.rules()) == 3
        lab.restore_all()
        assert lab.rules() == []

    def test_restore_keeps_other_addresses_rules(self, lab: Lab) -> None:
        lab.blackhole(lab.address(1), lab.address(2))
        lab.snmp_dead(lab.address(1))
        lab.restore(lab.address(1))
        assert [r.split()[3] for r in lab.rules()] == [f"{lab.address(2)}/32"]

    def test_bulk_blackhole_of_500_addresses_is_fast(self, lab: Lab) -> None:
        addresses = [lab.address(i) for i in range(1000, 1500)]
        started = time.monotonic()
        lab.blackhole(*addresses)
        elapsed = time.monotonic() - started
        print(f"blackhole of 500 addresses: {elapsed * 1000:.1f} ms")
        assert elapsed < 2.0
        assert len(lab.rules()) == 500
        assert lab.snmpget(addresses[-1], SYSUPTIME, timeout=0.5) is None
        started = time.monotonic()
        lab.restore(*addresses)
        print(f"restore of 500 addresses: {(time.monotonic() - started) * 1000:.1f} ms")
        assert lab.rules() == []


class TestSnmpDead:
    """With SNMP dropped, the device still answers ping but SNMP times out."""

    def test_ping_works_snmp_times_out(self, lab: Lab) -> None:
        address = lab.address(200)
        lab.snmp_dead(address)
        assert ping(lab, address)
        assert lab.snmpget(address, SYSUPTIME, timeout=0.5) is None
        lab.restore(address)
        assert lab.snmpget(address, SYSUPTIME) is not None


class TestLossy:
    """A lossy address drops about the asked share of packets."""

    def test_thirty_percent_loss_of_200_pings(self, lab: Lab) -> None:
        address = lab.address(300)
        lab.lossy(address, probability=0.3)
        # 200 pings, 2 ms apart (root may go below 200 ms), ~1.5 s at most
        proc = lab.run(["ping", "-q", "-c", "200", "-i", "0.002", "-W", "1", address],
                       capture_output=True, text=True, timeout=30)
        summary = next(line for line in proc.stdout.splitlines() if "received" in line)
        received = int(summary.split(",")[1].split()[0])
        loss = 1 - received / 200
        print(f"loss with p=0.3 over 200 pings: {loss:.1%}")
        # binomial sd is 3.2 points: 15-45 % is wider than +-4.5 sd
        assert 0.15 <= loss <= 0.45


class TestPorts:
    """Cutting a port's link flips its ifOperStatus and leaves ifAdminStatus up."""

    def test_set_port_down_and_up(self, lab: Lab) -> None:
        index = lab.if_index("lab-p05")
        admin, oper = f"{IF_ADMIN_STATUS}.{index}", f"{IF_OPER_STATUS}.{index}"

        def status() -> dict[str, str] | None:
            return lab.snmpget(lab.address(0), admin, oper)

        assert status() == {admin: "1", oper: "1"}
        lab.set_port("lab-p05", up=False)
        assert wait_for(lambda: status() == {admin: "1", oper: "2"}, 10)
        lab.set_port("lab-p05", up=True)
        assert wait_for(lambda: status() == {admin: "1", oper: "1"}, 10)

    def test_set_admin_down_sets_both(self, lab: Lab) -> None:
        index = lab.if_index("lab-p06")
        admin, oper = f"{IF_ADMIN_STATUS}.{index}", f"{IF_OPER_STATUS}.{index}"
        lab.set_admin("lab-p06", up=False)
        assert wait_for(lambda: lab.snmpget(lab.address(0), admin, oper) ==
                        {admin: "2", oper: "2"}, 10)


class TestRestart:
    """Restarting snmpd restarts sysUpTime and keeps the v3 users working."""

    def test_restart_resets_sysuptime(self, lab: Lab) -> None:
        old_pid = lab.snmpd_pid
        started = time.monotonic()
        lab.restart_snmpd()
        assert lab.snmpd_pid != old_pid
        assert lab.snmpd_running()
        # sysUpTime counts from within the restart, not from the lab's first start
        assert uptime_seconds(lab, lab.address(0)) <= time.monotonic() - started + 0.05
        assert lab.snmpget(lab.address(1), SYSUPTIME, version="3") is not None


class TestNetns:
    """netns.enter moves the calling thread only, and its sockets stay in the lab."""

    def test_socket_made_inside_stays_in_the_lab(self, lab: Lab) -> None:
        host_ns = os.stat("/proc/thread-self/ns/net").st_ino
        with netns.enter(lab.name):
            assert os.stat("/proc/thread-self/ns/net").st_ino == os.stat(
                netns.path(lab.name)).st_ino
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        assert os.stat("/proc/thread-self/ns/net").st_ino == host_ns
        with sock:
            sock.settimeout(2)
            sock.sendto(_v2c_get_sysuptime(lab.community), (lab.address(5), lab.snmp_port))
            reply, peer = sock.recvfrom(4096)
        assert peer == (lab.address(5), lab.snmp_port)
        assert reply[0] == 0x30
        assert bytes([0xA2]) in reply  # a GetResponse PDU

    def test_in_lab_fixture_enters_the_namespace(self, in_lab: Lab) -> None:
        assert os.stat("/proc/thread-self/ns/net").st_ino == os.stat(
            netns.path(in_lab.name)).st_ino
        names = {name for _, name in socket.if_nameindex()}
        assert set(in_lab.ports) <= names

    def test_missing_namespace_is_a_lab_error(self) -> None:
        with pytest.raises(netns.LabError, match="does not exist"), netns.enter(
                "pantau-lab-no-such-namespace"):
            pass


class TestCli:
    """The pantau-lab CLI finds the running lab through its state file."""

    def test_credentials_and_status(self, lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
        assert lab_cli(["credentials", "--name", lab.name, "--json"]) == 0
        out = capsys.readouterr().out
        assert lab.community in out
        assert lab.v3_priv_key in out
        assert lab_cli(["status"]) == 0
        assert f"{lab.name}: snmpd pid {lab.snmpd_pid} running" in capsys.readouterr().out

    def test_fail_and_restore(self, lab: Lab) -> None:
        address = lab.address(400)
        assert lab_cli(["fail", address, "--mode", "dead", "--name", lab.name]) == 0
        assert not ping(lab, address)
        assert lab_cli(["restore", "--all", "--name", lab.name]) == 0
        assert ping(lab, address)

    def test_unknown_lab_is_an_error(self, lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
        assert lab_cli(["credentials", "--name", "no-such-lab"]) == 1
        assert "no lab 'no-such-lab'" in capsys.readouterr().err


def _v2c_get_sysuptime(community: str) -> bytes:
    """A hand-encoded SNMPv2c GET of sysUpTime.0 (BER, short lengths only)."""

    def tlv(tag: int, body: bytes) -> bytes:
        assert len(body) < 128
        return bytes([tag, len(body)]) + body

    varbind = tlv(0x30, tlv(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])) + b"\x05\x00")
    pdu = tlv(0xA0, tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00")
              + tlv(0x30, varbind))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community.encode()) + pdu)
