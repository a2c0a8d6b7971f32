"""The letters in Indonesian from end to end: every reason code rendered in Indonesian (never its
English text), the evidence in the device's local time, and the signature block from the
signer's full name, NIP and jabatan (blank lines to fill in by hand when missing)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.config import WebSettings
from agent.core.reasons import Reason, reason
from agent.web import letters
from agent.web.letter_parts import Signer
from tests.reason_examples import CODES, english_left, example
from tests.unit.test_letters import Dom
from tests.workflow_support import T0, Run, actor, auto_draft
from ticketing import workflow
from ticketing.payloads import Evidence, Probe, Verification
from ticketing.sop import SOP_006

H = timedelta(hours=1)
WEB = WebSettings()
BLANK = "." * 40
NIP = "198702142010011003"
COMPOSITE = reason("results_failed", count=3,
                   note=reason("upstream_not_rechecked", kind="parent", name="core", seconds=30),
                   last=reason("check_timeout", check="snmp", address="127.0.0.41", seconds=2.0))
EXAMPLES = {**{code: example(code) for code in CODES}, "composite": COMPOSITE}


def coded_run(r: Reason, device: str = "sw-dinkes-01") -> Run:
    """An automatic ticket whose evidence, last measurement, verification and probe all carry
    `r`, walked through its nine steps (step n completed n hours after T0)."""
    evidence = Evidence.of_detection(
        fault="device_down", state="down", since=T0, reason=r.text(), cause=r,
        last={"icmp": {"status": "down", "observed_at": T0.isoformat(), "reason": r.text(),
                       "reason_code": r.to_json(),
                       "samples": {"icmp_rtt_seconds": 0.0015, "icmp_packet_loss_ratio": 1.0}}})
    run = Run()
    run.open(auto_draft(device=device, evidence=evidence.to_json()))
    for no in range(2, 10):
        now = T0 + no * H
        if no == 7:
            v = Verification(passed=True, started_at=now - timedelta(seconds=60),
                             finished_at=now, reason=r.text(), cause=r, probes=(
                                 Probe(round=1, device=device, check="icmp", status="ok",
                                       at=now - timedelta(seconds=30), healthy=True,
                                       reason=r.text(), cause=r),))
            run.add(workflow.record_verification(run.t, v, now, actor("teknisi")))
            run.complete(7, now, verified=v)
        else:
            run.complete(no, now)
    return run


def letter(run: Run, no: int, signers: dict[str, Signer] | None = None,
           evidence_tz: str | None = None) -> Dom:
    return Dom(letters.render_letter(letters.environment(), run.t, no, SOP_006, WEB,
                                     tz="Asia/Jakarta", events=tuple(run.events),
                                     signers=signers, evidence_tz=evidence_tz))


class TestEveryReasonCode:
    """No letter shows a reason's English text; the ones that show it say it in Indonesian."""

    @pytest.mark.parametrize("code", sorted(EXAMPLES))
    def test_every_letter_in_indonesian(self, code: str) -> None:
        r = EXAMPLES[code]
        run = coded_run(r)
        for no in range(1, 10):
            text = letter(run, no).root.text()
            assert english_left(text, r) == [], f"step {no}"
            if no in (1, 7, 8, 9):  # the evidence (request), the verification (reports)
                assert r.text("id") in text, f"step {no}"

    def test_an_old_ticket_text_only_reads_back_into_indonesian(self) -> None:
        """A ticket stored before reason codes keeps only the English text."""
        r = example("icmp_no_reply")
        run = Run()
        run.open(auto_draft(evidence={"since": T0.isoformat(), "reason": r.text()}))
        rows = letter(run, 1).labelled("bukti")
        assert rows["Penyebab"] == r.text("id")


class TestLocalTime:
    """The evidence is in the device's local time, named; the letter's date in its own zone."""

    def test_evidence_in_the_device_zone(self) -> None:
        run = coded_run(example("icmp_no_reply"))
        page = letter(run, 1, evidence_tz="Asia/Makassar")
        assert page.labelled("bukti")["Sejak"] == "24 November 2026 pukul 09.00 WITA"
        assert page.rows("pengukuran")[0][4] == "24 November 2026 pukul 09.00.00 WITA"
        assert page.text("tanggal") == "Bogor, 24 November 2026"
        report = letter(run, 7, evidence_tz="Asia/Makassar")
        assert report.text("verifikasi-mulai") == "24 November 2026 pukul 15.59.00 WITA"

    def test_default_is_the_letter_zone(self) -> None:
        page = letter(coded_run(example("icmp_no_reply")), 1)
        assert page.labelled("bukti")["Sejak"] == "24 November 2026 pukul 08.00 WIB"

    def test_measurements_are_readable(self) -> None:
        page = letter(coded_run(example("icmp_no_reply")), 1)
        [row] = page.rows("pengukuran")
        assert row[:4] == ["ICMP (ping)", "Terputus", "1,50", "100"]
        assert "samples" not in page.root.text()
        assert "icmp_packet_loss_ratio" not in page.root.text()


class TestSignature:
    """The signer's full name, NIP and jabatan sign; missing ones are blank lines."""

    def test_full_name_nip_and_jabatan(self) -> None:
        run = coded_run(example("no_result_yet"))
        page = letter(run, 4, {"budi": Signer("Budi Santoso, S.Kom.", NIP,
                                              "Kepala Seksi Infrastruktur TIK")})
        assert page.text("ttd-jabatan") == "Kepala Seksi Infrastruktur TIK,"
        assert page.text("ttd-nama") == "Budi Santoso, S.Kom."
        assert page.text("ttd-nip") == f"NIP. {NIP}"

    def test_without_nip_or_jabatan(self) -> None:
        run = coded_run(example("no_result_yet"))
        page = letter(run, 4, {"budi": Signer("Budi Santoso")})
        assert page.text("ttd-jabatan") == "Kepala Seksi,"  # the role's title
        assert page.text("ttd-nama") == "Budi Santoso"
        assert page.text("ttd-nip") == f"NIP. {BLANK}"

    def test_without_a_name(self) -> None:
        run = coded_run(example("no_result_yet"))
        page = letter(run, 4, {"budi": Signer(nip=NIP)})
        assert page.text("ttd-nama") == BLANK
        assert page.text("ttd-nip") == f"NIP. {NIP}"
        text = page.root.text()
        assert "budi" not in text
        assert "NIP. \u2014" not in text
        assert "NIP. -" not in text

    def test_an_unknown_user_signs_with_blank_lines(self) -> None:
        page = letter(coded_run(example("no_result_yet")), 5, {})
        assert page.text("ttd-nama") == BLANK
        assert page.text("ttd-nip") == f"NIP. {BLANK}"
        assert page.text("ttd-jabatan") == "Staf/Teknisi,"

    def test_the_check_record_names_the_undersigned(self) -> None:
        run = coded_run(example("no_result_yet"))
        page = letter(run, 5, {"joko": Signer("Joko Susilo", NIP, "Teknisi Jaringan")})
        assert ("yang bertanda tangan di bawah ini, Joko Susilo, Teknisi Jaringan, telah "
                "melakukan pengecekan") in page.root.text()
