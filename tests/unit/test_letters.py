"""The printable letters: each SOP step's output document as an Indonesian government letter,
rendered from a Ticket and read back with the standard library's HTML parser."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import jinja2
import pytest

from agent.config import WebSettings
from agent.web import letter_parts, letters
from agent.web.letter_parts import Signer
from tests.workflow_support import NAMES, T0, Run, actor, auto_draft, manual_draft
from ticketing import workflow
from ticketing.models import Fault, Ticket, TicketEvent, Trigger
from ticketing.payloads import OutputDocument, Verification
from ticketing.sop import SOP_006

TZ = "Asia/Jakarta"
WEB = WebSettings()
EVIL = "<script>alert(1)</script>"
H = timedelta(hours=1)
DASH = "\u2014"
DISPLAY = {name: Signer(full_name=full) for name, full in (
    ("siti", "Siti Aminah"), ("ahmad", "Ahmad Fauzi"), ("rina", "Rina Wulandari"),
    ("budi", "Budi Santoso"), ("joko", "Joko Susilo"))}
BLANK = "." * 40  # a signature line left to be filled in by hand

# -- a small DOM over html.parser --------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return re.sub(r"\s+", " ", " ".join(parts)).strip()

    def walk(self) -> list[Node]:
        out = [self]
        for c in self.children:
            if isinstance(c, Node):
                out += c.walk()
        return out

    def all(self, tag: str) -> list[Node]:
        return [n for n in self.walk()[1:] if n.tag == tag]


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def id(self, ident: str) -> Node:
        found = [n for n in self.root.walk() if n.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def has(self, ident: str) -> bool:
        return any(n.attrs.get("id") == ident for n in self.root.walk())

    def text(self, ident: str) -> str:
        return self.id(ident).text()

    def rows(self, ident: str) -> list[list[str]]:
        """The cells (th and td) of each row of a table that has a td (not the header)."""
        rows = []
        for tr in self.id(ident).all("tr"):
            cells = [c for c in tr.children if isinstance(c, Node) and c.tag in ("th", "td")]
            if any(c.tag == "td" for c in cells):
                rows.append([c.text() for c in cells])
        return rows

    def labelled(self, ident: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.rows(ident) if len(r) == 2}


# -- tickets -----------------------------------------------------------------------------------


def probes(device: str, at: datetime) -> list[dict[str, Any]]:
    return [
        {"round": 1, "device": device, "check": "icmp", "status": "ok", "healthy": True,
         "at": at.isoformat(), "reason": "", "icmp_rtt_seconds": 0.00042,
         "icmp_packet_loss_ratio": 0.0},
        {"round": 1, "device": device, "check": "snmp", "status": "ok", "healthy": True,
         "at": at.isoformat(), "reason": "", "snmp_uptime_seconds": 86400.0},
        {"round": 1, "device": device, "check": "interface", "item": "Gi0/1", "status": "ok",
         "healthy": True, "at": at.isoformat(), "reason": ""},
        {"round": 2, "device": device, "check": "icmp", "status": "warning", "healthy": True,
         "at": (at + timedelta(seconds=30)).isoformat(), "reason": "1 of 3 lost",
         "icmp_rtt_seconds": 0.0015, "icmp_packet_loss_ratio": 1 / 3},
    ]


def passed_verification(device: str, finished: datetime, reason: str = "healthy") -> dict[
        str, Any]:
    started = finished - timedelta(seconds=60)
    return {"passed": True, "started_at": started.isoformat(),
            "finished_at": finished.isoformat(), "reason": reason,
            "probes": probes(device, started + timedelta(seconds=10))}


def step_time(no: int) -> datetime:
    return T0 + no * H  # step n completed n hours after filing (08:00 WIB on 24 November)


OUTPUTS: dict[int, dict[str, Any]] = {
    2: {"note": "Mohon segera ditindaklanjuti", "to": "Kepala Bidang TI"},
    3: {"note": "Tangani hari ini", "to": "Kepala Seksi Infrastruktur"},
    4: {"note": "Cek lokasi", "to": "Tim teknisi jaringan"},
    5: {"findings": "Access point belum terpasang", "devices": ["AP-01 Unifi", "Kabel UTP 20 m"]},
    6: {"findings": "Barang tersedia di gudang", "stock_available": True},
    7: {"action": "Access point dipasang dan dikonfigurasi"},
    8: {"action": "Pemasangan selesai dan terverifikasi"},
    9: {"action": "Dilaporkan ke Kepala Dinas"},
}


def closed_manual_run(outputs: Mapping[int, Mapping[str, Any]] = OUTPUTS,
                      description: str = "Ruang rapat lantai 2 belum terjangkau Wi-Fi.",
                      failed_before_7: bool = False, **draft: Any) -> Run:
    """A manual request driven through all nine steps, with a passed verification recorded
    before step 7 (then a failed one too when `failed_before_7`), and a passed then a failed
    one after it (at step 8)."""
    run = Run()
    run.open(manual_draft(description=description, **draft))
    for no in range(2, 10):
        if no == 7:
            v = Verification.from_json(
                passed_verification(run.t.device, step_time(7) - timedelta(minutes=1)))
            run.add(workflow.record_verification(run.t, v, step_time(7), actor("teknisi")))
            if failed_before_7:
                again = Verification.from_json(
                    {**passed_verification(run.t.device, step_time(7), "lagi"), "passed": False})
                run.add(workflow.record_verification(run.t, again, step_time(7),
                                                     actor("teknisi")))
            run.complete(7, step_time(7), output=outputs[7], verified=v)
            continue
        if no == 8:
            later = Verification.from_json(
                passed_verification(run.t.device, step_time(8), "sesudah-lulus"))
            run.add(workflow.record_verification(run.t, later, step_time(8), actor("kasi")))
            failed = Verification.from_json(
                {**passed_verification(run.t.device, step_time(8), "sesudahnya"), "passed": False})
            run.add(workflow.record_verification(run.t, failed, step_time(8), actor("kasi")))
        run.complete(no, step_time(no), output=outputs[no])
    return run


@dataclass(frozen=True)
class Doc:
    """A ticket with its audit trail: what a letter is built from."""

    ticket: Ticket
    events: tuple[TicketEvent, ...] = ()


def doc_of(run: Run) -> Doc:
    return Doc(run.t, tuple(run.events))


def with_output(doc: Doc, no: int, output: Mapping[str, Any], **changes: Any) -> Doc:
    """`doc` with step `no`'s output document replaced (and other ticket fields changed)."""
    t = doc.ticket
    steps = list(t.steps)
    steps[no - 1] = replace(steps[no - 1], output=OutputDocument.from_json(output))
    return Doc(replace(t, steps=tuple(steps), **changes), doc.events)


def html_of(doc: Doc, no: int, web: WebSettings = WEB, env: jinja2.Environment | None = None,
            names: Mapping[str, Signer] | None = None) -> str:
    return letters.render_letter(env or letters.environment(), doc.ticket, no, SOP_006, web,
                                 tz=TZ, events=doc.events, signers=names)


def render(doc: Doc, no: int, web: WebSettings = WEB,
           env: jinja2.Environment | None = None,
           names: Mapping[str, Signer] | None = DISPLAY) -> Dom:
    return Dom(html_of(doc, no, web, env, names))


@pytest.fixture(scope="module")
def manual() -> Doc:
    return doc_of(closed_manual_run())


def auto_doc(**changes: Any) -> Doc:
    evidence = {
        "fault": "device_down", "state": "down", "since": T0.isoformat(),
        "reason": "no echo reply (3 of 3 lost)",
        "last": {
            "icmp": {"status": "warning", "observed_at": T0.isoformat(),
                     "reason": "2 of 3 lost", "samples": {"icmp_rtt_seconds": 0.00123,
                                                          "icmp_packet_loss_ratio": 2 / 3}},
            "snmp": {"status": "down", "observed_at": (T0 - timedelta(seconds=30)).isoformat(),
                     "reason": "timeout", "samples": {}},
        },
    }
    run = Run()
    run.open(auto_draft(evidence=changes.pop("evidence", evidence), **changes))
    return doc_of(run)


# -- tests -------------------------------------------------------------------------------------


class TestLetterNumber:
    """Nomor surat is code/number.step/unit/Roman month/year of the step's local date."""

    def test_november_is_xi(self, manual: Doc) -> None:
        assert render(manual, 4).text("nomor") == "555/000001.4/Diskominfostandi/XI/2026"

    def test_step_1_uses_the_filing_date(self, manual: Doc) -> None:
        assert render(manual, 1).text("nomor") == "555/000001.1/Diskominfostandi/XI/2026"

    def test_the_local_date_decides_month_and_day(self) -> None:
        # 17:30 UTC on 30 November is 00:30 WIB on 1 December.
        run = Run()
        run.open(manual_draft(at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC)))
        run.complete(2, datetime(2026, 11, 30, 17, 30, tzinfo=UTC), output=OUTPUTS[2])
        page = render(doc_of(run), 2)
        assert page.text("nomor") == "555/000001.2/Diskominfostandi/XII/2026"
        assert page.text("tanggal") == "Bogor, 1 Desember 2026"

    def test_settings_give_code_unit_and_city(self, manual: Doc) -> None:
        web = WebSettings(letter_code="027", letter_unit="Kominfo", city="Depok")
        page = render(manual, 3, web)
        assert page.text("nomor") == "027/000001.3/Kominfo/XI/2026"
        assert page.text("tanggal") == "Depok, 24 November 2026"

    def test_times_are_read_in_the_letter_zone(self) -> None:
        # The same instant as above, in a ticket written out in UTC.
        run = Run()
        run.open(manual_draft(at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC)))
        run.complete(2, datetime(2026, 11, 30, 17, 30, tzinfo=UTC), output=OUTPUTS[2])
        page = render(doc_of(run), 2)
        assert page.text("nomor") == "555/000001.2/Diskominfostandi/XII/2026"
        assert page.text("tanggal") == "Bogor, 1 Desember 2026"

    def test_other_ids_are_used_whole(self, manual: Doc) -> None:
        doc = replace(manual.ticket, id="T-7")
        assert letters.letter_number(doc, 2, WEB, TZ) == "555/T-7.2/Diskominfostandi/XI/2026"

    @pytest.mark.parametrize(("month", "roman"), [(1, "I"), (4, "IV"), (9, "IX"), (12, "XII")])
    def test_roman_months(self, manual: Doc, month: int, roman: str) -> None:
        doc = replace(manual.ticket, opened_at=datetime(2027, month, 15, 9, 0, tzinfo=UTC))
        assert letters.letter_number(doc, 1, WEB, TZ) == f"555/000001.1/Diskominfostandi/" \
                                                          f"{roman}/2027"


class TestAvailability:
    """A step's letter exists once the step is completed; an automatic request's always."""

    def test_open_ticket_has_letters_up_to_its_last_completed_step(self) -> None:
        run = Run()
        run.open(manual_draft())
        run.complete(2, step_time(2), output=OUTPUTS[2])
        doc = run.t
        assert [no for no in range(0, 11) if letters.letter_available(doc, no)] == [1, 2]

    def test_automatic_request_without_completion_time(self) -> None:
        t = auto_doc().ticket
        doc = replace(t, steps=(replace(t.steps[0], completed_at=None), *t.steps[1:]))
        assert letters.letter_available(doc, 1)
        assert not letters.letter_available(replace(doc, trigger=Trigger.MANUAL), 1)

    def test_unavailable_letter_is_refused(self) -> None:
        with pytest.raises(ValueError, match="step 3 has no letter yet"):
            html_of(auto_doc(), 3)


class TestEveryLetter:
    """Every letter has the kop, nomor, tanggal, perihal, addressee and signing role."""

    @pytest.mark.parametrize("no", range(1, 10))
    def test_kop_lines(self, manual: Doc, no: int) -> None:
        kop = render(manual, no).id("kop")
        assert [d.text() for d in kop.all("div")] == list(WEB.kop)

    @pytest.mark.parametrize("no", range(1, 10))
    def test_nomor_and_tanggal(self, manual: Doc, no: int) -> None:
        page = render(manual, no)
        assert page.text("nomor") == f"555/000001.{no}/Diskominfostandi/XI/2026"
        assert page.text("tanggal") == "Bogor, 24 November 2026"

    @pytest.mark.parametrize(("no", "yth"), [
        (1, "Yth. Kepala Dinas Komunikasi, Informatika, Statistik dan Persandian"),
        (2, "Yth. Kepala Bidang Teknologi Informasi"), (3, "Yth. Kepala Seksi"),
        (4, "Yth. Staf/Teknisi"), (7, "Yth. Kepala Seksi"),
        (8, "Yth. Kepala Bidang Teknologi Informasi"),
        (9, "Yth. Kepala Dinas Komunikasi, Informatika, Statistik dan Persandian"),
    ])
    def test_addressee(self, manual: Doc, no: int, yth: str) -> None:
        assert render(manual, no).text("yth") == yth

    @pytest.mark.parametrize("no", [5, 6])
    def test_check_records_have_no_addressee(self, manual: Doc, no: int) -> None:
        assert not render(manual, no).has("yth")

    @pytest.mark.parametrize(("no", "title", "name"), [
        (1, "Dinas Kesehatan,", "Siti Aminah"),
        (2, "Kepala Dinas Komunikasi, Informatika, Statistik dan Persandian,", "Ahmad Fauzi"),
        (3, "Kepala Bidang Teknologi Informasi,", "Rina Wulandari"),
        (4, "Kepala Seksi,", "Budi Santoso"), (5, "Staf/Teknisi,", "Joko Susilo"),
        (6, "Staf/Teknisi,", "Joko Susilo"), (7, "Staf/Teknisi,", "Joko Susilo"),
        (8, "Kepala Seksi,", "Budi Santoso"), (9, "Kepala Bidang Teknologi Informasi,",
                                               "Rina Wulandari"),
    ])
    def test_signature(self, manual: Doc, no: int, title: str, name: str) -> None:
        page = render(manual, no)
        assert page.text("ttd-jabatan") == title
        assert page.text("ttd-nama") == name
        assert page.text("ttd-nip") == f"NIP. {BLANK}"  # no NIP configured: a blank line

    def test_without_a_full_name_the_lines_are_blank(self, manual: Doc) -> None:
        page = render(manual, 4, names=None)
        assert page.text("ttd-nama") == BLANK
        assert page.text("ttd-nip") == f"NIP. {BLANK}"
        assert NAMES["kasi"] not in page.text("ttd")

    @pytest.mark.parametrize("no", range(1, 10))
    def test_printable_page(self, manual: Doc, no: int) -> None:
        html = html_of(manual, no)
        assert re.search(r"@page\s*\{\s*size:\s*A4;", html)
        assert re.search(r"@media print\s*\{\s*\.no-print\s*\{\s*display:\s*none", html)
        assert "Times New Roman" in html
        button = Dom(html).id("cetak")
        assert button.text() == "Cetak"
        assert "data-print" in button.attrs
        assert '<div class="toolbar no-print">' in html

    def test_plain_autoescaping_environment_renders_the_same_letter(
            self, manual: Doc) -> None:
        plain = jinja2.Environment(loader=jinja2.PackageLoader("agent.web", "templates"),
                                   autoescape=True)
        for no in range(1, 10):
            a, b = render(manual, no), render(manual, no, env=plain)
            assert a.root.text() == b.root.text()

    def test_environment_without_autoescape_is_refused(self, manual: Doc) -> None:
        raw = jinja2.Environment(loader=jinja2.PackageLoader("agent.web", "templates"))
        with pytest.raises(ValueError, match="autoescaping"):
            html_of(manual, 1, env=raw)


class TestSuratPermohonan:
    """Step 1 is the agency's request letter, or the agent's on the agency's behalf."""

    def test_manual_request(self, manual: Doc) -> None:
        page = render(manual, 1)
        assert page.text("perihal") == "Pemasangan access point baru"
        assert page.text("lampiran") == "-"
        assert page.text("sifat") == "Biasa"
        assert "Ruang rapat lantai 2 belum terjangkau Wi-Fi." in page.root.text()
        assert not page.has("bukti")

    def test_automatic_request_perihal_and_attachment(self) -> None:
        page = render(auto_doc(), 1)
        assert page.text("perihal") == (
            f"Permohonan Penggantian/Perbaikan Perangkat Jaringan {DASH} sw-dinkes-01")
        assert page.text("lampiran") == "1 (satu) berkas"
        assert page.text("yth") == (
            "Yth. Kepala Dinas Komunikasi, Informatika, Statistik dan Persandian")

    def test_automatic_request_is_not_signed_by_anyone(self) -> None:
        page = render(auto_doc(), 1)
        assert page.text("ttd-jabatan") == "a.n. Dinas Kesehatan,"
        assert page.text("ttd-nama") == "dibuat otomatis oleh sistem pantau"
        assert not page.has("ttd-nip")

    def test_evidence_rows(self) -> None:
        assert render(auto_doc(), 1).labelled("bukti") == {
            "Perangkat": "sw-dinkes-01", "Perangkat Daerah": "Dinas Kesehatan",
            "Gangguan": "Perangkat tidak dapat dijangkau",
            "Sejak": "24 November 2026 pukul 08.00 WIB",
            "Penyebab": "no echo reply (3 of 3 lost)",
        }

    def test_last_measurements(self) -> None:
        assert render(auto_doc(), 1).rows("pengukuran") == [
            ["ICMP (ping)", "Sebagian", "1,23", "66,7", "24 November 2026 pukul 08.00.00 WIB",
             "2 of 3 lost"],
            ["SNMP", "Terputus", DASH, DASH, "24 November 2026 pukul 07.59.30 WIB", "timeout"],
        ]

    def test_interface_fault_names_the_interface(self) -> None:
        doc = auto_doc(fault=Fault.INTERFACE_DOWN, item="Gi0/2",
                       evidence={"since": T0.isoformat(), "reason": "ifOperStatus down",
                                 "interface": "Gi0/2"})
        rows = render(doc, 1).labelled("bukti")
        assert rows["Gangguan"] == "Antarmuka Gi0/2 mati"
        assert rows["Antarmuka"] == "Gi0/2"

    def test_alertmanager_evidence(self) -> None:
        doc = auto_doc(evidence={
            "source": "alertmanager", "alertname": "DeviceDown", "since": T0.isoformat(),
            "reason": "sw-dinkes-01 tidak menjawab", "labels": {"device": "sw-dinkes-01"}})
        rows = render(doc, 1).labelled("bukti")
        assert rows["Sumber"] == "Alertmanager (peringatan DeviceDown)"
        assert rows["Penyebab"] == "sw-dinkes-01 tidak menjawab"
        assert rows["Label peringatan"] == "device=sw-dinkes-01"


class TestLembarDisposisi:
    """Steps 2-4 are disposition sheets that refer to the request letter."""

    @pytest.mark.parametrize("no", [2, 3, 4])
    def test_disposition_table(self, manual: Doc, no: int) -> None:
        page = render(manual, no)
        rows = page.labelled("disposisi")
        assert rows["Surat dari"] == "Dinas Kesehatan"
        assert rows["Nomor Surat"] == "555/000001.1/Diskominfostandi/XI/2026"
        assert rows["Tanggal Surat"] == "24 November 2026"
        assert rows["Diterima tanggal"] == "24 November 2026"
        assert rows["Nomor Agenda"] == "SOP006-2026-000001"
        assert rows["Sifat"] == "Biasa"
        assert rows["Perihal"] == page.text("perihal") == "Pemasangan access point baru"
        assert rows["Diteruskan kepada"] == OUTPUTS[no]["to"]
        assert rows["Isi Disposisi"] == OUTPUTS[no]["note"]
        assert page.text("ttd").startswith("Bogor, 24 November 2026")


    def test_received_on_the_day_the_step_started(self) -> None:
        run = Run()
        run.open(manual_draft())
        run.complete(2, T0 + timedelta(days=2), output=OUTPUTS[2])
        page = render(doc_of(run), 2)
        assert page.labelled("disposisi")["Diterima tanggal"] == "24 November 2026"
        assert page.text("tanggal") == "Bogor, 26 November 2026"


class TestProsesPengecekan:
    """Steps 5-6 are check records with the findings, the devices and the stock."""

    def test_devices_to_replace(self, manual: Doc) -> None:
        page = render(manual, 5)
        rows = page.labelled("hasil")
        assert rows["Perangkat"] == "ap-baru-01"
        assert rows["Lokasi (Perangkat Daerah)"] == "Dinas Kesehatan"
        assert rows["Waktu pengecekan"] == "24 November 2026 pukul 13.00 WIB"
        assert rows["Hasil pengecekan"] == "Access point belum terpasang"
        items = [li.text() for li in page.id("hasil").all("li")]
        assert items == ["AP-01 Unifi", "Kabel UTP 20 m"]
        assert page.text("perihal") == SOP_006.step(5).title_id
        assert "Pada hari ini Selasa, tanggal 24 November 2026, pukul 13.00 WIB" in (
            page.root.text())

    @pytest.mark.parametrize(("stock", "shown"), [(True, "Ya"), (False, "Tidak")])
    def test_stock(self, stock: bool, shown: str) -> None:
        outputs = {**OUTPUTS, 6: {"findings": "Cek gudang", "stock_available": stock}}
        rows = render(doc_of(closed_manual_run(outputs)), 6).labelled("hasil")
        assert rows["Stok barang tersedia"] == shown
        assert rows["Waktu pengecekan"] == "24 November 2026 pukul 14.00 WIB"

    def test_nothing_to_replace(self) -> None:
        outputs = {**OUTPUTS, 5: {"findings": "Semua baik", "devices": []}}
        rows = render(doc_of(closed_manual_run(outputs)), 5).labelled("hasil")
        assert rows["Perangkat yang dipasang/diganti"] == "Tidak ada"


EXPECTED_PROBES = [
    ["1", "ap-baru-01", "ICMP (ping)", "Normal", "0,42", "0", "14.58.10", DASH],
    ["1", "ap-baru-01", "SNMP", "Normal", DASH, DASH, "14.58.10", DASH],
    ["1", "ap-baru-01", "Antarmuka Gi0/1", "Normal", DASH, DASH, "14.58.10", DASH],
    ["2", "ap-baru-01", "ICMP (ping)", "Sebagian", "1,50", "33,3", "14.58.40", "1 of 3 lost"],
]


class TestLaporanTindaklanjut:
    """Steps 7-9 report the action with the verification that opened the step-7 gate."""

    @pytest.mark.parametrize("no", [7, 8, 9])
    def test_verification_rows(self, manual: Doc, no: int) -> None:
        page = render(manual, no)
        assert page.rows("verifikasi") == EXPECTED_PROBES
        assert page.text("putusan") == "LULUS"
        assert page.text("putusan-alasan") == "healthy"
        assert page.text("verifikasi-mulai") == "24 November 2026 pukul 14.58.00 WIB"
        assert page.text("verifikasi-selesai") == "24 November 2026 pukul 14.59.00 WIB"
        assert page.text("lampiran") == "1 (satu) berkas"

    @pytest.mark.parametrize("no", [7, 8, 9])
    def test_action_and_perihal(self, manual: Doc, no: int) -> None:
        page = render(manual, no)
        assert page.labelled("tindakan") == {"Tindakan yang dilakukan": OUTPUTS[no]["action"]}
        assert page.text("perihal") == "Laporan Tindaklanjut: Pemasangan access point baru"

    def test_audit_trail_gives_the_gate_verification(self) -> None:
        # Without the copy in the report, the last passed verification recorded before step 7
        # was completed is the one: not a failed one after it, nor the one at step 8.
        run = doc_of(closed_manual_run(failed_before_7=True))
        gate = run.ticket.steps[6].output.verification
        doc = with_output(run, 7, {"action": OUTPUTS[7]["action"]})
        assert doc.ticket.last_verification is not None
        assert doc.ticket.last_verification["passed"] is False
        assert letter_parts.gate_verification(doc.ticket, 7, doc.events) == gate
        page = render(doc, 8)
        assert page.text("putusan") == "LULUS"
        assert page.rows("verifikasi") == EXPECTED_PROBES

    def test_last_verification_is_the_fallback(self, manual: Doc) -> None:
        doc = Doc(with_output(manual, 7, {"action": OUTPUTS[7]["action"]}).ticket)
        page = render(doc, 9)
        assert page.text("putusan") == "GAGAL"
        assert page.text("putusan-alasan") == "sesudahnya"

    def test_no_verification_at_all(self, manual: Doc) -> None:
        doc = Doc(with_output(manual, 7, {"action": OUTPUTS[7]["action"]},
                              last_verification=None).ticket)
        page = render(doc, 7)
        assert page.text("putusan") == "Tidak ada hasil verifikasi yang tercatat."
        assert page.text("lampiran") == "-"


class TestEscaping:
    """Text from users and devices is escaped, never markup."""

    def test_user_text_in_every_letter(self) -> None:
        outputs = {no: {k: [EVIL] if isinstance(v, list) else EVIL if isinstance(v, str) else v
                        for k, v in out.items()} for no, out in OUTPUTS.items()}
        run = closed_manual_run(outputs, description=EVIL, subject=EVIL, owner=EVIL)
        doc = doc_of(run)
        for no in range(1, 10):
            html = html_of(doc, no, names={"joko": Signer(EVIL, "1" * 18, EVIL),
                                           "budi": Signer(EVIL)})
            assert "<script>alert" not in html, f"step {no}"
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, f"step {no}"
            assert EVIL in Dom(html).root.text(), f"step {no}"

    def test_evidence_and_probes(self, manual: Doc) -> None:
        doc = auto_doc(device=EVIL, evidence={"since": T0.isoformat(), "reason": EVIL,
                                              "last": {"icmp": {"status": EVIL, "reason": EVIL}}})
        html = html_of(doc, 1)
        assert "<script>alert" not in html
        assert Dom(html).labelled("bukti")["Penyebab"] == EVIL
        v = passed_verification(EVIL, step_time(7))
        v["probes"][0]["reason"] = EVIL
        report = with_output(manual, 7, {"action": "x", "verification": v})
        html = html_of(report, 7)
        assert "<script>alert" not in html
        assert Dom(html).rows("verifikasi")[0][1] == EVIL

    def test_kop_from_settings_is_escaped(self, manual: Doc) -> None:
        web = WebSettings(kop=("PEMERINTAH <b>KOTA</b>", "DINAS X"))
        html = html_of(manual, 2, web)
        assert "&lt;b&gt;KOTA&lt;/b&gt;" in html
        assert Dom(html).text("ttd-jabatan") == "Kepala Dinas X,"
