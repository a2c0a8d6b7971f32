"""`[notify.rules.<kind>]`: a kind's Rule replaces whom NoticeRules tells, and how soon."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.core.outbox import Envelope
from tests.unit.test_notices import BASE, DIRECTORY, WIB, H, who
from tests.workflow_support import T0, Run, auto_draft, manual_draft, valid_output
from ticketing import workflow
from ticketing.audiences import DEFAULT_ROLES, KINDS, ROLES, STEP_KINDS, Rule
from ticketing.calendar import Calendar, CalendarTime, WorkingCalendar
from ticketing.messages import HEADLINES
from ticketing.models import EventKind
from ticketing.notices import ESCALATION, NoticeRules
from ticketing.payloads import Evidence
from ticketing.sop import SOP_006, Role

NIGHT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 22:00 WIB
MORNING = datetime(2026, 11, 25, 7, 30, tzinfo=UTC) - WIB  # Wednesday 07:30 WIB


def with_rules(by_kind: Mapping[str, Rule], calendar: Calendar | None = None,
               escalation: tuple[str, ...] = ESCALATION) -> NoticeRules:
    return NoticeRules(DIRECTORY, SOP_006, calendar or CalendarTime(), BASE,
                       escalation=escalation, rules=by_kind)


def rules(calendar: Calendar | None = None, escalation: tuple[str, ...] = ESCALATION,
          **by_kind: Rule) -> NoticeRules:
    return with_rules(by_kind, calendar, escalation)


def opened(made: NoticeRules, at: datetime = T0, manual: bool = False) -> list[Envelope]:
    run = Run(calendar=made.calendar)
    run.open(manual_draft(at=at) if manual else auto_draft(at=at))
    return made.for_new(run.t, run.events)


def handed(made: NoticeRules, no: int, to: str = "joko") -> list[Envelope]:
    """The messages of completing step `no` (a disposition to the teknisi names `to`)."""
    run = Run()
    run.open(auto_draft())
    run.advance_to(no, T0)
    before = run.t
    output = valid_output(SOP_006.step(no))
    if "to" in output:
        output["to"] = to
    return made.for_events(before, run.complete(no, T0 + H, output=output), run.t)


def breached(made: NoticeRules, no: int, late: datetime = T0 + timedelta(days=3)
             ) -> list[Envelope]:
    run = Run(calendar=made.calendar)
    run.open(auto_draft())
    if no > 4:
        run.advance_to(4, T0)
        run.complete(4, T0, output={**valid_output(SOP_006.step(4)), "to": "joko"})
    run.advance_to(no, T0)
    before = run.t
    events = run.add(workflow.sweep(run.t, late, SOP_006, run.calendar))
    return made.for_events(before, events, run.t)


def whole_run(rules: NoticeRules) -> list[Envelope]:
    """Every message of one run with a restoration, a reopening, a breach and a warning,
    built event by event."""
    run = Run()
    run.open(auto_draft())
    run.complete(2, T0)
    run.complete(3, T0)
    run.complete(4, T0, output={**valid_output(SOP_006.step(4)), "to": "Staf/Teknisi"})
    run.add(workflow.observe_restoration(run.t, T0 + H))
    run.advance_to(10, T0 + H)
    run.add(workflow.reopen(run.t, Evidence(), T0 + 2 * H, SOP_006))
    run.add(workflow.sweep(run.t, T0 + timedelta(days=3), SOP_006, run.calendar))
    replay = Run()
    out = []
    for event in run.events:
        before = replay.ticket
        replay.add([event])
        out += rules.for_events(before, [event], replay.t)
        if event.kind is EventKind.REOPENED:  # step 5 again from T0 + 2 h, for an hour
            out += rules.warnings(replay.t, T0 + 2 * H + timedelta(minutes=50))
    return out


def kinds(envelopes: list[Envelope]) -> Counter[str]:
    return Counter(e.kind for e in envelopes)


class TestNoOverrideChangesNothing:
    """Rules that restate the defaults give exactly the default messages."""

    def test_empty_rules(self) -> None:
        default = whole_run(rules())
        assert len(default) > 20
        assert set(kinds(default)) >= {
            "ticket_opened", "step_ready", "restoration_observed", "ticket_closed",
            "ticket_reopened", "sla_breached", "sla_warning"}
        assert whole_run(with_rules({kind: Rule() for kind in KINDS})) == default

    def test_default_roles_written_out(self) -> None:
        written = {kind: Rule(roles=DEFAULT_ROLES[kind]) for kind in KINDS}
        assert whole_run(with_rules(written)) == whole_run(rules())


class TestReplaceRoles:
    """`roles` replaces the kind's default roles; groups follow the new roles."""

    def test_ticket_opened_to_other_roles(self) -> None:
        out = opened(rules(ticket_opened=Rule(roles=("kabid", "kasi"))))
        assert who(out) == {"rina", "budi", "wa-gateway"}  # not ahmad, not the agency
        assert {e.kind for e in out} == {"ticket_opened"}

    def test_the_agency_is_still_the_owning_one(self) -> None:
        out = opened(rules(ticket_opened=Rule(roles=("perangkat_daerah",))))
        assert who(out) == {"siti"}  # not dewi of Dinas Pendidikan, and no group

    def test_teknisi_are_still_the_named_one(self) -> None:
        run = Run()
        run.open(auto_draft())
        run.advance_to(4, T0)
        run.complete(4, T0, output={**valid_output(SOP_006.step(4)), "to": "joko"})
        run.advance_to(10, T0 + H)
        before = run.t
        events = run.add(workflow.reopen(run.t, Evidence(), T0 + 2 * H, SOP_006))
        out = rules(ticket_reopened=Rule(roles=("teknisi",))).for_events(before, events, run.t)
        assert who(out) == {"joko", "noc"}

    def test_empty_roles_turn_the_kind_off(self) -> None:
        run = Run()
        run.open(auto_draft())
        before = run.t
        events = run.add(workflow.observe_restoration(run.t, T0 + H))
        off = rules(restoration_observed=Rule(roles=()))
        assert off.for_events(before, events, run.t) == []
        assert who(rules().for_events(before, events, run.t)) == {"siti", "budi"}

    def test_only_the_named_kind_changes(self) -> None:
        default = kinds(whole_run(rules()))
        assert default["restoration_observed"] > 0
        del default["restoration_observed"]
        assert kinds(whole_run(rules(restoration_observed=Rule(roles=())))) == default


class TestUrgency:
    """`wait_for_working_hours` overrides a kind's own urgency, either way."""

    def test_device_down_ticket_made_to_wait(self) -> None:
        made = rules(WorkingCalendar(), ticket_opened=Rule(wait_for_working_hours=True))
        out = opened(made, NIGHT)
        assert out
        assert {e.not_before for e in out} == {MORNING}
        assert {e.not_before for e in opened(rules(WorkingCalendar()), NIGHT)} == {NIGHT}

    def test_manual_request_made_urgent(self) -> None:
        made = rules(WorkingCalendar(), ticket_opened=Rule(wait_for_working_hours=False))
        assert {e.not_before for e in opened(made, NIGHT, manual=True)} == {NIGHT}
        assert {e.not_before for e in opened(rules(WorkingCalendar()), NIGHT, manual=True)
                } == {MORNING}

    def test_breach_made_to_wait(self) -> None:
        night = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday 22:00 WIB
        made = rules(WorkingCalendar(), sla_breached=Rule(wait_for_working_hours=True))
        out = breached(made, 4, late=night)
        assert who(out) == {"budi", "rina", "wa-gateway"}  # the roles stay the default
        friday = datetime(2026, 11, 27, 7, 30, tzinfo=UTC) - WIB
        assert {e.not_before for e in out} == {friday}

    def test_urgency_alone_keeps_the_roles(self) -> None:
        made = rules(ticket_opened=Rule(wait_for_working_hours=True))
        assert who(opened(made)) == {"ahmad", "siti", "wa-gateway"}


class TestStepReady:
    """step_ready: `roles` are told besides the next step's role; `step_role = false`
    leaves that role out."""

    def test_extra_roles_besides_the_next_steps(self) -> None:
        out = handed(rules(step_ready=Rule(roles=("kabid",))), 4)
        assert who(out) == {"joko", "noc", "rina", "wa-gateway"}  # the named teknisi stays
        assert {e.message.document["step"] for e in out} == {5}

    def test_the_next_steps_role_named_again_is_told_once(self) -> None:
        out = handed(rules(step_ready=Rule(roles=("kabid",))), 2)  # step 3 is the kabid's
        assert Counter((e.recipient, e.channel) for e in out) == Counter({
            ("rina", "telegram"): 1, ("wa-gateway", "webhook:wa-gateway"): 1})

    def test_step_role_left_out_replaces_it(self) -> None:
        out = handed(rules(step_ready=Rule(roles=("kabid",), step_role=False)), 4)
        assert who(out) == {"rina", "wa-gateway"}

    def test_off(self) -> None:
        assert handed(rules(step_ready=Rule(roles=(), step_role=False)), 4) == []
        assert handed(rules(step_ready=Rule(roles=())), 4) != []  # the step's role stays


class TestWarning:
    """sla_warning: the same shape as step_ready, for the open step."""

    def ticket_at_90_percent(self, made: NoticeRules) -> list[Envelope]:
        run = Run()
        run.open(auto_draft())  # step 2, the kepala_dinas's, a calendar day from T0
        return made.warnings(run.t, T0 + timedelta(hours=21.6))

    def test_extra_role(self) -> None:
        out = self.ticket_at_90_percent(rules(sla_warning=Rule(roles=("kasi",))))
        assert who(out) == {"ahmad", "wa-gateway", "budi"}
        assert {e.kind for e in out} == {"sla_warning"}

    def test_off(self) -> None:
        made = rules(sla_warning=Rule(roles=(), step_role=False))
        assert self.ticket_at_90_percent(made) == []


class TestBreach:
    """sla_breached: `roles` besides the step's role; the escalation still adds the role
    above unless `escalation` leaves it out."""

    def test_extra_role_and_the_escalation(self) -> None:
        out = breached(rules(sla_breached=Rule(roles=("kabid",))), 5)
        assert who(out) == {"joko", "noc", "budi", "rina", "wa-gateway"}
        assert all("Dieskalasi kepada: Kepala Seksi" in e.message.text for e in out)

    def test_only_the_escalation(self) -> None:
        out = breached(rules(sla_breached=Rule(roles=(), step_role=False)), 5)
        assert who(out) == {"budi"}
        assert all("Dieskalasi kepada: Kepala Seksi" in e.message.text for e in out)

    def test_no_escalation_and_no_role_is_off(self) -> None:
        made = rules(escalation=(), sla_breached=Rule(roles=(), step_role=False))
        assert breached(made, 5) == []
        assert who(breached(rules(escalation=()), 5)) == {"joko", "noc"}

    def test_the_role_above_named_too_is_told_once(self) -> None:
        out = breached(rules(sla_breached=Rule(roles=("kasi",))), 5)
        assert Counter(e.recipient for e in out) == Counter({"joko": 1, "noc": 1, "budi": 1})


class TestRefused:
    """NoticeRules refuses a rule it cannot apply."""

    @pytest.mark.parametrize(("by_kind", "match"), [
        ({"ticket_open": Rule()}, "unknown message kind 'ticket_open'"),
        ({"ticket_opened": Rule(roles=("kabidd",))}, "unknown role 'kabidd'"),
        ({"ticket_opened": Rule(roles=("kasi", "kasi"))}, "given twice"),
        ({"ticket_closed": Rule(step_role=False)}, "step_role is only for"),
    ])
    def test_value_error(self, by_kind: dict[str, Rule], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            with_rules(by_kind)

    def test_rules_are_read_only(self) -> None:
        made = rules(ticket_opened=Rule(roles=()))
        with pytest.raises(TypeError):
            made.rules["step_ready"] = Rule()  # type: ignore[index]


README = Path(__file__).resolve().parents[2] / "README.md"


class TestOneListOfKinds:
    """KINDS is the one list: the messages, the defaults and the README follow it."""

    def test_messages_and_defaults(self) -> None:
        assert set(HEADLINES) == set(KINDS)
        assert tuple(DEFAULT_ROLES) == KINDS
        assert set(STEP_KINDS) < set(KINDS)
        assert tuple(r.value for r in Role) == ROLES

    def test_readme_table(self) -> None:
        text = README.read_text(encoding="utf-8")
        start = text.index("\n### Notifications\n")
        section = text[start:text.index("\n### ", start + 1)]
        table = section[section.index("| kind | when | to |"):]
        table = table[:table.index("\n\n")]
        rows = [line for line in table.splitlines() if line.startswith("| `")]
        kinds = [k for line in rows for k in re.findall(r"`([a-z_]+)`", line.split("|")[1])]
        assert sorted(kinds) == sorted(KINDS)
        for kind in STEP_KINDS:
            assert "besides" in next(r for r in rows if f"`{kind}`" in r.split("|")[1])

    def test_readme_documents_the_keys(self) -> None:
        text = README.read_text(encoding="utf-8")
        for needle in ("[notify.rules.ticket_opened]", "`notify.rules.<kind>`", "step_role",
                       "wait_for_working_hours"):
            assert needle in text, needle
