"""Each SOP step's output document as a printable Indonesian government letter (kop surat,
nomor surat, tanggal, perihal, Yth., the signing role), built from a Ticket (and its audit
trail) and rendered with the templates in templates/letters/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2

from agent.config import WebSettings
from agent.web import evidence
from agent.web.evidence import Measurement, Row
from agent.web.indonesian import (
    DASH,
    ROMAN,
    clock_time,
    indonesian_date,
    local,
    title_case,
    when,
)
from agent.web.letter_parts import (
    Signature,
    Signer,
    Verification,
    automatic,
    gate_step,
    gate_verification,
    verification_rows,
)
from ticketing.indonesian import DAYS, zone_name
from ticketing.models import StepRecord, Ticket, TicketEvent
from ticketing.payloads import OutputDocument
from ticketing.sop import Role, Sop, StepSpec

#: The output document of a step decides the form of its letter (and its template).
KINDS = {"Surat Permohonan": "permohonan", "Lembar Disposisi": "disposisi",
         "Proses Pengecekan": "pengecekan", "Laporan Tindaklanjut": "laporan"}
SIFAT = "Biasa"
NO_ATTACHMENT, ONE_ATTACHMENT = "-", "1 (satu) berkas"
AUTO_SIGNATURE = "dibuat otomatis oleh sistem pantau"
_ID = re.compile(r"^[A-Za-z]+\d*-\d{4}-(?P<number>\d+)$")  # "SOP006-2026-000042"


@dataclass(frozen=True, slots=True)
class Letter:
    """Everything a letter template shows, already written out in Indonesian (plain text: the
    templates escape it)."""

    kind: str  # "permohonan" | "disposisi" | "pengecekan" | "laporan"
    step: int
    ticket_id: str
    document: str  # "Surat Permohonan", ...
    heading: str  # the title printed above a form ("LEMBAR DISPOSISI"); "" for a letter
    kop: tuple[str, ...]
    nomor: str
    tanggal: str  # "Bogor, 24 November 2026"
    sifat: str
    lampiran: str
    perihal: str
    yth: str  # "Yth. Kepala Bidang Teknologi Informasi"; "" when the step hands to no one
    paragraphs: tuple[str, ...]
    rows: tuple[Row, ...]  # the evidence, the disposition, the findings or the action
    measurements: tuple[Measurement, ...]
    verification: Verification | None
    closing: str
    signature: Signature


def role_title(role: str, web: WebSettings, owner: str = "") -> str:
    """The Indonesian title of a role as it is written in a letter: "Kepala Dinas Komunikasi,
    Informatika, Statistik dan Persandian" (the office from the kop's second line), "Kepala
    Bidang Teknologi Informasi", "Kepala Seksi", "Staf/Teknisi", or the agency itself."""
    if role == Role.KEPALA_DINAS:
        office = title_case(web.kop[1].strip()) if len(web.kop) > 1 else "Dinas"
        return f"Kepala {office}" if not office.lower().startswith("kepala ") else office
    titles = {Role.KABID.value: "Kepala Bidang Teknologi Informasi",
              Role.KASI.value: "Kepala Seksi", Role.TEKNISI.value: "Staf/Teknisi",
              Role.PERANGKAT_DAERAH.value: owner or "Perangkat Daerah",
              Role.ADMIN.value: "Administrator"}
    return titles.get(role, role)


def letter_available(ticket: Ticket, no: int) -> bool:
    """Whether step `no`'s letter exists: once the step is completed; step 1's also for any
    automatic request (made from its evidence)."""
    record = ticket.step_record(no)
    if record is None:
        return False
    if no == 1 and automatic(ticket):
        return True
    return record.completed_at is not None


def _letter_time(ticket: Ticket, no: int, tz: str) -> datetime:
    record = ticket.step_record(no)
    moment = ticket.opened_at if no == 1 else record.completed_at if record else None
    if moment is None:
        raise ValueError(f"ticket {ticket.id}: step {no} has no letter yet (not completed)")
    return local(moment, tz)


def letter_number(ticket: Ticket, no: int, web: WebSettings, tz: str) -> str:
    """Nomor surat: "555/000042.4/Diskominfostandi/XI/2026", i.e. `{letter_code}/{ticket
    number}.{step}/{letter_unit}/{month in Roman numerals}/{year}` of the step's completion
    date (step 1: the filing date) in `tz`. An id not shaped "SOP006-2026-000042" is used
    whole. Raises ValueError when the step has no date yet."""
    moment = _letter_time(ticket, no, tz)
    match = _ID.match(ticket.id)
    number = match["number"] if match else ticket.id
    return (f"{web.letter_code}/{number}.{no}/{web.letter_unit}/"
            f"{ROMAN[moment.month - 1]}/{moment.year}")


def request_subject(ticket: Ticket) -> str:
    """The perihal of the Surat Permohonan: the subject a person wrote, or for an automatic
    request "Permohonan Penggantian/Perbaikan Perangkat Jaringan — {device}"."""
    if automatic(ticket):
        return f"Permohonan Penggantian/Perbaikan Perangkat Jaringan {DASH} {ticket.device}"
    first = ticket.step_record(1)
    subject = first.output.text("subject") if first is not None else ""
    return subject or f"Permohonan {DASH} {ticket.device}"


# -- the four forms ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    """What every form is written from."""

    ticket: Ticket
    events: Sequence[TicketEvent]
    spec: StepSpec
    sop: Sop
    web: WebSettings
    tz: str
    record: StepRecord
    moment: datetime  # the letter's date: the step's completion (step 1: the filing)
    role_title: str  # the signing role's title
    signers: Mapping[str, Signer]
    evidence_tz: str  # the zone of the evidence's times (agent/web/evidence.py says which)

    @property
    def output(self) -> OutputDocument:
        return self.record.output

    @property
    def signed_by(self) -> Signer:
        """The user who completed the step; an unknown one (removed since) has no name."""
        return self.signers.get(self.record.completed_by or "", Signer())

    @property
    def signer(self) -> str:
        """The signer's title: their jabatan, else the role's title."""
        return self.signed_by.jabatan or self.role_title

    @property
    def undersigned(self) -> str:
        """Who "yang bertanda tangan di bawah ini" is: "Joko Susilo, Staf/Teknisi"."""
        name = self.signed_by.full_name
        return f"{name}, {self.signer}" if name else self.signer

    def signature(self, opening: str = "", title: str = "") -> Signature:
        who = self.signed_by
        return Signature(opening, who.jabatan or title or self.role_title, who.full_name,
                         False, who.nip)

    @property
    def request_ref(self) -> str:
        """"Surat Permohonan {owner} Nomor ... tanggal ... perihal ..."."""
        t = self.ticket
        return (f"Surat Permohonan {t.owner} Nomor {letter_number(t, 1, self.web, self.tz)} "
                f"tanggal {indonesian_date(_letter_time(t, 1, self.tz))} perihal "
                f"{request_subject(t)}")


def _permohonan(c: _Context) -> dict[str, Any]:
    t = c.ticket
    rows = evidence.evidence_rows(t, c.evidence_tz, "id")
    measured = evidence.measurements(t, c.evidence_tz, "id")
    sop_name = f"SOP-{c.sop.number} ({c.sop.title})"
    if automatic(t):
        fault = evidence.fault_title(t, "id").lower()
        paragraphs: tuple[str, ...] = (
            "Dengan hormat,",
            f"Sistem pemantauan jaringan pantau mendeteksi gangguan pada perangkat jaringan "
            f"{t.device} milik {t.owner}: {fault}. Sehubungan dengan hal "
            f"tersebut, atas nama {t.owner} dengan ini diajukan permohonan "
            f"penggantian/perbaikan perangkat jaringan sesuai {sop_name}.",
            "Bukti gangguan yang tercatat oleh sistem adalah sebagai berikut:",
        )
        signature = Signature("", f"a.n. {t.owner}", AUTO_SIGNATURE, True)
    else:
        paragraphs = (
            "Dengan hormat,",
            f"Bersama ini kami dari {t.owner} mengajukan permohonan pemasangan/penggantian "
            f"perangkat jaringan ({t.device}) sesuai {sop_name}, dengan uraian sebagai "
            f"berikut:",
            c.output.text("description"),
        )
        signature = c.signature("Pemohon,", t.owner)
    return {
        "paragraphs": paragraphs, "rows": rows, "measurements": measured,
        "signature": signature,
        "lampiran": ONE_ATTACHMENT if rows or measured else NO_ATTACHMENT,
        "closing": "Demikian permohonan ini kami sampaikan. Atas perhatian dan kerja sama "
                   "Bapak/Ibu, kami ucapkan terima kasih.",
    }


def _disposisi(c: _Context, yth: str) -> dict[str, Any]:
    t, started = c.ticket, c.record.started_at
    return {"heading": "LEMBAR DISPOSISI", "rows": (
        Row("Surat dari", t.owner),
        Row("Nomor Surat", letter_number(t, 1, c.web, c.tz)),
        Row("Tanggal Surat", indonesian_date(_letter_time(t, 1, c.tz))),
        Row("Diterima tanggal", indonesian_date(local(started, c.tz)) if started else DASH),
        Row("Nomor Agenda", t.id),
        Row("Sifat", SIFAT),
        Row("Perihal", request_subject(t)),
        Row("Kepada", yth or DASH),
        Row("Diteruskan kepada", c.output.text("to") or DASH),
        Row("Isi Disposisi", c.output.text("note") or DASH),
    )}


def _pengecekan(c: _Context) -> dict[str, Any]:
    t = c.ticket
    rows = [Row("Perangkat", t.device)]
    if t.item:
        rows.append(Row("Antarmuka", t.item))
    rows.append(Row("Lokasi (Perangkat Daerah)", t.owner))
    if t.affected:
        rows.append(Row("Perangkat terdampak", ", ".join(t.affected)))
    rows.append(Row("Waktu pengecekan", when(c.record.completed_at, c.tz)))
    for f in c.spec.fields:
        if f.kind == "bool":
            rows.append(Row(f.label_id, "Ya" if c.output.flag(f.name) else "Tidak"))
        elif f.kind == "list":
            items = c.output.listed(f.name)
            rows.append(Row(f.label_id, "" if items else "Tidak ada", items))
        else:
            rows.append(Row(f.label_id, c.output.text(f.name) or DASH))
    m = c.moment
    return {
        "heading": "BERITA ACARA PROSES PENGECEKAN", "perihal": c.spec.title_id,
        "rows": tuple(rows),
        "paragraphs": (
            f"Pada hari ini {DAYS[m.weekday()]}, tanggal {indonesian_date(m)}, pukul "
            f"{clock_time(m)} {zone_name(m, c.tz)}, yang bertanda tangan di bawah ini, "
            f"{c.undersigned}, telah melakukan pengecekan untuk menindaklanjuti {c.request_ref}, "
            f"dengan hasil sebagai berikut:",),
        "closing": "Demikian berita acara ini dibuat dengan sebenarnya untuk dipergunakan "
                   "sebagaimana mestinya.",
    }


def _laporan(c: _Context) -> dict[str, Any]:
    gate = gate_step(c.sop, c.spec.no)
    verification = verification_rows(
        gate_verification(c.ticket, gate.no, c.events) if gate is not None else None,
        c.evidence_tz)
    return {
        "perihal": f"Laporan Tindaklanjut: {request_subject(c.ticket)}",
        "lampiran": ONE_ATTACHMENT if verification is not None else NO_ATTACHMENT,
        "paragraphs": (
            "Dengan hormat,",
            f"Menindaklanjuti {c.request_ref}, bersama ini kami laporkan hasil tindak lanjut "
            f"atas perangkat {c.ticket.device} milik {c.ticket.owner} sebagai berikut:",),
        "rows": (Row("Tindakan yang dilakukan", c.output.text("action") or DASH),),
        "verification": verification,
        "closing": "Demikian laporan ini kami sampaikan untuk menjadi periksa. Atas perhatian "
                   "Bapak/Ibu, kami ucapkan terima kasih.",
    }


def build_letter(ticket: Ticket, no: int, sop: Sop, web: WebSettings, *, tz: str,
                 events: Sequence[TicketEvent] = (),
                 signers: Mapping[str, Signer] | None = None,
                 evidence_tz: str | None = None) -> Letter:
    """The letter of step `no` as plain values, dated in `tz`; `events` is the ticket's audit
    trail (where a report finds the verification that opened its gate); `signers` the users
    by name (their full name, NIP and jabatan sign); `evidence_tz` the zone of the evidence's
    and the verification's times (default `tz`). Raises ValueError when the step has no
    letter yet (see `letter_available`) or its output document has no letter form."""
    record = ticket.step_record(no)
    if sop.find(no) is None or record is None or not letter_available(ticket, no):
        raise ValueError(f"ticket {ticket.id}: step {no} has no letter yet")
    spec = sop.step(no)
    kind = KINDS.get(spec.output)
    if kind is None:
        raise ValueError(f"step {no}'s output {spec.output!r} has no letter form")
    c = _Context(ticket=ticket, events=events, spec=spec, sop=sop, web=web, tz=tz,
                 record=record, moment=_letter_time(ticket, no, tz),
                 role_title=role_title(spec.role.value, web, ticket.owner),
                 signers=signers or {}, evidence_tz=evidence_tz or tz)
    yth = (f"Yth. {role_title(spec.hands_to.value, web, ticket.owner)}"
           if spec.hands_to else "")
    fields: dict[str, Any] = {
        "kind": kind, "step": no, "ticket_id": ticket.id,
        "document": spec.output, "heading": "", "kop": tuple(web.kop),
        "nomor": letter_number(ticket, no, web, tz),
        "tanggal": f"{web.city}, {indonesian_date(c.moment)}", "sifat": SIFAT,
        "lampiran": NO_ATTACHMENT, "perihal": request_subject(ticket), "yth": yth,
        "paragraphs": (), "rows": (), "measurements": (), "verification": None,
        "closing": "", "signature": c.signature(),
    }
    if kind == "permohonan":
        fields.update(_permohonan(c))
    elif kind == "disposisi":
        fields.update(_disposisi(c, yth))
    elif kind == "pengecekan":
        fields.update(_pengecekan(c))
    else:
        fields.update(_laporan(c))
    return Letter(**fields)


def environment() -> jinja2.Environment:
    """A Jinja2 environment like the pages' one (the letters' templates are in
    agent/web/templates/letters/): autoescaped, strict about undefined names."""
    return jinja2.Environment(loader=jinja2.PackageLoader("agent.web", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def render_letter(env: jinja2.Environment, ticket: Ticket, no: int, sop: Sop,
                  web: WebSettings, *, tz: str, events: Sequence[TicketEvent] = (),
                  signers: Mapping[str, Signer] | None = None,
                  evidence_tz: str | None = None) -> str:
    """Step `no`'s output document as a whole standalone, printable HTML page (A4, its own
    CSS), always in Indonesian, dated in `tz`. `events` is the ticket's audit trail;
    `signers` the users whose full name, NIP and jabatan sign; `evidence_tz` the zone of the
    evidence's times (see `build_letter`). Every text from users and devices is escaped by
    `env` (which must autoescape). Raises ValueError when the step has no letter yet (check
    `letter_available` first)."""
    letter = build_letter(ticket, no, sop, web, tz=tz, events=events, signers=signers,
                          evidence_tz=evidence_tz)
    name = f"letters/{letter.kind}.html"
    escapes = env.autoescape(name) if callable(env.autoescape) else env.autoescape
    if not escapes:
        raise ValueError(f"{name} needs an autoescaping Jinja2 environment")
    return env.get_template(name).render(letter=letter)
