"""Each SOP step's output document as a printable Indonesian government letter (kop surat,
nomor surat, tanggal, perihal, Yth., the signing role), built from a ticket's JSON
(`ticketing.workflow.ticket_json`) and rendered with the templates in templates/letters/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from agent.config import WebSettings
from ticketing.models import Fault
from ticketing.sop import Role, Sop, StepSpec

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")
DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
#: Indonesia's zone names; any other zone is written as its UTC offset.
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
              "Asia/Jayapura": "WIT"}
#: The output document of a step decides the form of its letter (and its template).
KINDS = {"Surat Permohonan": "permohonan", "Lembar Disposisi": "disposisi",
         "Proses Pengecekan": "pengecekan", "Laporan Tindaklanjut": "laporan"}
SIFAT = "Biasa"
NO_ATTACHMENT, ONE_ATTACHMENT = "-", "1 (satu) berkas"
AUTO_SIGNATURE = "dibuat otomatis oleh sistem pantau"
NIP = "NIP. \u2014"
DASH = "\u2014"
_ID = re.compile(r"^[A-Za-z]+\d*-\d{4}-(?P<number>\d+)$")  # "SOP006-2026-000042"
_SMALL_WORDS = {"dan", "di", "ke", "dari", "untuk", "serta", "atau", "yang", "pada"}
_STATUSES = {"ok": "Normal", "warning": "Sebagian", "down": "Terputus",
             "unknown": "Tidak diketahui"}
_CHECKS = {"icmp": "ICMP (ping)", "snmp": "SNMP", "interface": "Antarmuka"}


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled line of a letter's table."""

    label: str
    value: str
    items: tuple[str, ...] = ()  # shown as a list under `value` (e.g. the devices to replace)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One check of the evidence's last measurements (step 1 of an automatic request)."""

    check: str
    status: str
    rtt_ms: str
    loss_pct: str
    at: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """One live probe of the verification that opened the gate (steps 7-9)."""

    round: str
    device: str
    check: str
    status: str
    rtt_ms: str
    loss_pct: str
    at: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verification:
    passed: bool
    verdict: str  # "LULUS" | "GAGAL"
    reason: str
    started: str
    finished: str
    probes: tuple[ProbeRow, ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """The block at the right: an optional first line ("Pemohon,"), the signing title, and the
    signer's name, or for an automatic request a plain statement that no one signed it."""

    opening: str
    title: str
    name: str
    automatic: bool


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


# -- formatting --------------------------------------------------------------------------------


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None and moment.utcoffset() is not None else None


def _local(value: Any, tz: str) -> datetime | None:
    moment = _parse(value)
    return None if moment is None else moment.astimezone(ZoneInfo(tz))


def indonesian_date(moment: datetime) -> str:
    """"24 November 2026" (the date of `moment` as it is, in its own zone)."""
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def _zone(moment: datetime, tz: str) -> str:
    name = ZONE_NAMES.get(tz)
    if name is not None:
        return name
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else tz


def _clock(moment: datetime, seconds: bool = False) -> str:
    return moment.strftime("%H.%M.%S" if seconds else "%H.%M")


def _when(value: Any, tz: str, seconds: bool = False) -> str:
    """"24 November 2026 pukul 08.00 WIB"; the text itself when it is no time; "—" for None."""
    moment = _local(value, tz)
    if moment is None:
        return str(value) if value not in (None, "") else DASH
    return f"{indonesian_date(moment)} pukul {_clock(moment, seconds)} {_zone(moment, tz)}"


def _number(value: Any, scale: float, digits: int = 1) -> str:
    """`value * scale` with a decimal comma ("0,4"), whole numbers without decimals; "—" when
    `value` is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    scaled = float(value) * scale
    if scaled == int(scaled):
        return str(int(scaled))
    return f"{scaled:.{digits}f}".replace(".", ",")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _title_case(line: str) -> str:
    """"DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN" -> "Dinas Komunikasi,
    Informatika, Statistik dan Persandian"; a line not in capitals is kept as written."""
    if line != line.upper():
        return line
    words = line.lower().split(" ")
    return " ".join(w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))


def role_title(role: str, web: WebSettings, owner: str = "") -> str:
    """The Indonesian title of a role as it is written in a letter: "Kepala Dinas Komunikasi,
    Informatika, Statistik dan Persandian" (the office from the kop's second line), "Kepala
    Bidang Teknologi Informasi", "Kepala Seksi", "Staf/Teknisi", or the agency itself."""
    if role == Role.KEPALA_DINAS:
        office = _title_case(web.kop[1].strip()) if len(web.kop) > 1 else "Dinas"
        return f"Kepala {office}" if not office.lower().startswith("kepala ") else office
    titles = {Role.KABID.value: "Kepala Bidang Teknologi Informasi",
              Role.KASI.value: "Kepala Seksi", Role.TEKNISI.value: "Staf/Teknisi",
              Role.PERANGKAT_DAERAH.value: owner or "Perangkat Daerah",
              Role.ADMIN.value: "Administrator"}
    return titles.get(role, role)


def letter_number(ticket: Mapping[str, Any], no: int, web: WebSettings, tz: str) -> str:
    """Nomor surat: "555/000042.4/Diskominfostandi/XI/2026", i.e. `{letter_code}/{ticket
    number}.{step}/{letter_unit}/{month in Roman numerals}/{year}` of the step's completion
    date (step 1: the filing date) in `tz`. An id not shaped "SOP006-2026-000042" is used
    whole. Raises ValueError when the step has no date yet."""
    moment = _letter_time(ticket, no, tz)
    match = _ID.match(str(ticket["id"]))
    number = match["number"] if match else str(ticket["id"])
    return (f"{web.letter_code}/{number}.{no}/{web.letter_unit}/"
            f"{ROMAN[moment.month - 1]}/{moment.year}")


# -- the ticket's JSON -------------------------------------------------------------------------


def _record(ticket: Mapping[str, Any], no: int) -> Mapping[str, Any] | None:
    for record in ticket.get("steps") or ():
        if isinstance(record, Mapping) and record.get("no") == no:
            return record
    return None


def _automatic(ticket: Mapping[str, Any]) -> bool:
    return ticket.get("trigger") == "auto"


def letter_available(ticket: Mapping[str, Any], no: int) -> bool:
    """Whether step `no`'s letter exists: once the step is completed; step 1's also for any
    automatic request (made from its evidence)."""
    record = _record(ticket, no)
    if record is None:
        return False
    if no == 1 and _automatic(ticket):
        return True
    return record.get("completed_at") is not None


def _letter_time(ticket: Mapping[str, Any], no: int, tz: str) -> datetime:
    record = _record(ticket, no) or {}
    value = ticket.get("opened_at") if no == 1 else record.get("completed_at")
    moment = _local(value, tz)
    if moment is None:
        raise ValueError(f"ticket {ticket.get('id')}: step {no} has no letter yet "
                         f"(not completed)")
    return moment


def _output(ticket: Mapping[str, Any], no: int) -> Mapping[str, Any]:
    out = (_record(ticket, no) or {}).get("output")
    return out if isinstance(out, Mapping) else {}


def request_subject(ticket: Mapping[str, Any]) -> str:
    """The perihal of the Surat Permohonan: the subject a person wrote, or for an automatic
    request "Permohonan Penggantian/Perbaikan Perangkat Jaringan — {device}"."""
    if _automatic(ticket):
        return f"Permohonan Penggantian/Perbaikan Perangkat Jaringan {DASH} {ticket['device']}"
    return _text(_output(ticket, 1).get("subject")) or f"Permohonan {DASH} {ticket['device']}"


def _fault(ticket: Mapping[str, Any]) -> str:
    fault = _text(ticket.get("fault"))
    item = _text(ticket.get("item")) or "?"
    try:
        return Fault(fault).title_id(item)
    except ValueError:
        return fault


def _check_name(check: Any, item: Any = "") -> str:
    name = _CHECKS.get(_text(check), _text(check))
    return f"{name} {item}" if item else name


def _status(value: Any) -> str:
    return _STATUSES.get(_text(value), _text(value) or DASH)


def _sample(record: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` in the record's samples or in the record itself."""
    samples = record.get("samples")
    for name in names:
        if isinstance(samples, Mapping) and name in samples:
            return samples[name]
        if name in record:
            return record[name]
    return None


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_flat(v)}" for k, v in sorted(value.items(), key=str))
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value)
    return _text(value)


def _evidence_rows(ticket: Mapping[str, Any], tz: str) -> tuple[Row, ...]:
    """Bukti gangguan: what failed, since when, why, and who else is affected."""
    ev = ticket.get("evidence")
    ev = ev if isinstance(ev, Mapping) else {}
    if not ev:
        return ()
    rows = [Row("Perangkat", _text(ticket.get("device"))),
            Row("Perangkat Daerah", _text(ticket.get("owner"))),
            Row("Gangguan", _fault(ticket))]
    interface = ev.get("interface") or ticket.get("item")
    if interface:
        rows.append(Row("Antarmuka", _text(interface)))
    if ev.get("source") == "alertmanager":
        alert = _text(ev.get("alertname"))
        rows.append(Row("Sumber", "Alertmanager" + (f" (peringatan {alert})" if alert else "")))
    rows.append(Row("Sejak", _when(ev.get("since") or ticket.get("opened_at"), tz)))
    if ev.get("reason"):
        rows.append(Row("Penyebab", _text(ev["reason"])))
    affected = ev.get("affected") or ticket.get("affected")
    if affected:
        rows.append(Row("Perangkat terdampak", _flat(affected)))
    if isinstance(ev.get("labels"), Mapping) and ev["labels"]:
        rows.append(Row("Label peringatan", _flat(ev["labels"])))
    return tuple(rows)


def _measurements(ticket: Mapping[str, Any], tz: str) -> tuple[Measurement, ...]:
    """The last ICMP and SNMP results kept in the evidence ("last": {check: result})."""
    ev = ticket.get("evidence")
    last = ev.get("last") if isinstance(ev, Mapping) else None
    if not isinstance(last, Mapping):
        return ()
    out = []
    for check, record in sorted(last.items(), key=lambda kv: str(kv[0])):
        if not isinstance(record, Mapping):
            continue
        out.append(Measurement(
            check=_check_name(check), status=_status(record.get("status")),
            rtt_ms=_number(_sample(record, "icmp_rtt_seconds"), 1000.0, 2),
            loss_pct=_number(_sample(record, "icmp_packet_loss_ratio", "loss"), 100.0),
            at=_when(record.get("observed_at"), tz, seconds=True) if record.get(
                "observed_at") else DASH,
            reason=_text(record.get("reason") or record.get("error")) or DASH))
    return tuple(out)


def gate_step(sop: Sop, no: int) -> StepSpec | None:
    """The gated step whose verification a report shows: the last gated step up to `no`."""
    gated = [s for s in sop.steps if s.gate is not None and s.no <= no]
    return gated[-1] if gated else None


def gate_verification(ticket: Mapping[str, Any], gate_no: int) -> Mapping[str, Any] | None:
    """The verification that opened step `gate_no`'s gate: the one the gate stored in the
    step's report; else the last passed verification in the audit trail recorded before the
    step's (last) completion; else the ticket's `last_verification`."""
    stored = _output(ticket, gate_no).get("verification")
    if isinstance(stored, Mapping):
        return stored
    audit = [e for e in ticket.get("audit") or () if isinstance(e, Mapping)]
    completions = [e.get("seq", 0) for e in audit
                   if e.get("kind") == "step_completed" and e.get("step") == gate_no]
    if completions:
        before = max(completions)
        passed: list[Mapping[str, Any]] = [
            e["data"] for e in audit
            if e.get("kind") == "verification" and e.get("seq", 0) < before
            and isinstance(e.get("data"), Mapping) and e["data"].get("passed") is True]
        if passed:
            return passed[-1]
    last = ticket.get("last_verification")
    return last if isinstance(last, Mapping) else None


def _probe_time(value: Any, started: datetime | None, tz: str) -> str:
    """"08.00.05" on the day the verification started (its row names the zone); the whole
    date and time on another day."""
    moment = _local(value, tz)
    if moment is None or started is None or moment.date() != started.date():
        return _when(value, tz, seconds=True)
    return _clock(moment, seconds=True)


def _verification(v: Mapping[str, Any] | None, tz: str) -> Verification | None:
    if v is None:
        return None
    started = _local(v.get("started_at"), tz)
    probes = []
    for p in v.get("probes") or ():
        if not isinstance(p, Mapping):
            continue
        probes.append(ProbeRow(
            round=_text(p.get("round")), device=_text(p.get("device")),
            check=_check_name(p.get("check"), p.get("item")), status=_status(p.get("status")),
            rtt_ms=_number(p.get("icmp_rtt_seconds"), 1000.0, 2),
            loss_pct=_number(p.get("icmp_packet_loss_ratio"), 100.0),
            at=_probe_time(p.get("at"), started, tz), reason=_text(p.get("reason")) or DASH))
    passed = v.get("passed") is True
    return Verification(passed=passed, verdict="LULUS" if passed else "GAGAL",
                        reason=_text(v.get("reason")) or DASH,
                        started=_when(v.get("started_at"), tz, seconds=True),
                        finished=_when(v.get("finished_at"), tz, seconds=True),
                        probes=tuple(probes))


# -- the four forms ----------------------------------------------------------------------------


def _name(record: Mapping[str, Any], names: Mapping[str, str] | None) -> str:
    who = _text(record.get("completed_by"))
    return (names or {}).get(who, who)


@dataclass(frozen=True, slots=True)
class _Context:
    """What every form is written from."""

    ticket: Mapping[str, Any]
    spec: StepSpec
    sop: Sop
    web: WebSettings
    tz: str
    record: Mapping[str, Any]
    output: Mapping[str, Any]
    moment: datetime  # the letter's date: the step's completion (step 1: the filing)
    signer: str  # the signing role's title

    @property
    def owner(self) -> str:
        return _text(self.ticket.get("owner"))

    @property
    def device(self) -> str:
        return _text(self.ticket.get("device"))

    @property
    def request_ref(self) -> str:
        """"Surat Permohonan {owner} Nomor ... tanggal ... perihal ..."."""
        return (f"Surat Permohonan {self.owner} Nomor "
                f"{letter_number(self.ticket, 1, self.web, self.tz)} tanggal "
                f"{indonesian_date(_letter_time(self.ticket, 1, self.tz))} perihal "
                f"{request_subject(self.ticket)}")


def _permohonan(c: _Context, names: Mapping[str, str] | None) -> dict[str, Any]:
    rows, measurements = _evidence_rows(c.ticket, c.tz), _measurements(c.ticket, c.tz)
    sop_name = f"SOP-{c.sop.number} ({c.sop.title})"
    if _automatic(c.ticket):
        paragraphs: tuple[str, ...] = (
            "Dengan hormat,",
            f"Sistem pemantauan jaringan pantau mendeteksi gangguan pada perangkat jaringan "
            f"{c.device} milik {c.owner}: {_fault(c.ticket).lower()}. Sehubungan dengan hal "
            f"tersebut, atas nama {c.owner} dengan ini diajukan permohonan "
            f"penggantian/perbaikan perangkat jaringan sesuai {sop_name}.",
            "Bukti gangguan yang tercatat oleh sistem adalah sebagai berikut:",
        )
        signature = Signature("", f"a.n. {c.owner}", AUTO_SIGNATURE, True)
    else:
        paragraphs = (
            "Dengan hormat,",
            f"Bersama ini kami dari {c.owner} mengajukan permohonan pemasangan/penggantian "
            f"perangkat jaringan ({c.device}) sesuai {sop_name}, dengan uraian sebagai "
            f"berikut:",
            _text(c.output.get("description")),
        )
        signature = Signature("Pemohon,", c.owner, _name(c.record, names), False)
    return {
        "paragraphs": paragraphs, "rows": rows, "measurements": measurements,
        "signature": signature,
        "lampiran": ONE_ATTACHMENT if rows or measurements else NO_ATTACHMENT,
        "closing": "Demikian permohonan ini kami sampaikan. Atas perhatian dan kerja sama "
                   "Bapak/Ibu, kami ucapkan terima kasih.",
    }


def _disposisi(c: _Context, yth: str) -> dict[str, Any]:
    received = _local(c.record.get("started_at"), c.tz)
    return {"heading": "LEMBAR DISPOSISI", "rows": (
        Row("Surat dari", c.owner),
        Row("Nomor Surat", letter_number(c.ticket, 1, c.web, c.tz)),
        Row("Tanggal Surat", indonesian_date(_letter_time(c.ticket, 1, c.tz))),
        Row("Diterima tanggal", indonesian_date(received) if received else DASH),
        Row("Nomor Agenda", _text(c.ticket.get("id"))),
        Row("Sifat", SIFAT),
        Row("Perihal", request_subject(c.ticket)),
        Row("Kepada", yth or DASH),
        Row("Diteruskan kepada", _text(c.output.get("to")) or DASH),
        Row("Isi Disposisi", _text(c.output.get("note")) or DASH),
    )}


def _pengecekan(c: _Context) -> dict[str, Any]:
    rows = [Row("Perangkat", c.device)]
    if c.ticket.get("item"):
        rows.append(Row("Antarmuka", _text(c.ticket["item"])))
    rows.append(Row("Lokasi (Perangkat Daerah)", c.owner))
    if c.ticket.get("affected"):
        rows.append(Row("Perangkat terdampak", _flat(c.ticket["affected"])))
    rows.append(Row("Waktu pengecekan", _when(c.record.get("completed_at"), c.tz)))
    for f in c.spec.fields:
        value = c.output.get(f.name)
        if f.kind == "bool":
            rows.append(Row(f.label_id, "Ya" if value is True else "Tidak"))
        elif f.kind == "list":
            items = tuple(_text(x) for x in value or ())
            rows.append(Row(f.label_id, "" if items else "Tidak ada", items))
        else:
            rows.append(Row(f.label_id, _text(value) or DASH))
    m = c.moment
    return {
        "heading": "BERITA ACARA PROSES PENGECEKAN", "perihal": c.spec.title_id,
        "rows": tuple(rows),
        "paragraphs": (
            f"Pada hari ini {DAYS[m.weekday()]}, tanggal {indonesian_date(m)}, pukul "
            f"{_clock(m)} {_zone(m, c.tz)}, yang bertanda tangan di bawah ini, {c.signer}, "
            f"telah melakukan pengecekan untuk menindaklanjuti {c.request_ref}, dengan hasil "
            f"sebagai berikut:",),
        "closing": "Demikian berita acara ini dibuat dengan sebenarnya untuk dipergunakan "
                   "sebagaimana mestinya.",
    }


def _laporan(c: _Context) -> dict[str, Any]:
    gate = gate_step(c.sop, c.spec.no)
    verification = _verification(
        gate_verification(c.ticket, gate.no) if gate is not None else None, c.tz)
    return {
        "perihal": f"Laporan Tindaklanjut: {request_subject(c.ticket)}",
        "lampiran": ONE_ATTACHMENT if verification is not None else NO_ATTACHMENT,
        "paragraphs": (
            "Dengan hormat,",
            f"Menindaklanjuti {c.request_ref}, bersama ini kami laporkan hasil tindak lanjut "
            f"atas perangkat {c.device} milik {c.owner} sebagai berikut:",),
        "rows": (Row("Tindakan yang dilakukan", _text(c.output.get("action")) or DASH),),
        "verification": verification,
        "closing": "Demikian laporan ini kami sampaikan untuk menjadi periksa. Atas perhatian "
                   "Bapak/Ibu, kami ucapkan terima kasih.",
    }


def build_letter(ticket: Mapping[str, Any], no: int, sop: Sop, web: WebSettings, *, tz: str,
                 names: Mapping[str, str] | None = None) -> Letter:
    """The letter of step `no` as plain values. Raises ValueError when the step has no letter
    yet (see `letter_available`) or its output document has no letter form."""
    if not 1 <= no <= len(sop.steps) or not letter_available(ticket, no):
        raise ValueError(f"ticket {ticket.get('id')}: step {no} has no letter yet")
    spec = sop.step(no)
    kind = KINDS.get(spec.output)
    if kind is None:
        raise ValueError(f"step {no}'s output {spec.output!r} has no letter form")
    record = _record(ticket, no) or {}
    owner = _text(ticket.get("owner"))
    c = _Context(ticket=ticket, spec=spec, sop=sop, web=web, tz=tz, record=record,
                 output=_output(ticket, no), moment=_letter_time(ticket, no, tz),
                 signer=role_title(spec.role.value, web, owner))
    yth = f"Yth. {role_title(spec.hands_to.value, web, owner)}" if spec.hands_to else ""
    fields: dict[str, Any] = {
        "kind": kind, "step": no, "ticket_id": _text(ticket.get("id")),
        "document": spec.output, "heading": "", "kop": tuple(web.kop),
        "nomor": letter_number(ticket, no, web, tz),
        "tanggal": f"{web.city}, {indonesian_date(c.moment)}", "sifat": SIFAT,
        "lampiran": NO_ATTACHMENT, "perihal": request_subject(ticket), "yth": yth,
        "paragraphs": (), "rows": (), "measurements": (), "verification": None,
        "closing": "", "signature": Signature("", c.signer, _name(record, names), False),
    }
    if kind == "permohonan":
        fields.update(_permohonan(c, names))
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


def render_letter(env: jinja2.Environment, ticket: Mapping[str, Any], no: int, sop: Sop,
                  web: WebSettings, *, tz: str, names: Mapping[str, str] | None = None) -> str:
    """Step `no`'s output document as a whole standalone, printable HTML page (A4, its own
    CSS), always in Indonesian. `ticket` is `workflow.ticket_json(...)` (with "audit" when
    available); `names` maps user names to the names printed under the signature. Every
    text from users and devices is escaped by `env` (which must autoescape). Raises
    ValueError when the step has no letter yet (check `letter_available` first)."""
    letter = build_letter(ticket, no, sop, web, tz=tz, names=names)
    name = f"letters/{letter.kind}.html"
    escapes = env.autoescape(name) if callable(env.autoescape) else env.autoescape
    if not escapes:
        raise ValueError(f"{name} needs an autoescaping Jinja2 environment")
    return env.get_template(name).render(letter=letter)

