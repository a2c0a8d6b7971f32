"""The words of the workflow's messages: one Notice (what happened to a ticket) becomes a
subject, plain text, Telegram-safe HTML and a webhook document, in Indonesian or English.

Pure. Times are written in the device's local zone ("Senin, 7 Desember 2026 09.00 WIB");
the month, day, zone and role names are ticketing/indonesian.py's (the pages use them too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from agent.core.reason_text import coded
from ticketing.indonesian import (
    DAYS,
    DAYS_EN,
    LANGS,
    MONTHS,
    MONTHS_EN,
    ROLE_LABELS,
    fault_title_en,
    zone_name,
)
from ticketing.models import Ticket, Trigger
from ticketing.sop import StepSpec

_MONTHS = {"id": MONTHS, "en": MONTHS_EN}
_DAYS = {"id": DAYS, "en": DAYS_EN}

#: kind -> (Indonesian headline, English headline); {no} is the step's number, {fault} the
#: ticket's fault.
HEADLINES = {
    "ticket_opened": ("Tiket baru: {fault}", "New ticket: {fault}"),
    "step_ready": ("Langkah {no} menunggu tindakan", "Step {no} is waiting for action"),
    "sla_warning": ("Batas waktu langkah {no} hampir habis", "Step {no} is nearly due"),
    "sla_breached": ("Langkah {no} melewati batas waktu", "Step {no} is past its due time"),
    "restoration_observed": ("Gangguan sudah tidak teramati (pemulihan teramati)",
                             "The fault has cleared (restoration observed)"),
    "verification_passed": ("Verifikasi langsung berhasil", "Live verification passed"),
    "verification_failed": ("Verifikasi langsung gagal", "Live verification failed"),
    "ticket_closed": ("Tiket selesai", "Ticket closed"),
    "ticket_reopened": ("Tiket dibuka kembali: {fault}", "Ticket reopened: {fault}"),
}
#: label -> (Indonesian, English)
_LABELS = {
    "fault": ("Gangguan", "Fault"),
    "device": ("Perangkat", "Device"),
    "owner": ("Perangkat Daerah", "Agency"),
    "step": ("Langkah {no}", "Step {no}"),
    "role": ("Pelaksana", "Role"),
    "due": ("Batas waktu", "Due"),
    "link": ("Buka tiket", "Open the ticket"),
    "ticket": ("Tiket", "Ticket"),
    "subject": ("Perihal", "Subject"),
    "escalated": ("Dieskalasi kepada", "Escalated to"),
    "reason": ("Keterangan", "Reason"),
}
#: The notices that say why: the fault's evidence, or the live verification's verdict.
_WHY_EVIDENCE = frozenset({"ticket_opened", "ticket_reopened"})
_WHY_VERIFICATION = frozenset({"verification_passed", "verification_failed"})


@dataclass(frozen=True, slots=True)
class Notice:
    """What one message is about: `kind` (a HEADLINES key) on `ticket`, the step concerned
    (the open step, or the warned or breached one; None once closed) and its due time."""

    kind: str
    ticket: Ticket
    step: StepSpec | None
    due_at: datetime | None
    escalated_to: str = ""  # a breach: the role above the step's, told too ("" for none)


@dataclass(frozen=True, slots=True)
class Text:
    """A rendered message: what agent.core.outbox.Message carries besides key and address."""

    subject: str
    text: str
    html: str
    document: dict[str, Any]


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def local_time(moment: datetime, tz: str, lang: str = "id") -> str:
    """"Senin, 7 Desember 2026 09.00 WIB" (id) or "Monday, 7 December 2026 09:00 WIB" (en):
    the aware `moment` in the zone `tz`."""
    at = moment.astimezone(ZoneInfo(tz))
    key = "en" if lang == "en" else "id"
    sep = ":" if key == "en" else "."
    return (f"{_DAYS[key][at.weekday()]}, {at.day} {_MONTHS[key][at.month - 1]} {at.year} "
            f"{at.hour:02d}{sep}{at.minute:02d} {zone_name(at, tz)}")


def ticket_link(base_url: str, ticket_id: str) -> str:
    """The ticket's page: `{base_url}/tickets/{id}` (agent/web/ticket.py's route)."""
    return f"{base_url.rstrip('/')}/tickets/{quote(ticket_id, safe='')}"


def fault_title(ticket: Ticket, lang: str) -> str:
    """The ticket's fault, never a collector's (English) reason: "Antarmuka Gi0/1 mati"."""
    if lang == "en":
        return fault_title_en(ticket.fault, ticket.item)
    return ticket.fault.title_id(ticket.item)


def role_label(role: str, lang: str) -> str:
    pair = ROLE_LABELS.get(role)
    return role if pair is None else _pick(pair, lang)


def render(notice: Notice, lang: str, tz: str, base_url: str) -> Text:
    """The message for `notice` in `lang` ("id" or "en"; anything else is Indonesian), with
    times in `tz` and the one link to the ticket's page under `base_url`."""
    lang = lang if lang in LANGS else "id"
    t = notice.ticket
    step = notice.step
    no = step.no if step is not None else 0
    fault = fault_title(t, lang)
    headline = _pick(HEADLINES[notice.kind], lang).format(no=no, fault=fault)
    link = ticket_link(base_url, t.id)
    rows: list[tuple[str, str]] = [
        (_pick(_LABELS["ticket"], lang), t.id),
        (_pick(_LABELS["fault"], lang), fault),
        (_pick(_LABELS["device"], lang), t.device),
        (_pick(_LABELS["owner"], lang), t.owner),
    ]
    request = t.step_record(1)
    if t.trigger is Trigger.MANUAL and request is not None and request.output.text("subject"):
        # the agency's own words (a manual request's Perihal); an automatic request's
        # subject is built from the evidence, which may hold a collector's English reason
        rows.append((_pick(_LABELS["subject"], lang), request.output.text("subject")))
    why = reason_text(notice, lang)
    if why:
        rows.append((_pick(_LABELS["reason"], lang), why))
    if step is not None:
        rows.append((_pick(_LABELS["step"], lang).format(no=step.no),
                     step.title_en if lang == "en" else step.title_id))
        rows.append((_pick(_LABELS["role"], lang), role_label(step.role.value, lang)))
    if step is not None and notice.due_at is not None:
        rows.append((_pick(_LABELS["due"], lang), local_time(notice.due_at, tz, lang)))
    if notice.escalated_to:
        rows.append((_pick(_LABELS["escalated"], lang), role_label(notice.escalated_to, lang)))
    link_label = _pick(_LABELS["link"], lang)
    subject = f"[{t.id}] {headline} \u2014 {t.device}"
    text = "\n".join([headline, "", *(f"{k}: {v}" for k, v in rows), "",
                      f"{link_label}: {link}"])
    html = "\n".join([f"<b>{escape(headline)}</b>", "",
                      *(f"{escape(k)}: {escape(v)}" for k, v in rows), "",
                      f'<a href="{escape(link, quote=True)}">{escape(link_label)}</a>'])
    return Text(subject=subject, text=text, html=html, document=_document(notice, link))


def reason_text(notice: Notice, lang: str) -> str:
    """Why, in `lang`: the evidence's reason of a new or reopened ticket, the verification's
    of a verdict; rendered from its code (or an old text read back into one). "" when there
    is none, or it is free text (an alert's own summary), which the message leaves out."""
    t = notice.ticket
    if notice.kind in _WHY_EVIDENCE:
        cause, text = t.evidence.cause, t.evidence.reason
    elif notice.kind in _WHY_VERIFICATION and t.last_verification is not None:
        cause, text = t.last_verification.cause, t.last_verification.reason
    else:
        return ""
    found = coded(text, cause)
    return found.text(lang) if found is not None else ""


def html_for(channel: str, html: str) -> str:
    """`html` as `channel` shows it: Telegram keeps the line breaks of its HTML subset (which
    has no <br>); an e-mail client folds them, so e-mail gets a <br> at each."""
    return html.replace("\n", "<br>\n") if channel == "email" else html


def _document(notice: Notice, link: str) -> dict[str, Any]:
    """The webhook's `data`: stable keys, JSON values, times as ISO-8601 UTC."""
    t, step = notice.ticket, notice.step
    return {
        "kind": notice.kind,
        "ticket": t.id,
        "device": t.device,
        "owner": t.owner,
        "fault": t.fault.value,
        "item": t.item,
        "automatic": t.trigger is Trigger.AUTO,
        "step": step.no if step is not None else None,
        "step_key": step.key if step is not None else None,
        "step_title": step.title_id if step is not None else None,
        "role": step.role.value if step is not None else None,
        "due_at": notice.due_at.isoformat() if notice.due_at is not None else None,
        "status": t.status.value,
        "link": link,
    }
