"""The pure ticket workflow: commands, refusals with their exact reasons, the fold, SLA clocks."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.core.errors import InvalidTransition
from tests.workflow_support import (
    T0,
    TICKET_ID,
    Run,
    actor,
    auto_draft,
    manual_draft,
    valid_output,
    verification,
)
from ticketing import gates, json_view, workflow
from ticketing.calendar import CalendarTime, WorkingCalendar
from ticketing.models import EventKind, Fault, TicketEvent, TicketStatus
from ticketing.payloads import Evidence, Verification
from ticketing.sop import SOP_006

CAL = CalendarTime()
H = timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def opened_run(draft_at: datetime = T0) -> Run:
    run = Run()
    run.open(auto_draft(at=draft_at))
    return run


def refused(message: str) -> Any:
    """Expect InvalidTransition with exactly `message`."""
    return pytest.raises(InvalidTransition, match=f"^{re.escape(message)}$")


class TestOpening:
    """Filing a request opens the ticket and completes step 1 at once."""

    def test_automatic_request_is_filed_by_the_agent_for_the_agency(self) -> None:
        run = Run()
        ticket = run.open(auto_draft())
        kinds = [(e.kind, e.step, e.actor, e.role, e.seq) for e in run.events]
        assert kinds == [(EventKind.OPENED, None, "pantau", "system", 1),
                         (EventKind.STEP_COMPLETED, 1, "pantau", "system", 2)]
        assert ticket.current_step == 2
        assert ticket.status is TicketStatus.OPEN
        assert ticket.sop_version == SOP_006.version
        assert ticket.dedup_key == "sw-dinkes-01/device_down/"
        assert ticket.last_failure_at == T0
        letter = ticket.steps[0].output
        assert letter["subject"] == ("Gangguan jaringan sw-dinkes-01: perangkat tidak dapat "
                                     "dijangkau")
        assert letter["on_behalf_of"] == "Dinas Kesehatan"
        assert "Penyebab: no echo reply (3 of 3 lost)" in letter["description"]
        assert "  icmp.loss=1.0" in letter["description"]
        assert ticket.steps[0].completed_by == "pantau"

    def test_step_2_starts_at_filing_with_its_sla(self) -> None:
        ticket = opened_run().t
        step2 = ticket.steps[1]
        assert (step2.started_at, step2.due_at) == (T0, T0 + timedelta(days=1))
        assert all(s.started_at is None and s.due_at is None for s in ticket.steps[2:])

    def test_interface_request_names_the_interface(self) -> None:
        run = Run()
        ticket = run.open(auto_draft(fault=Fault.INTERFACE_DOWN, item="Gi0/1"))
        assert ticket.steps[0].output["subject"] == (
            "Gangguan jaringan sw-dinkes-01: antarmuka Gi0/1 mati")
        assert ticket.dedup_key == "sw-dinkes-01/interface_down/Gi0/1"

    def test_manual_request_by_the_agency(self) -> None:
        run = Run()
        ticket = run.open(manual_draft())
        step1 = ticket.steps[0]
        assert step1.completed_by == "siti"
        assert step1.output == {"subject": "Pemasangan access point baru",
                                "description": "Ruang rapat lantai 2 belum terjangkau Wi-Fi."}
        assert run.events[1].role == "perangkat_daerah"
        assert ticket.last_failure_at is None
        assert ticket.dedup_key == ""

    def test_manual_request_needs_a_subject(self) -> None:
        with refused("Surat Permohonan needs 'subject' (Perihal)"):
            workflow.new_ticket_events(TICKET_ID, manual_draft(subject="  "), SOP_006, T0)

    def test_manual_request_by_another_role_is_refused(self) -> None:
        with refused("step 1 is for perangkat_daerah; budi is kasi"):
            workflow.new_ticket_events(TICKET_ID, manual_draft("kasi"), SOP_006, T0)

    def test_automatic_request_by_a_person_is_refused(self) -> None:
        draft = auto_draft(requested_by="budi", requested_role="kasi")
        with refused("an automatic request is filed by the agent; budi is kasi"):
            workflow.new_ticket_events(TICKET_ID, draft, SOP_006, T0)

    def test_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            workflow.new_ticket_events(TICKET_ID, auto_draft(), SOP_006, datetime(2026, 1, 1))

    def test_event_data_survive_a_json_round_trip(self) -> None:
        run = opened_run()
        run.advance_to(8, at(3600))
        events = [replace(e, data=json.loads(json.dumps(e.data))) for e in run.events]
        assert workflow.fold(events, SOP_006, CAL) == run.t


class TestCompleteStep:
    """Completing a step checks the step, the role and the document, in that order."""

    def test_kepala_dinas_disposes_step_2(self) -> None:
        run = opened_run()
        events = run.complete(2, at(600), output={"note": " segera ", "to": "Kabid TI"})
        assert [(e.kind, e.step, e.actor, e.role, e.seq) for e in events] == [
            (EventKind.STEP_COMPLETED, 2, "ahmad", "kepala_dinas", 3)]
        step2, step3 = run.t.steps[1:3]
        assert step2.output == {"note": "segera", "to": "Kabid TI"}
        assert (step2.completed_at, step2.completed_by) == (at(600), "ahmad")
        assert (step3.started_at, step3.due_at) == (at(600), at(600) + timedelta(days=1))
        assert run.t.current_step == 3

    def test_admin_may_act_for_any_role(self) -> None:
        run = opened_run()
        run.complete(2, at(60), who=actor("admin"))
        assert run.t.steps[1].completed_by == "root"

    def test_wrong_step(self) -> None:
        run = opened_run()
        with refused("step 5 is not open: the ticket is at step 2"):
            run.complete(5, at(60), who=actor("teknisi"))

    def test_completed_step_again(self) -> None:
        run = opened_run()
        run.complete(2, at(60))
        with refused("step 2 is not open: the ticket is at step 3"):
            run.complete(2, at(120))

    def test_no_such_step(self) -> None:
        run = opened_run()
        with refused("there is no step 10: SOP-006 has steps 1..9"):
            workflow.complete_step(run.t, 10, actor("admin"), {}, SOP_006,
                                   gates.Facts(now=at(60)))

    def test_wrong_role(self) -> None:
        run = opened_run()
        with refused("step 2 is for kepala_dinas; budi is kasi"):
            run.complete(2, at(60), who=actor("kasi"))

    def test_role_is_checked_before_the_document(self) -> None:
        run = opened_run()
        with refused("step 2 is for kepala_dinas; pantau is system"):
            run.complete(2, at(60), who=actor("system"), output={})

    def test_missing_field(self) -> None:
        run = opened_run()
        with refused("Lembar Disposisi needs 'to' (Diteruskan kepada)"):
            run.complete(2, at(60), output={"note": "segera"})

    def test_empty_text_counts_as_missing(self) -> None:
        run = opened_run()
        with refused("Lembar Disposisi needs 'note' (Catatan)"):
            run.complete(2, at(60), output={"note": "   ", "to": "Kabid"})

    def test_text_of_another_type(self) -> None:
        run = opened_run()
        with refused("Lembar Disposisi: 'note' (Catatan) must be text"):
            run.complete(2, at(60), output={"note": 3, "to": "Kabid"})

    def test_unknown_field(self) -> None:
        run = opened_run()
        with refused("Lembar Disposisi has no field 'cc', 'too' (its fields: note, to)"):
            run.complete(2, at(60), output={"note": "a", "to": "b", "too": "c", "cc": "d"})

    def test_bool_field(self) -> None:
        run = opened_run()
        run.advance_to(6, at(60))
        with refused("Proses Pengecekan: 'stock_available' (Stok barang tersedia) must be "
                     "true or false"):
            run.complete(6, at(120), output={"findings": "ada", "stock_available": "yes"})
        run.complete(6, at(120), output={"findings": "habis", "stock_available": False})
        assert run.t.steps[5].output == {"findings": "habis", "stock_available": False}

    def test_list_field(self) -> None:
        run = opened_run()
        run.advance_to(5, at(60))
        with refused("Proses Pengecekan: 'devices' (Perangkat yang dipasang/diganti) must be "
                     "a list of non-empty texts"):
            run.complete(5, at(120), output={"findings": "rusak", "devices": "sw-1"})
        with refused("Proses Pengecekan: 'devices' (Perangkat yang dipasang/diganti) must be "
                     "a list of non-empty texts"):
            run.complete(5, at(120), output={"findings": "rusak", "devices": ["sw-1", " "]})
        with refused("Proses Pengecekan needs 'devices' (Perangkat yang dipasang/diganti)"):
            run.complete(5, at(120), output={"findings": "rusak"})

    def test_empty_list_means_nothing_to_replace(self) -> None:
        run = opened_run()
        run.advance_to(5, at(60))
        run.complete(5, at(120), output={"findings": "kabel lepas", "devices": []})
        assert run.t.steps[4].output == {"findings": "kabel lepas", "devices": []}

    def test_closed_ticket(self) -> None:
        run = opened_run()
        run.advance_to(10, at(60))
        with refused(f"ticket {TICKET_ID} is closed"):
            run.complete(9, at(120))


class TestVerificationGate:
    """Step 7 is accepted only after a fresh, passed live verification."""

    def at_step_7(self) -> Run:
        run = opened_run()
        run.advance_to(7, at(60))
        return run

    def test_no_verification_yet(self) -> None:
        run = self.at_step_7()
        with refused("connectivity not verified: no verification yet"):
            run.complete(7, at(120))

    def test_failed_verification_gives_the_probe_reason(self) -> None:
        run = self.at_step_7()
        with refused("connectivity not verified: sw-dinkes-01 icmp: timeout"):
            run.complete(7, at(120), verified=verification(False, at(60), at(100)))

    def test_failed_verification_without_reason_uses_the_failing_probe(self) -> None:
        run = self.at_step_7()
        v = replace(verification(False, at(60), at(100), reason="100% packet loss"), reason="")
        with refused("connectivity not verified: sw-dinkes-01 icmp: 100% packet loss"):
            run.complete(7, at(120), verified=v)

    def test_stale_verification(self) -> None:
        run = self.at_step_7()
        v = verification(True, at(60), at(100))
        with refused("connectivity not verified: the last verification is older than 600 s"):
            run.complete(7, at(701), verified=v)
        run.complete(7, at(700), verified=v)  # exactly 600 s old is still fresh
        assert run.t.current_step == 8

    def test_verification_started_before_the_last_failure(self) -> None:
        run = self.at_step_7()
        run.add(workflow.observe_restoration(run.t, at(70), Evidence()))
        v = verification(True, at(80), at(200))
        run.add(workflow.observe_failure(run.t, Evidence({"reason": "down again"}), at(90)))
        with refused("connectivity not verified: the last verification started before the "
                     "last failure was observed"):
            run.complete(7, at(210), verified=v)

    def test_verification_without_times(self) -> None:
        run = self.at_step_7()
        with refused("connectivity not verified: the last verification has no valid start "
                     "and finish times"):
            run.complete(7, at(120), verified=Verification.from_json(
                {"passed": True, "started_at": "yesterday"}))

    def test_recorded_verification_is_used(self) -> None:
        run = self.at_step_7()
        v = verification(True, at(60), at(100))
        run.add(workflow.record_verification(run.t, v, at(100), actor("teknisi")))
        assert run.t.last_verification == v
        events = run.complete(7, at(120))
        assert events[0].data["verification"] == v
        assert events[0].data["action"] == "ok: Laporan Tindaklanjut"

    def test_given_verification_wins_over_the_recorded_one(self) -> None:
        run = self.at_step_7()
        run.add(workflow.record_verification(
            run.t, verification(True, at(60), at(100)), at(100), actor("teknisi")))
        with refused("connectivity not verified: sw-dinkes-01 icmp: timeout"):
            run.complete(7, at(120), verified=verification(False, at(105), at(110)))

    def test_admin_is_gated_too(self) -> None:
        run = self.at_step_7()
        with refused("connectivity not verified: no verification yet"):
            run.complete(7, at(120), who=actor("admin"))

    def test_verification_is_stored_in_the_report(self) -> None:
        run = self.at_step_7()
        v = verification(True, at(60), at(100))
        run.complete(7, at(120), verified=v)
        report = run.t.steps[6].output
        assert report["verification"]["probes"][0]["healthy"] is True
        assert set(report) == {"action", "verification"}

    def test_a_verification_field_from_the_user_is_refused(self) -> None:
        run = self.at_step_7()
        with refused("Laporan Tindaklanjut has no field 'verification' (its fields: action)"):
            run.complete(7, at(120), output={"action": "x", "verification": {"passed": True}},
                         verified=verification(True, at(60), at(100)))

    def test_unknown_gate_fails_closed(self) -> None:
        steps = tuple(replace(s, gate="moon_phase") if s.no == 3 else s for s in SOP_006.steps)
        run = Run(sop=replace(SOP_006, steps=steps))
        run.open(auto_draft())
        run.complete(2, at(60))
        with refused("step 3 has an unknown gate 'moon_phase'"):
            run.complete(3, at(120))


class TestFullRun:
    """A ticket goes through steps 1..9 and closes after step 9."""

    def test_nine_steps_close_the_ticket(self) -> None:
        run = opened_run()
        now = T0
        for no in range(2, 10):
            now += timedelta(minutes=5)
            gate = verification(True, now - timedelta(minutes=1), now) if no == 7 else None
            run.complete(no, now, verified=gate)
        t = run.t
        assert t.status is TicketStatus.CLOSED
        assert t.current_step == 10
        assert t.closed_at == now
        assert [s.completed_by for s in t.steps] == [
            "pantau", "ahmad", "rina", "budi", "joko", "joko", "joko", "budi", "rina"]
        assert [e.kind for e in run.events[-2:]] == [EventKind.STEP_COMPLETED,
                                                     EventKind.CLOSED]
        assert [e.seq for e in run.events] == list(range(1, len(run.events) + 1))
        assert not any(s.breached for s in t.steps)
        assert workflow.step_duration_seconds(t.steps[1]) == 300.0
        assert workflow.remaining_seconds(t, now, CAL) is None
        assert workflow.open_step(t) is None


class TestObservations:
    """Detector observations add events only when they change something."""

    def test_failure_while_failing_adds_nothing(self) -> None:
        run = opened_run()
        assert workflow.observe_failure(run.t, Evidence({"reason": "still down"}), at(30)) == []

    def test_restoration_then_failure(self) -> None:
        run = opened_run()
        events = run.add(workflow.observe_restoration(run.t, at(30), Evidence({"rtt": 0.001})))
        assert [(e.kind, e.data) for e in events] == [
            (EventKind.RESTORATION_OBSERVED, {"evidence": {"rtt": 0.001}})]
        assert (run.t.restored, run.t.restoration_observed_at) == (True, at(30))
        assert run.t.status is TicketStatus.OPEN
        assert workflow.observe_restoration(run.t, at(40), Evidence()) == []
        events = run.add(workflow.observe_failure(run.t, Evidence({"reason": "down"}), at(50)))
        assert [e.kind for e in events] == [EventKind.FAILURE_OBSERVED]
        assert (run.t.restored, run.t.restoration_observed_at) == (False, None)
        assert run.t.last_failure_at == at(50)
        assert workflow.observe_failure(run.t, Evidence({"reason": "down"}), at(60)) == []

    def test_affected_only_new_ones(self) -> None:
        run = opened_run()
        run.add(workflow.add_affected(run.t, ["ap-1", "ap-2", "ap-1"], at(30)))
        events = run.add(workflow.add_affected(run.t, ["ap-2", "ap-3"], at(40)))
        assert [e.data for e in events] == [{"devices": ["ap-3"]}]
        assert run.t.affected == ("ap-1", "ap-2", "ap-3")
        assert workflow.add_affected(run.t, ["ap-3"], at(50)) == []

    def test_flapping_only_on_change(self) -> None:
        run = opened_run()
        assert workflow.set_flapping(run.t, False, at(30)) == []
        run.add(workflow.set_flapping(run.t, True, at(30)))
        assert run.t.flapping is True
        assert workflow.set_flapping(run.t, True, at(40)) == []

    def test_closed_ticket_takes_no_observation(self) -> None:
        run = opened_run()
        run.advance_to(10, at(60))
        with refused(f"ticket {TICKET_ID} is closed"):
            workflow.observe_failure(run.t, Evidence(), at(70))
        with refused(f"ticket {TICKET_ID} is closed"):
            workflow.record_verification(run.t, Verification.from_json({"passed": True}), at(70),
                                         actor("teknisi"))


class TestReopen:
    """Reopening a closed ticket returns it to step 5 with fresh clocks."""

    def test_reopen_goes_back_to_the_technicians(self) -> None:
        run = opened_run()
        run.advance_to(10, at(60))
        before = run.t
        events = run.add(workflow.reopen(run.t, Evidence({"reason": "down again"}), at(900),
                                         SOP_006))
        assert [(e.kind, e.step, e.actor) for e in events] == [
            (EventKind.REOPENED, 5, "pantau")]
        t = run.t
        assert (t.status, t.current_step, t.reopened, t.closed_at) == (
            TicketStatus.OPEN, 5, 1, None)
        assert t.steps[:4] == before.steps[:4]
        assert (t.steps[4].started_at, t.steps[4].due_at) == (at(900), at(900) + H)
        assert t.steps[4].completed_at is None
        assert t.steps[4].output == {}
        assert all(s.started_at is None and s.completed_at is None for s in t.steps[5:])
        assert t.last_failure_at == at(900)
        assert t.last_verification is None

    def test_a_reopened_ticket_closes_again(self) -> None:
        run = opened_run()
        run.advance_to(10, at(60))
        run.add(workflow.reopen(run.t, Evidence(), at(900), SOP_006))
        run.advance_to(7, at(1000))
        with refused("connectivity not verified: the last verification started before the "
                     "last failure was observed"):
            run.complete(7, at(1000), verified=verification(True, at(800), at(950)))
        run.advance_to(10, at(1100))
        assert (run.t.status, run.t.reopened) == (TicketStatus.CLOSED, 1)

    def test_open_ticket_cannot_be_reopened(self) -> None:
        run = opened_run()
        with refused(f"ticket {TICKET_ID} is open: only a closed ticket is reopened"):
            workflow.reopen(run.t, Evidence(), at(60), SOP_006)


class TestSla:
    """Due times, remaining time and breaches (each counted once)."""

    def test_breach_is_recorded_once(self) -> None:
        run = opened_run()
        due = run.t.steps[1].due_at
        assert due == T0 + timedelta(days=1)
        assert workflow.sweep(run.t, due, SOP_006, CAL) == []  # at due: not yet past it
        events = run.add(workflow.sweep(run.t, due + timedelta(seconds=1), SOP_006, CAL))
        assert [(e.kind, e.step, e.data) for e in events] == [
            (EventKind.STEP_BREACHED, 2, {"due_at": due.isoformat()})]
        assert run.t.steps[1].breached
        assert workflow.sweep(run.t, due + H, SOP_006, CAL) == []
        run.complete(2, due + 2 * H)
        assert run.t.steps[1].breached
        assert [e.kind for e in run.events].count(EventKind.STEP_BREACHED) == 1

    def test_late_completion_records_the_breach_first(self) -> None:
        run = opened_run()
        events = run.complete(2, T0 + timedelta(days=2))
        assert [(e.kind, e.step, e.actor) for e in events] == [
            (EventKind.STEP_BREACHED, 2, "pantau"), (EventKind.STEP_COMPLETED, 2, "ahmad")]
        assert run.t.steps[1].breached
        assert not run.t.steps[2].breached

    def test_remaining_seconds(self) -> None:
        run = opened_run()
        assert workflow.remaining_seconds(run.t, at(3600), CAL) == 23 * 3600
        assert workflow.remaining_seconds(run.t, at(25 * 3600), CAL) == -3600

    def test_breached_predicate(self) -> None:
        run = opened_run()
        step2, step3 = run.t.steps[1:3]
        assert step2.due_at is not None
        assert not workflow.breached(step2, step2.due_at)
        assert workflow.breached(step2, step2.due_at + timedelta(microseconds=1))
        assert not workflow.breached(step3, T0 + timedelta(days=30))  # not started
        done = replace(step2, completed_at=step2.due_at + H)
        assert workflow.breached(done, T0)

    def test_working_calendar_due_time(self) -> None:
        """A step started Friday 15:00 WIB with 1 working day falls due Monday 15:00 WIB."""
        calendar = WorkingCalendar()
        run = Run(calendar=calendar)
        friday = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # 15:00 Asia/Jakarta
        run.open(auto_draft(at=friday))
        step2 = run.t.steps[1]
        assert step2.due_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        assert step2.due_at == calendar.add(friday, SOP_006.step(2).sla)
        saturday = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
        assert workflow.remaining_seconds(run.t, saturday, calendar) == 7.5 * 3600


    def test_due_time_across_idul_fitri_2026(self) -> None:
        """Started Tue 17 March 14:00 WIB, 1 working day skips Nyepi, Idul Fitri and cuti
        bersama (18-24 March) and the weekend: due Wed 25 March 14:00 WIB."""
        calendar = WorkingCalendar()
        run = Run(calendar=calendar)
        start = datetime(2026, 3, 17, 7, 0, tzinfo=UTC)
        run.open(auto_draft(at=start))
        assert run.t.steps[1].due_at == datetime(2026, 3, 25, 7, 0, tzinfo=UTC)
        during = datetime(2026, 3, 21, 3, 0, tzinfo=UTC)  # Idul Fitri, Saturday
        assert workflow.remaining_seconds(run.t, during, calendar) == 6.5 * 3600
        assert workflow.sweep(run.t, during, SOP_006, calendar) == []


class TestNote:
    """Notes are free comments by anyone, kept in the audit trail."""

    def test_note(self) -> None:
        run = opened_run()
        events = run.add(workflow.note(run.t, actor("kasi"), " cek lagi besok ", at(30)))
        assert [(e.kind, e.actor, e.role, e.data) for e in events] == [
            (EventKind.NOTE, "budi", "kasi", {"text": "cek lagi besok"})]

    def test_empty_note_is_refused(self) -> None:
        with refused("a note needs text"):
            workflow.note(opened_run().t, actor("kasi"), "  ", at(30))

    def test_note_on_a_closed_ticket(self) -> None:
        run = opened_run()
        run.advance_to(10, at(60))
        run.add(workflow.note(run.t, actor("admin"), "arsip", at(90)))
        assert run.t.status is TicketStatus.CLOSED


class TestFold:
    """The ticket is the fold of its events; apply refuses events that do not fit."""

    def test_fold_equals_the_ticket_built_step_by_step(self) -> None:
        run = opened_run()
        run.add(workflow.add_affected(run.t, ["ap-1"], at(10)))
        run.add(workflow.observe_restoration(run.t, at(20), Evidence()))
        run.advance_to(7, at(300))
        run.add(workflow.note(run.t, actor("teknisi"), "ganti kabel", at(400)))
        run.advance_to(10, at(500))
        run.add(workflow.reopen(run.t, Evidence(), at(600), SOP_006))
        run.add(workflow.sweep(run.t, at(600) + 2 * H, SOP_006, CAL))
        assert workflow.fold(run.events, SOP_006, CAL) == run.t
        assert run.t.steps[4].breached
        assert run.t.seq == len(run.events)

    def test_gap_in_seq_is_refused(self) -> None:
        run = opened_run()
        event = workflow.note(run.t, actor("kasi"), "x", at(30))[0]
        with refused(f"ticket {TICKET_ID}: event 4 does not follow event 2"):
            workflow.apply(run.t, replace(event, seq=4), SOP_006, CAL)

    def test_first_event_must_open(self) -> None:
        event = TicketEvent(TICKET_ID, 1, EventKind.NOTE, T0, "budi", "kasi", None, {})
        with refused(f"ticket {TICKET_ID}: the first event must be 'opened' with seq 1, "
                     "got note 1"):
            workflow.apply(None, event, SOP_006, CAL)

    def test_no_events(self) -> None:
        with refused("no events to fold"):
            workflow.fold([], SOP_006, CAL)

    def test_completion_of_another_step_is_refused(self) -> None:
        run = opened_run()
        event = TicketEvent(TICKET_ID, 3, EventKind.STEP_COMPLETED, at(30), "joko", "teknisi",
                            5, valid_output(SOP_006.step(5)))
        with refused(f"ticket {TICKET_ID}: step_completed of step 5 while at step 2"):
            workflow.apply(run.t, event, SOP_006, CAL)

    def test_event_of_another_ticket(self) -> None:
        run = opened_run()
        event = replace(workflow.note(run.t, actor("kasi"), "x", at(30))[0], ticket_id="T-2")
        with refused(f"event of ticket T-2 applied to {TICKET_ID}"):
            workflow.apply(run.t, event, SOP_006, CAL)


class TestTicketJson:
    """The JSON shape is the API's ticket object, with times in the agency's zone."""

    def test_shape(self) -> None:
        run = opened_run()
        run.complete(2, at(600))
        doc = json_view.ticket_json(run.t, run.events)
        assert json.loads(json.dumps(doc)) == doc
        assert doc["id"] == TICKET_ID
        assert (doc["fault"], doc["trigger"], doc["status"], doc["current_step"]) == (
            "device_down", "auto", "open", 3)
        assert doc["opened_at"] == "2026-11-24T08:00:00+07:00"
        assert doc["steps"][1] == {
            "no": 2, "role": "kepala_dinas", "started_at": "2026-11-24T08:00:00+07:00",
            "due_at": "2026-11-25T08:00:00+07:00", "completed_at": "2026-11-24T08:10:00+07:00",
            "completed_by": "ahmad", "breached": False,
            "output": valid_output(SOP_006.step(2)),
        }
        assert doc["audit"][2] == {
            "seq": 3, "kind": "step_completed", "at": "2026-11-24T08:10:00+07:00",
            "actor": "ahmad", "role": "kepala_dinas", "step": 2,
            "data": valid_output(SOP_006.step(2)),
        }
        for key in ("owner", "flapping", "affected", "item", "evidence", "restored",
                    "restoration_observed_at", "closed_at", "reopened", "sop_version",
                    "last_verification"):
            assert key in doc

    def test_without_events_there_is_no_audit(self) -> None:
        doc = json_view.ticket_json(opened_run().t, tz="UTC")
        assert "audit" not in doc
        assert doc["opened_at"] == "2026-11-24T01:00:00+00:00"
