"""Reason codes: the closed catalog in two languages, and every source keeping its code beside
its English text (collectors, scheduler, detector, bridge, verifier) into the evidence."""

from __future__ import annotations

import string
from datetime import timedelta
from typing import Any

import pytest

from agent.core import errors
from agent.core.model import ERROR_KINDS, CheckResult, Device, DeviceState, Sample, Status
from agent.core.reason_text import parse_english, shown
from agent.core.reasons import CATALOG, TERMS, Reason, of_result, reason
from agent.detect import RETIRED, Transition, interface_results
from agent.scheduler import Job
from agent.tickets import observation
from agent.verify import LiveVerifier
from tests.fakes import FakeClock
from tests.reason_examples import CODES, example
from tests.unit.test_detector import OK, Harness
from tests.unit.test_detector import device as detector_device
from tests.unit.test_scheduler import SPEC, ScriptedCollector
from tests.unit.test_scheduler import Harness as SchedulerHarness
from tests.workflow_support import T0, Run, auto_draft
from ticketing.observation import Observation
from ticketing.payloads import Probe, Verification

DOWN = Status.DOWN


def names(template: str) -> set[str]:
    return {n for _, n, _, _ in string.Formatter().parse(template) if n}


class TestCatalog:
    """Every code is written in both languages with the same parameters."""

    @pytest.mark.parametrize("code", CODES)
    def test_same_parameters_in_both_languages(self, code: str) -> None:
        spec = CATALOG[code]
        assert names(spec.en) == names(spec.id)
        assert set(spec.terms) <= names(spec.en)
        assert all(vocabulary in TERMS for vocabulary in spec.terms.values())

    @pytest.mark.parametrize("code", CODES)
    def test_the_languages_differ(self, code: str) -> None:
        r = example(code)
        assert r.text("en") != r.text("id")
        assert r.text("en") == r.text()  # English is the default: the logs' language

    @pytest.mark.parametrize("code", CODES)
    def test_json_round_trip(self, code: str) -> None:
        r = example(code)
        assert Reason.from_json(r.to_json()) == r

    @pytest.mark.parametrize("code", CODES)
    def test_an_old_english_text_is_read_back(self, code: str) -> None:
        """A ticket stored before codes (text only) still shows in Indonesian."""
        r = example(code)
        assert parse_english(r.text("en")) is not None
        assert shown(r.text("en"), None, "id") == r.text("id")

    @pytest.mark.parametrize("kind", ERROR_KINDS)
    def test_every_error_kind_has_its_code(self, kind: str) -> None:
        """The scheduler codes a failed check "check_" + its error kind."""
        r = reason(f"check_{kind}", check="snmp", address="127.0.0.41", seconds=1.0)
        assert "127.0.0.41" in r.text("id")

    def test_unknown_code_and_missing_parameter_are_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown reason code 'nope'"):
            reason("nope")
        with pytest.raises(ValueError, match="'icmp_no_reply' needs address, seconds"):
            reason("icmp_no_reply", sent=5)
        assert Reason.from_json({"code": "nope", "params": {}}) is None
        assert Reason.from_json({"code": "icmp_no_reply", "params": {"sent": 5}}) is None

    def test_indonesian_numbers_and_words(self) -> None:
        r = reason("flapping_started", percent=42.25, window=20, high=30.5)
        assert r.text("en") == ("flapping: 42.2% state changes over the last 20 results "
                                "(above 30.5%)")
        assert r.text("id") == ("tidak stabil (flapping): 42,2% perubahan status dalam 20 "
                                "hasil terakhir (di atas 30,5%)")

    def test_note_and_last_follow_the_reason(self) -> None:
        last = reason("check_timeout", check="snmp", address="127.0.0.41", seconds=2.0)
        note = reason("upstream_not_rechecked", kind="parent", name="core", seconds=30)
        r = reason("results_failed", count=3, note=note, last=last)
        assert r.text("en") == ("3 consecutive failed results; parent core not re-checked "
                                "within 30s (last: snmp 127.0.0.41: no answer in 2.0s (timeout))")
        assert r.text("id") == (
            "3 hasil gagal berturut-turut; perangkat induk core tidak diperiksa ulang dalam "
            "30 detik (terakhir: SNMP 127.0.0.41: tidak ada jawaban dalam 2,0 detik (batas "
            "waktu habis))")
        assert parse_english(r.text("en")) == r

    def test_free_text_is_shown_as_it_is(self) -> None:
        assert shown("sw-dinkes-01 tidak menjawab", None, "id") == "sw-dinkes-01 tidak menjawab"
        assert shown("", None, "id") == ""
        assert shown("ignored", example("no_result_yet").to_json(), "id") == "belum ada hasil"


def result(code: str = "", **params: Any) -> CheckResult:
    return CheckResult("sw", "icmp", DOWN, T0, 1.0, reason="x", code=code,
                       params=tuple(params.items()))


async def verify_sw(answer: CheckResult, probes: int, hold_seconds: float) -> Verification:
    """A live verification of a ticket of device "sw" whose every check returns `answer`."""

    async def run_check(job: Job) -> CheckResult:
        return answer

    verifier = LiveVerifier(devices={"sw": Device("sw", "127.0.0.41", "Dinas Uji")},
                            jobs=lambda devices: [Job(devices[0], SPEC, None)],  # type: ignore[arg-type]
                            run_check=run_check, clock=FakeClock(), probes=probes,
                            hold_seconds=hold_seconds)
    run = Run()
    run.open(auto_draft(device="sw"))
    return await verifier.verify(run.t)


class TestSources:
    """Each source of a reason keeps its code beside its English text, the same words."""

    @pytest.mark.parametrize("cls", [errors.TargetTimeout, errors.TargetUnreachable,
                                     errors.AuthFailed, errors.ProtocolError, errors.ProbeError,
                                     errors.CollectorError])
    async def test_scheduler_codes_each_error_kind(self, cls: type[errors.CollectorError]
                                                    ) -> None:
        clock = FakeClock()
        h = SchedulerHarness(clock)
        job = Job(Device("sw-01", "127.0.0.9", "Dinas Uji"), SPEC,
                  ScriptedCollector(clock, [cls("sw-01", "icmp", "detail in English")]))
        out = await h.scheduler.run_check(job)
        assert out.reason.endswith("detail in English")  # the logs keep the detail
        assert out.code == f"check_{cls.kind}"
        assert out.error in ERROR_KINDS
        cause = of_result(out.code, out.params)
        assert cause is not None
        assert "127.0.0.9" in cause.text("id")

    async def test_a_bug_is_coded_internal(self) -> None:
        clock = FakeClock()
        h = SchedulerHarness(clock)
        job = Job(Device("sw-01", "127.0.0.9", "Dinas Uji"), SPEC,
                  ScriptedCollector(clock, [RuntimeError("bug")]))
        out = await h.scheduler.run_check(job)
        assert (out.code, out.reason) == ("check_internal", "internal")
        assert of_result(out.code, out.params) == reason(
            "check_internal", check="icmp", address="127.0.0.9", seconds=0.0)

    def test_interface_down(self) -> None:
        snmp = CheckResult("sw", "snmp", Status.OK, T0, 1.0, samples=tuple(
            Sample(n, v, (("interface", "Gi0/7"),)) for n, v in (
                ("interface_monitored", 1.0), ("interface_admin_up", 1.0),
                ("interface_oper_up", 0.0))))
        [(_, iface)] = interface_results(snmp)
        cause = of_result(iface.code, iface.params)
        assert cause is not None
        assert cause.text() == iface.reason == "interface Gi0/7 is admin-up but oper-down"
        assert RETIRED.text("id") == "antarmuka tidak lagi dilaporkan oleh perangkat"

    def test_detector_codes_the_transition_with_the_last_result(self) -> None:
        h = Harness([detector_device("sw")])
        h.send("sw", OK)
        for _ in range(3):
            h.t += 1
            h.events += h.detector.observe(CheckResult(
                "sw", "icmp", DOWN, T0 + timedelta(seconds=h.t), 1.0,
                reason="no reply to 5 echo requests to 127.0.0.41 in 1.0s", code="icmp_no_reply",
                params=(("sent", 5), ("address", "127.0.0.41"), ("seconds", 1.0))))
        down = h.transitions("sw")[-1]
        assert down.new is DeviceState.DOWN
        assert down.cause is not None
        assert down.reason == down.cause.text() == (
            "3 consecutive failed results (last: no reply to 5 echo requests to 127.0.0.41 in "
            "1.0s)")
        assert down.cause.text("id") == (
            "3 hasil gagal berturut-turut (terakhir: tidak ada balasan atas 5 permintaan echo "
            "(ping) ke 127.0.0.41 dalam 1,0 detik)")

    def test_bridge_carries_the_code_into_the_evidence(self) -> None:
        cause = example("results_failed")
        t = Transition(device="sw", check="icmp", item="", old=DeviceState.UP,
                       new=DeviceState.DOWN, at=T0, reason=cause.text(), evidence=result(),
                       cause=cause)
        devices = {"sw": Device("sw", "127.0.0.9", "Dinas Uji")}
        obs = observation(t, devices, lambda name: DeviceState.DOWN, lambda name: {})
        assert obs is not None
        assert obs.cause == cause
        assert obs.evidence.cause == cause
        assert obs.evidence.reason_in("id") == cause.text("id")
        assert Observation.from_json(obs.to_json()).cause == cause  # through the journal
        run = Run()
        run.open(auto_draft(evidence=obs.evidence.to_json()))
        assert run.t.evidence.cause == cause  # and into the stored ticket

    def test_bridge_codes_an_unreachable_child(self) -> None:
        devices = {"core": Device("core", "127.0.0.8", "Dinas Uji"),
                   "ap": Device("ap", "127.0.0.9", "Dinas Uji", parent="core")}
        t = Transition(device="ap", check="icmp", item="", old=DeviceState.UP,
                       new=DeviceState.UNREACHABLE, at=T0, reason="", evidence=result())
        obs = observation(t, devices, lambda name: DeviceState.DOWN, lambda name: {})
        assert obs is not None
        assert obs.cause == reason("unreachable_behind", device="ap", root="core")
        assert obs.reason == "ap unreachable behind core"

    async def test_verifier_codes_its_verdict_and_probes(self) -> None:
        failing = CheckResult("sw", "icmp", DOWN, T0, 1.0, reason="no reply",
                              code="check_timeout", params=(("check", "icmp"),
                                                            ("address", "127.0.0.41"),
                                                            ("seconds", 2.0)))
        verdict = await verify_sw(failing, probes=2, hold_seconds=10)
        assert not verdict.passed
        assert verdict.reason == "sw icmp: no reply"  # the English detail, for the logs
        assert verdict.cause is not None
        assert verdict.reason_in("id") == (
            "sw ICMP (ping): ICMP (ping) 127.0.0.41: tidak ada jawaban dalam 2,0 detik (batas "
            "waktu habis)")
        again = Verification.from_json(verdict.to_json())
        assert again.cause == verdict.cause
        assert again.probes[0].cause == verdict.probes[0].cause
        assert again.probes[0].samples == {}  # the code is not taken for a measurement

    async def test_verifier_codes_a_pass(self) -> None:
        verdict = await verify_sw(CheckResult("sw", "icmp", Status.OK, T0, 1.0), probes=1,
                                  hold_seconds=0)
        assert verdict.reason == "1 device(s) healthy in 1 probe(s) over 0 s"
        assert verdict.reason_in("id") == "1 perangkat sehat dalam 1 kali probe selama 0 detik"

    def test_an_old_probe_without_a_code_reads_its_text(self) -> None:
        probe = Probe.from_json({"round": 1, "device": "sw", "check": "icmp", "status": "down",
                                 "reason": "no reply to 5 echo requests to 127.0.0.41 in 1.0s"})
        assert probe.cause is None
        assert probe.reason_in("id").startswith("tidak ada balasan atas 5 permintaan echo")
