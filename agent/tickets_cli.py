"""`pantau tickets list|show|file|complete|verify|note`: the ticket store from the command line
(works while the agent runs: the store is shared). Actions name a configured user with `--as`;
the action is checked against that user's role exactly as in the API and the pages."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from agent.app import Agent
from agent.config import Config
from agent.core.errors import ConfigError, ConfigProblem, InvalidTransition
from agent.core.refusals import refused
from agent.scheduler import Scheduler
from agent.wiring import open_collectors
from ticketing import json_view, workflow
from ticketing.backend import PAGE_MAX, TicketQuery
from ticketing.indonesian import LANGS
from ticketing.models import Ticket
from ticketing.service import TicketService
from ticketing.sop import Sop

#: Tickets `pantau tickets list` shows unless --limit says otherwise.
LIST_PAGE = 100


def page_limit(text: str) -> int:
    """--limit: a whole number in 1..PAGE_MAX."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= PAGE_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in 1..{PAGE_MAX}")
    return value


def add_parser(sub: Any, with_config: Any) -> None:
    tickets = sub.add_parser("tickets", help="list, show and act on SOP-006 tickets")
    tsub = tickets.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")

    ls = tsub.add_parser("list", help="tickets in the store")
    with_config(ls)
    ls.add_argument("--status", choices=["open", "closed", "all"], default="open")
    ls.add_argument("--owner", help="one agency's tickets only")
    ls.add_argument("--limit", type=page_limit, default=LIST_PAGE,
                    help=f"the most tickets listed (1..{PAGE_MAX}, default {LIST_PAGE})")
    ls.add_argument("--after", metavar="ID", help="the next page: after this ticket")
    ls.add_argument("--json", action="store_true")

    show = tsub.add_parser("show", help="one ticket with its steps, evidence and audit trail")
    with_config(show)
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.add_argument("--lang", choices=LANGS, default="en",
                      help="the language of reasons (default en; --json keeps the codes)")

    file = tsub.add_parser("file", help="file a manual request for an agency")
    with_config(file)
    file.add_argument("--as", dest="user", required=True, help="a configured user")
    file.add_argument("--device", required=True)
    file.add_argument("--owner", help="the agency (default: the device's, or the user's)")
    file.add_argument("--subject", required=True, help="Perihal")
    file.add_argument("--description", required=True, help="Uraian")
    file.add_argument("--json", action="store_true")
    _lang(file)

    complete = tsub.add_parser("complete", help="complete a step with its output document")
    with_config(complete)
    complete.add_argument("id")
    complete.add_argument("step", type=int)
    complete.add_argument("--as", dest="user", required=True, help="a configured user")
    complete.add_argument("--set", dest="fields", action="append", default=[],
                          metavar="FIELD=VALUE",
                          help="an output field, e.g. --set note='...' --set to=kasi; lists "
                               "are comma-separated, yes/no for booleans")
    complete.add_argument("--json", action="store_true")
    _lang(complete)

    verify = tsub.add_parser("verify", help="probe the ticket's devices live now")
    with_config(verify)
    verify.add_argument("id")
    verify.add_argument("--as", dest="user", required=True, help="a configured user")
    verify.add_argument("--json", action="store_true")
    verify.add_argument("--lang", choices=LANGS, default="en",
                        help="the language of reasons (default en)")

    note = tsub.add_parser("note", help="add a note to the audit trail")
    with_config(note)
    note.add_argument("id")
    note.add_argument("text")
    note.add_argument("--as", dest="user", required=True, help="a configured user")
    _lang(note)


def _lang(parser: Any) -> None:
    parser.add_argument("--lang", choices=LANGS, default="en",
                        help="the language of a refusal (default en)")


def parse_fields(sop: Sop, step: int, pairs: Sequence[str]) -> dict[str, Any]:
    """`--set` pairs typed by the step's document fields (unknown names left to the workflow
    to refuse with its message)."""
    spec = sop.find(step)
    kinds = {f.name: f.kind for f in spec.fields} if spec is not None else {}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidTransition(refused("cli_set_pair", pair=repr(pair)))
        kind = kinds.get(name, "text")
        if kind == "bool":
            low = value.strip().lower()
            if low not in ("yes", "no", "true", "false", "ya", "tidak", "1", "0"):
                raise InvalidTransition(refused("cli_set_bool", name=name, value=repr(value)))
            out[name] = low in ("yes", "true", "ya", "1")
        elif kind == "list":
            out[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            out[name] = value
    return out


def actor_for(config: Config, name: str) -> workflow.Actor:
    for user in config.users:
        if user.name == name:
            return workflow.Actor(name=user.name, role=user.role)
    known = ", ".join(u.name for u in config.users) or "none configured"
    raise ConfigError(config.source, [ConfigProblem(
        path="users", message=f"no user named {name!r} (known: {known})")])


async def run(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    agent = Agent(config)
    backend = await agent.open_store()
    try:
        async with open_collectors(config, agent.clock) as collectors:
            scheduler = Scheduler(clock=agent.clock, sink=lambda r: None,
                                  retrying=lambda d, c: False,
                                  max_in_flight=config.polling.max_in_flight)
            service = agent.build_service(backend, collectors, scheduler)
            return await _dispatch(config, service, args, out)
    finally:
        await backend.aclose()


def _json(out: TextIO, doc: object) -> None:
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")


async def _dispatch(config: Config, service: TicketService, args: argparse.Namespace,
                    out: TextIO) -> int:
    tz = config.sla.timezone
    cmd = args.tickets_command
    if cmd == "list":
        page = await service.page(TicketQuery(
            status=None if args.status == "all" else args.status, owner=args.owner,
            limit=args.limit, after=args.after))
        if args.json:
            _json(out, {"tickets": [json_view.ticket_json(t, tz=tz) for t in page.tickets],
                        "next": page.next})
        else:
            _table(page.tickets, service, out)
            if page.next is not None:
                out.write(f"(more: --after {page.next})\n")
        return 0
    if cmd == "show":
        ticket = await service.ticket(args.id)
        events = await service.events(args.id)
        doc = json_view.ticket_json(ticket, events, tz=tz)
        if args.json:
            _json(out, doc)
        else:
            _show(doc, out, ticket, args.lang)
        return 0
    actor = actor_for(config, args.user)
    if cmd == "file":
        device = next((d for d in config.devices if d.name == args.device), None)
        owner = args.owner or (device.owner if device else None)
        if owner is None:
            owner = next((u.owner for u in config.users if u.name == actor.name and u.owner),
                         None)
        if owner is None:
            raise InvalidTransition(refused("cli_owner_needed"))
        ticket = await service.file_manual(actor, device=args.device, owner=owner,
                                           subject=args.subject, description=args.description)
    elif cmd == "complete":
        fields = parse_fields(config.sop, args.step, args.fields)
        ticket = await service.complete(args.id, args.step, actor, fields)
    elif cmd == "verify":
        ticket, result = await service.verify(args.id, actor)
        if args.json:
            _json(out, result.to_json())
        else:
            out.write(f"{'PASSED' if result.passed else 'FAILED'}: "
                      f"{result.reason_in(args.lang)}\n")
            for p in result.probes:
                out.write(f"  round {p.round}  {p.device:<20} {p.check:<9} "
                          f"{p.item:<12} {p.status.upper():<8} {p.reason_in(args.lang)}\n")
        return 0 if result.passed else 1
    else:
        ticket = await service.note(args.id, actor, args.text)
    if getattr(args, "json", False):
        _json(out, json_view.ticket_json(ticket, tz=tz))
    else:
        out.write(f"{ticket.id}: {ticket.status.value}, step {ticket.current_step}\n")
    return 0


def _table(tickets: Sequence[Ticket], service: TicketService, out: TextIO) -> None:
    now = service.clock.now()
    rows = [("ID", "DEVICE", "OWNER", "FAULT", "STATUS", "STEP", "LEFT")]
    for t in tickets:
        left = "-"
        record = t.step_record(t.current_step)
        if record is not None and record.due_at is not None:
            secs = service.calendar.remaining_seconds(now, record.due_at)
            left = f"{secs / 3600:.1f} h" if abs(secs) >= 3600 else f"{secs / 60:.0f} min"
        rows.append((t.id, t.device + (f" {t.item}" if t.item else ""), t.owner, t.fault.value
                     + (" (flapping)" if t.flapping else ""), t.status.value,
                     str(t.current_step) if t.status.value == "open" else "-", left))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _show(doc: Mapping[str, Any], out: TextIO, ticket: Ticket, lang: str) -> None:
    out.write(f"{doc['id']}  {doc['device']}  {doc['owner']}  {doc['fault']}  "
              f"{doc['status']}  step {doc['current_step']}\n")
    if doc.get("affected"):
        out.write(f"affected: {', '.join(doc['affected'])}\n")
    if ticket.evidence.reason:
        out.write(f"reason: {ticket.evidence.reason_in(lang)}\n")
    if ticket.last_verification is not None:
        v = ticket.last_verification
        out.write(f"verification: {'PASSED' if v.passed else 'FAILED'}: "
                  f"{v.reason_in(lang)}\n")
    for s in doc["steps"]:
        mark = "x" if s["completed_at"] else ("!" if s["breached"] else " ")
        out.write(f" [{mark}] {s['no']} {s['role']:<17} due {s['due_at'] or '-':<26} "
                  f"{('by ' + s['completed_by']) if s['completed_by'] else ''}\n")
    for e in doc.get("audit", []):
        out.write(f"   {e['seq']:>3} {e['at']} {e['kind']:<20} {e['actor']} ({e['role']})"
                  f"{' step ' + str(e['step']) if e['step'] else ''}\n")


def main_tickets(config: Config, args: argparse.Namespace) -> int:
    return asyncio.run(run(config, args, sys.stdout))
