"""Who is told what: ticket events (and SLA warnings) become the Envelopes to queue, one per
recipient and channel, with deterministic idempotency keys and a work-hours `not_before`.

Pure: `now` is an event's time or passed in. The words come from ticketing.messages; the
recipients are plain values the wiring (agent/app.py) builds from the configured users and
webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from agent.core.outbox import Envelope, Message
from ticketing import workflow
from ticketing.audiences import DEFAULT_ROLES, Rule, check_rules
from ticketing.calendar import Calendar
from ticketing.messages import Notice, Text, html_for, render
from ticketing.models import EventKind, Ticket, TicketEvent, Trigger
from ticketing.sop import Role, Sla, Sop, StepSpec

AGENCY, TEKNISI = Role.PERANGKAT_DAERAH.value, Role.TEKNISI.value
#: Whom a breach reaches beyond the step's role: the next role up this chain (the default of
#: `[notify] escalation`).
ESCALATION: tuple[str, ...] = (
    Role.TEKNISI.value, Role.KASI.value, Role.KABID.value, Role.KEPALA_DINAS.value)
_NOW = Sla(0, "minute")  # calendar.add(t, _NOW): the next working moment at or after t


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person: a role (and the agency, for perangkat_daerah), a language ("id" or "en"),
    and where to reach them: (channel, address) pairs such as ("telegram", "123456789"),
    ("email", "kadis@kotabogor.example")."""

    name: str
    role: str
    owner: str | None = None
    language: str = "id"
    full_name: str = ""
    addresses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """A shared destination that receives the messages of `roles` too: a webhook (channel
    "webhook:<name>", address "" since it has one URL) or a group chat (channel "telegram",
    address its chat id)."""

    name: str
    channel: str
    roles: tuple[str, ...]
    address: str = ""
    language: str = "id"


@dataclass(frozen=True, slots=True)
class Directory:
    """Everyone who can be told: users and groups, their names unique together (a name is
    part of each message's idempotency key). Raises ValueError for a name given twice."""

    recipients: tuple[Recipient, ...] = ()
    groups: tuple[Group, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for name in [r.name for r in self.recipients] + [g.name for g in self.groups]:
            if name in seen:
                raise ValueError(f"recipient name {name!r} is given twice")
            seen.add(name)

    def by_role(self, role: str) -> tuple[Recipient, ...]:
        """The users of `role`; for perangkat_daerah use `by_agency`."""
        return tuple(r for r in self.recipients if r.role == role)

    def by_agency(self, owner: str) -> tuple[Recipient, ...]:
        """The perangkat_daerah users of the agency `owner`."""
        return tuple(r for r in self.recipients if r.role == AGENCY and r.owner == owner)

    def groups_for(self, roles: Iterable[str]) -> tuple[Group, ...]:
        """The groups that take the messages of any of `roles`, each once."""
        wanted = set(roles)
        return tuple(g for g in self.groups if wanted.intersection(g.roles))


@dataclass(frozen=True, slots=True)
class _Audience:
    """One rule's outcome: the message kind, its step, the roles it is for (groups follow
    roles), the people, and whether it goes out now even outside working hours."""

    kind: str
    step: StepSpec | None
    due_at: datetime | None
    roles: frozenset[str]
    people: tuple[Recipient, ...]
    urgent: bool = False
    escalated_to: str = ""


@dataclass(frozen=True, slots=True)
class NoticeRules:
    """The default rules of issue 12 (see `for_events` and `warnings`), each kind's audience
    and urgency overridable by `rules` (kind -> ticketing.audiences.Rule; ValueError for an
    unknown kind or role). Times in messages are written in the device's zone (`zones`,
    device -> zone) or `tz`."""

    directory: Directory
    sop: Sop
    calendar: Calendar
    base_url: str
    warn_at_percent: float = 80.0
    escalation: tuple[str, ...] = ESCALATION
    tz: str = "Asia/Jakarta"
    zones: Mapping[str, str] = field(default_factory=dict)
    rules: Mapping[str, Rule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.warn_at_percent < 100:
            raise ValueError(f"warn_at_percent must be between 0 and 100, "
                             f"got {self.warn_at_percent}")
        check_rules(self.rules)
        object.__setattr__(self, "zones", MappingProxyType(dict(self.zones)))
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    # -- rules -----------------------------------------------------------------------------

    def for_events(self, before: Ticket | None, events: Sequence[TicketEvent], after: Ticket
                   ) -> list[Envelope]:
        """The messages `events` cause, `after` being the ticket they fold into (`before`
        None for a new ticket). By default (ticketing.audiences.DEFAULT_ROLES):

        - OPENED: the kepala_dinas users and the owning agency's (urgent for an automatic,
          device-down ticket). Step 1 is completed at filing, so it gives no second message.
        - STEP_COMPLETED: the users of the next step's role; for the teknisi, those the
          disposition to the teknisi names in its `to` (every teknisi when it names none).
        - STEP_BREACHED (urgent): the step's role and the next role up `escalation`; not
          for a step already completed (a late completion records its breach first).
        - RESTORATION_OBSERVED, VERIFICATION, CLOSED: the agency and the kasi.
        - REOPENED: the agency, the kasi, and the teknisi, whose check (step 5) it is again.

        A kind's Rule in `rules` replaces its roles and its urgency; for a kind about one
        step (step_ready, sla_warning, sla_breached) the rule's roles are told besides the
        step's own role (unless its `step_role` is False) and a breach's escalation. Every
        group whose roles meet the message's roles gets one copy.
        """
        out: list[Envelope] = []
        for event in events:
            for audience in self._audiences(before, event, after):
                out += self._envelopes(audience, after, f"{after.id}/{event.seq}", event.at)
        return out

    def for_new(self, ticket: Ticket, events: Sequence[TicketEvent]) -> list[Envelope]:
        """`for_events` for a new ticket: the backend's `Notices` for `open()`."""
        return self.for_events(None, events, ticket)

    def warnings(self, ticket: Ticket, now: datetime) -> list[Envelope]:
        """For the open step at `warn_at_percent` or more of its SLA (counted on the calendar)
        and not yet due: its role (and an sla_warning Rule's roles). The key names the step
        and its start, so the SLA sweep may call this at every look and the outbox keeps one warning
        per step run."""
        record = workflow.open_step(ticket)
        if (record is None or record.started_at is None or record.due_at is None
                or record.breached or now > record.due_at):
            return []
        spec = self.sop.find(record.no)
        total = self.calendar.remaining_seconds(record.started_at, record.due_at)
        if spec is None or total <= 0:
            return []
        elapsed = total - self.calendar.remaining_seconds(now, record.due_at)
        if elapsed * 100 < self.warn_at_percent * total:
            return []
        audience = self._audience("sla_warning", spec, record.due_at, ticket,
                                  step_role=spec.role.value)
        prefix = f"{ticket.id}/warn/{record.no}/{record.started_at.isoformat()}"
        return self._envelopes(audience, ticket, prefix, now)

    def _audiences(self, before: Ticket | None, event: TicketEvent, after: Ticket
                   ) -> list[_Audience]:
        kind = event.kind
        if kind is EventKind.STEP_COMPLETED and event.step is not None:
            nxt = self.sop.find(event.step + 1)
            record = after.step_record(event.step + 1)
            if (before is None and event.step == 1) or nxt is None or record is None:
                return []
            return [self._audience("step_ready", nxt, record.due_at, after,
                                   step_role=nxt.role.value)]
        if kind is EventKind.STEP_BREACHED and event.step is not None:
            spec, record = self.sop.find(event.step), after.step_record(event.step)
            if spec is None or record is None or record.completed_at is not None:
                return []
            return [self._audience("sla_breached", spec, record.due_at, after,
                                   step_role=spec.role.value, urgent=True,
                                   above=self._above(spec.role.value))]
        plain = {EventKind.OPENED: "ticket_opened",
                 EventKind.RESTORATION_OBSERVED: "restoration_observed",
                 EventKind.CLOSED: "ticket_closed", EventKind.REOPENED: "ticket_reopened"}
        if kind is EventKind.VERIFICATION:
            name = "verification_passed" if event.data.get("passed") is True else (
                "verification_failed")
        elif kind in plain:
            name = plain[kind]
        else:
            return []
        urgent = kind is EventKind.OPENED and after.trigger is Trigger.AUTO
        return [self._audience(name, *self._current(after), after, urgent=urgent)]

    def _audience(self, kind: str, step: StepSpec | None, due_at: datetime | None,
                  ticket: Ticket, *, step_role: str | None = None, urgent: bool = False,
                  above: tuple[str, ...] = ()) -> _Audience:
        """Who is told of `kind` and how soon: the rule's roles or the default ones, after
        the step's own role (`step_role`, unless the rule leaves it out) and before the
        escalation's (`above`); the rule's `wait_for_working_hours` over `urgent`."""
        rule = self.rules.get(kind, Rule())
        roles = [step_role] if step_role is not None and rule.step_role else []
        roles += DEFAULT_ROLES[kind] if rule.roles is None else rule.roles
        roles += above  # a role named twice is harmless: each person is told once
        if rule.wait_for_working_hours is not None:
            urgent = not rule.wait_for_working_hours
        people = tuple(p for role in roles for p in self._people(role, ticket))
        return _Audience(kind, step, due_at, frozenset(roles), people, urgent=urgent,
                         escalated_to="".join(above))

    # -- helpers ---------------------------------------------------------------------------

    def _current(self, ticket: Ticket) -> tuple[StepSpec | None, datetime | None]:
        record = workflow.open_step(ticket)
        if record is None:
            return None, None
        return self.sop.find(record.no), record.due_at

    def _above(self, role: str) -> tuple[str, ...]:
        chain = self.escalation
        return (chain[chain.index(role) + 1],) if role in chain[:-1] else ()

    def _people(self, role: str, ticket: Ticket) -> tuple[Recipient, ...]:
        if role == AGENCY:
            return self.directory.by_agency(ticket.owner)
        everyone = self.directory.by_role(role)
        if role != TEKNISI:
            return everyone
        named = tuple(r for r in everyone if _names(self._disposed_to(ticket), r))
        return named or everyone

    def _disposed_to(self, ticket: Ticket) -> str:
        """The `to` of the last completed step that hands the work to the teknisi."""
        for spec in reversed(self.sop.steps):
            record = ticket.step_record(spec.no)
            if (spec.hands_to is Role.TEKNISI and record is not None
                    and record.completed_at is not None):
                return record.output.text("to")
        return ""

    def _envelopes(self, audience: _Audience, ticket: Ticket, prefix: str, at: datetime
                   ) -> list[Envelope]:
        notice = Notice(audience.kind, ticket, audience.step, audience.due_at,
                        audience.escalated_to)
        not_before = at if audience.urgent else max(at, self.calendar.add(at, _NOW))
        texts: dict[str, Text] = {}

        def envelope(name: str, lang: str, channel: str, address: str) -> Envelope:
            if lang not in texts:
                texts[lang] = render(notice, lang, self.zones.get(ticket.device, self.tz),
                                     self.base_url)
            text = texts[lang]
            message = Message(key=f"{prefix}/{name}/{channel}", address=address,
                              subject=text.subject, text=text.text,
                              html=html_for(channel, text.html),
                              document=text.document)
            return Envelope(channel=channel, recipient=name, kind=audience.kind,
                            ticket_id=ticket.id, message=message, created_at=at,
                            not_before=not_before)

        out: list[Envelope] = []
        seen: set[str] = set()
        for person in audience.people:
            if person.name in seen:
                continue
            seen.add(person.name)
            out += [envelope(person.name, person.language, channel, address)
                    for channel, address in dict(person.addresses).items()]
        out += [envelope(g.name, g.language, g.channel, g.address)
                for g in self.directory.groups_for(audience.roles)]
        return out


def _names(to: str, person: Recipient) -> bool:
    """Whether the disposition's `to` names `person` (user name or full name, any case, as
    whole words: "joko" or "Joko Susilo, S.Kom" in "Joko Susilo, S.Kom dan Rudi")."""
    text = " ".join(to.casefold().split())
    for name in (person.name, person.full_name):
        words = " ".join(name.casefold().split())
        if words and re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text):
            return True
    return False
