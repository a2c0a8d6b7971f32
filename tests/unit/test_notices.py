"""Who is told what: ticketing.notices turns ticket events and SLA warnings into Envelopes."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from agent.core.outbox import Envelope
from tests.workflow_support import T0, Run, actor, auto_draft, manual_draft, valid_output
from ticketing import workflow
from ticketing.calendar import Calendar, CalendarTime, WorkingCalendar
from ticketing.models import Ticket
from ticketing.notices import Directory, Group, NoticeRules, Recipient
from ticketing.payloads import Evidence, Verification
from ticketing.sop import SOP_006

H = timedelta(hours=1)
WIB = timedelta(hours=7)
BASE = "https://pantau.kotabogor.example"

PEOPLE = (
    Recipient("ahmad", "kepala_dinas", full_name="Drs. Ahmad, M.Si",
              addresses=(("telegram", "1001"), ("email", "kadis@kotabogor.example"))),
    Recipient("rina", "kabid", addresses=(("telegram", "1002"),)),
    Recipient("budi", "kasi", addresses=(("email", "budi@kotabogor.example"),)),
    Recipient("joko", "teknisi", full_name="Joko Susilo, S.Kom",
              addresses=(("telegram", "1004"),)),
    Recipient("rudi", "teknisi", full_name="Rudi Hartono", addresses=(("telegram", "1005"),)),
    Recipient("siti", "perangkat_daerah", owner="Dinas Kesehatan", language="en",
              addresses=(("email", "siti@dinkes.example"),)),
    Recipient("dewi", "perangkat_daerah", owner="Dinas Pendidikan",
              addresses=(("email", "dewi@disdik.example"),)),
    Recipient("nobody", "kasi"),  # no channel: nothing to send
)
WA = Group("wa-gateway", "webhook:wa-gateway", ("kepala_dinas", "kabid"))
NOC = Group("noc", "telegram", ("teknisi",), address="-100200")
DIRECTORY = Directory(PEOPLE, (WA, NOC))


def rules(calendar: Calendar | None = None, **changes: object) -> NoticeRules:
    made = NoticeRules(DIRECTORY, SOP_006, calendar or CalendarTime(), BASE)
    return replace(made, **changes) if changes else made  # type: ignore[arg-type]


def who(envelopes: list[Envelope]) -> set[str]:
    return {e.recipient for e in envelopes}


def opened(draft_at: datetime = T0, calendar: Calendar | None = None, manual: bool = False
           ) -> tuple[Run, list[Envelope]]:
    run = Run(calendar=calendar or CalendarTime())
    run.open(manual_draft(at=draft_at) if manual else auto_draft(at=draft_at))
    return run, rules(calendar).for_new(run.t, run.events)


def step(run: Run, no: int, now: datetime, calendar: Calendar | None = None,
         to: str | None = None) -> list[Envelope]:
    """Complete step `no` (with `to` in its document) and return its messages."""
    run.advance_to(no, now)
    before = run.t
    output = valid_output(SOP_006.step(no))
    if to is not None:
        output["to"] = to
    events = run.complete(no, now, output=output) if not SOP_006.step(no).gate else (
        run.complete(no, now, output=output, verified=_passed(now)))
    return rules(calendar).for_events(before, events, run.t)


def _passed(now: datetime) -> Verification:
    return Verification.from_json({"passed": True, "started_at": (now - H).isoformat(),
                                   "finished_at": now.isoformat(), "reason": "ok", "probes": []})


class TestOpened:
    """A filed ticket tells the Kepala Dinas and the owning agency, once each per channel."""

    def test_kepala_dinas_and_the_owning_agency(self) -> None:
        _, out = opened()
        assert who(out) == {"ahmad", "siti", "wa-gateway"}
        assert {e.kind for e in out} == {"ticket_opened"}
        assert Counter((e.recipient, e.channel) for e in out) == Counter({
            ("ahmad", "telegram"): 1, ("ahmad", "email"): 1, ("siti", "email"): 1,
            ("wa-gateway", "webhook:wa-gateway"): 1})

    def test_addresses_and_step_two_in_the_document(self) -> None:
        _, out = opened()
        by = {(e.recipient, e.channel): e.message for e in out}
        assert by["ahmad", "telegram"].address == "1001"
        assert by["wa-gateway", "webhook:wa-gateway"].address == ""
        assert by["ahmad", "email"].document["step"] == 2  # the Kepala Dinas's disposition

    def test_email_html_breaks_lines_telegram_html_cannot(self) -> None:
        _, out = opened()
        by = {(e.recipient, e.channel): e.message for e in out}
        mail, chat = by["ahmad", "email"].html, by["ahmad", "telegram"].html
        assert mail is not None
        assert chat is not None
        assert "<br>" not in chat
        assert mail == chat.replace("\n", "<br>\n")
        assert by["siti", "email"].text.startswith("New ticket: Device unreachable\n")

    def test_device_down_ticket_is_urgent_at_night(self) -> None:
        night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 22:00 WIB
        _, out = opened(night, WorkingCalendar())
        assert {e.not_before for e in out} == {night}

    def test_manual_request_at_night_waits_for_the_working_morning(self) -> None:
        night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 22:00 WIB
        _, out = opened(night, WorkingCalendar(), manual=True)
        morning = datetime(2026, 11, 25, 7, 30, tzinfo=UTC) - WIB  # Wednesday 07:30 WIB
        assert {e.not_before for e in out} == {morning}
        assert {e.created_at for e in out} == {night}

    def test_manual_request_in_working_hours_goes_now(self) -> None:
        _, out = opened(T0, WorkingCalendar(), manual=True)
        assert {e.not_before for e in out} == {T0}

    def test_a_24x7_calendar_never_defers(self) -> None:
        night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
        _, out = opened(night, CalendarTime(), manual=True)
        assert {e.not_before for e in out} == {night}


class TestHandOff:
    """Each completed step tells the users of the next step's role."""

    @pytest.mark.parametrize(("no", "expected"), [
        (2, {"rina", "wa-gateway"}), (3, {"budi"}), (7, {"budi"}), (8, {"rina", "wa-gateway"}),
    ])
    def test_next_role(self, no: int, expected: set[str]) -> None:
        run, _ = opened()
        out = step(run, no, T0 + H)
        assert who(out) == expected
        assert {e.kind for e in out} == {"step_ready"}
        assert {e.message.document["step"] for e in out} == {no + 1}

    def test_the_named_teknisi_only(self) -> None:
        run, _ = opened()
        assert who(step(run, 4, T0 + H, to="Joko Susilo, S.Kom")) == {"joko", "noc"}

    def test_named_by_user_name_in_a_list(self) -> None:
        run, _ = opened()
        assert who(step(run, 4, T0 + H, to="Rudi dan budi")) == {"rudi", "noc"}

    def test_every_teknisi_when_the_disposition_names_none(self) -> None:
        run, _ = opened()
        assert who(step(run, 4, T0 + H, to="Staf/Teknisi")) == {"joko", "rudi", "noc"}

    @pytest.mark.parametrize("no", [5, 6])
    def test_steps_five_to_seven_keep_the_named_teknisi(self, no: int) -> None:
        run, _ = opened()
        step(run, 4, T0 + H, to="joko")
        assert who(step(run, no, T0 + 2 * H)) == {"joko", "noc"}

    def test_last_step_closes_and_tells_agency_and_kasi(self) -> None:
        run, _ = opened()
        out = step(run, 9, T0 + H)
        assert {(e.kind, e.recipient) for e in out} == {
            ("ticket_closed", "siti"), ("ticket_closed", "budi")}


class TestBreach:
    """A breach tells the step's role and the next role up the escalation chain, at once."""

    def breach(self, no: int, calendar: Calendar | None = None, to: str = "joko",
               late: datetime = T0 + timedelta(days=3), **changes: object) -> list[Envelope]:
        run = Run(calendar=calendar or CalendarTime())
        run.open(auto_draft())
        if no > 4:
            step(run, 4, T0, calendar, to=to)
        run.advance_to(no, T0)
        before = run.t
        events = run.add(workflow.sweep(run.t, late, SOP_006, run.calendar))
        return rules(calendar, **changes).for_events(before, events, run.t)

    def test_teknisi_step_escalates_to_kasi(self) -> None:
        out = self.breach(5)
        assert who(out) == {"joko", "budi", "noc"}
        assert {e.kind for e in out} == {"sla_breached"}
        assert all("Dieskalasi kepada: Kepala Seksi" in e.message.text for e in out)

    def test_kabid_step_escalates_to_kepala_dinas_group_gets_one_copy(self) -> None:
        out = self.breach(3)
        assert who(out) == {"rina", "ahmad", "wa-gateway"}
        assert sum(e.recipient == "wa-gateway" for e in out) == 1

    def test_top_of_the_chain_has_no_one_above(self) -> None:
        out = self.breach(2)
        assert who(out) == {"ahmad", "wa-gateway"}
        assert not any("Dieskalasi" in e.message.text for e in out)

    def test_chain_is_configurable(self) -> None:
        out = self.breach(5, escalation=("teknisi", "kabid"))
        assert who(out) == {"joko", "rina", "noc", "wa-gateway"}

    def test_breach_is_urgent_at_night(self) -> None:
        night = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday 22:00 WIB
        out = self.breach(4, WorkingCalendar(), late=night)
        assert who(out) == {"budi", "rina", "wa-gateway"}
        assert all(e.not_before == e.created_at == night for e in out)

    def test_late_completion_sends_no_breach(self) -> None:
        run, _ = opened()
        out = step(run, 2, T0 + timedelta(days=2))
        assert run.t.steps[1].breached  # the completion recorded the breach first
        assert [e.kind for e in out if e.kind == "sla_breached"] == []
        assert who(out) == {"rina", "wa-gateway"}


class TestFollowUps:
    """Restoration, verification, closure and reopening tell the agency and the kasi."""

    def test_restoration_and_verification(self) -> None:
        run, _ = opened()
        before = run.t
        now = T0 + H
        events = run.add(workflow.observe_restoration(run.t, now))
        events += run.add(workflow.record_verification(run.t, _passed(now), now,
                                                       actor("teknisi")))
        failed = Verification.from_json({"passed": False, "started_at": now.isoformat(),
                                         "finished_at": now.isoformat(),
                                         "reason": "sw icmp: timeout", "probes": []})
        events += run.add(workflow.record_verification(run.t, failed, now, actor("teknisi")))
        out = rules().for_events(before, events, run.t)
        assert Counter(e.kind for e in out) == Counter({
            "restoration_observed": 2, "verification_passed": 2, "verification_failed": 2})
        assert who(out) == {"siti", "budi"}

    def test_reopened_also_tells_the_teknisi(self) -> None:
        run, _ = opened()
        step(run, 4, T0, to="joko")
        run.advance_to(10, T0 + H)
        before = run.t
        events = run.add(workflow.reopen(run.t, Evidence(), T0 + 2 * H, SOP_006))
        out = rules().for_events(before, events, run.t)
        assert who(out) == {"siti", "budi", "joko", "noc"}
        assert {e.message.document["step"] for e in out} == {5}

    def test_notes_and_other_events_tell_no_one(self) -> None:
        run, _ = opened()
        before = run.t
        events = run.add(workflow.note(run.t, actor("kasi"), "dicek besok", T0 + H))
        events += run.add(workflow.add_affected(run.t, ["ap-01"], T0 + H))
        assert rules().for_events(before, events, run.t) == []


class TestKeys:
    """Keys are deterministic and unique per event, recipient and channel."""

    def batches(self) -> list[list[Envelope]]:
        """Every message of one whole run, built event by event from its stored events."""
        run = Run()
        run.open(auto_draft())
        step(run, 4, T0, to="Staf/Teknisi")
        run.advance_to(10, T0 + H)
        replay = Run()
        out = []
        for event in run.events:
            before = replay.ticket
            replay.add([event])
            out.append(rules().for_events(before, [event], replay.t))
        return out

    def test_unique_and_stable(self) -> None:
        keys = [env.message.key for batch in self.batches() for env in batch]
        assert keys == [env.message.key for batch in self.batches() for env in batch]
        assert len(keys) == len(set(keys)) > 10
        assert "SOP006-2026-000001/1/ahmad/telegram" in keys

    def test_duplicate_names_are_refused(self) -> None:
        with pytest.raises(ValueError, match="'ahmad' is given twice"):
            Directory(PEOPLE, (Group("ahmad", "webhook:x", ("kasi",)),))


class TestWarnings:
    """The open step at 80 % of its SLA warns its role; repeats give the same keys."""

    def ticket(self, calendar: Calendar) -> Ticket:
        run = Run(calendar=calendar)
        run.open(auto_draft())  # step 2 (1 day) starts at T0, Tuesday 08:00 WIB
        return run.t

    def test_calendar_day_at_80_percent_and_not_before(self) -> None:
        ticket = self.ticket(CalendarTime())
        assert rules().warnings(ticket, T0 + timedelta(hours=19.1)) == []
        out = rules().warnings(ticket, T0 + timedelta(hours=19.2))
        assert who(out) == {"ahmad", "wa-gateway"}
        assert {e.kind for e in out} == {"sla_warning"}
        again = rules().warnings(ticket, T0 + timedelta(hours=20))
        assert [e.message.key for e in out] == [e.message.key for e in again]
        assert out[0].message.key.startswith(
            f"SOP006-2026-000001/warn/2/{T0.isoformat()}/")

    def test_configurable_percentage(self) -> None:
        ticket = self.ticket(CalendarTime())
        assert rules(warn_at_percent=50).warnings(ticket, T0 + timedelta(hours=12))

    def test_working_day_counts_working_hours(self) -> None:
        cal = WorkingCalendar()
        ticket = self.ticket(cal)  # 8.5 working hours: 80 % at 14:48 WIB
        assert rules(cal).warnings(ticket, T0 + timedelta(hours=6.5)) == []  # 14:30
        out = rules(cal).warnings(ticket, T0 + timedelta(hours=7))  # 15:00
        assert out
        assert all(e.not_before == e.created_at for e in out)

    def test_warning_at_night_waits_for_the_morning(self) -> None:
        cal = WorkingCalendar()
        night = T0 + timedelta(hours=14)  # Tuesday 22:00 WIB, 8 of 8.5 hours used
        out = rules(cal).warnings(self.ticket(cal), night)
        morning = datetime(2026, 11, 25, 7, 30, tzinfo=UTC) - WIB
        assert {e.not_before for e in out} == {morning}

    def test_past_due_or_breached_gives_no_warning(self) -> None:
        ticket = self.ticket(CalendarTime())
        late = T0 + timedelta(hours=25)
        assert rules().warnings(ticket, late) == []
        marked = Run(events=[], calendar=CalendarTime())
        marked.ticket = ticket
        marked.add(workflow.sweep(ticket, late, SOP_006, CalendarTime()))
        assert rules().warnings(marked.t, T0 + timedelta(hours=20)) == []

    def test_closed_ticket_gives_no_warning(self) -> None:
        run = Run()
        run.open(auto_draft())
        run.advance_to(10, T0 + H)
        assert rules().warnings(run.t, T0 + 2 * H) == []
