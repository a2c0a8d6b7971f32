"""The words of the workflow's messages: ticketing.messages, in Indonesian and English."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.workflow_support import T0, Run, auto_draft, manual_draft
from ticketing.messages import HEADLINES, Notice, Text, local_time, render, ticket_link
from ticketing.models import Fault, Ticket
from ticketing.sop import SOP_006

BASE = "https://pantau.kotabogor.example/"
LINK = "https://pantau.kotabogor.example/tickets/SOP006-2026-000001"
REASON = "no echo reply (3 of 3 lost)"  # the collector's English reason in the evidence


def opened(**changes: Any) -> Ticket:
    run = Run()
    run.open(auto_draft(**changes))
    return run.t


def notice(kind: str = "step_ready", ticket: Ticket | None = None) -> Notice:
    t = ticket or opened()
    return Notice(kind, t, SOP_006.step(2), t.steps[1].due_at)


def every_text(text: Text) -> str:
    return "\n".join([text.subject, text.text, text.html, repr(text.document)])


class Tags(HTMLParser):
    """The tags (with attributes) an HTML text uses, and its shown text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.shown: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.shown.append(data)


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


class TestIndonesian:
    """The default message names what happened, device, agency, step, local due time, link."""

    def test_contents(self) -> None:
        text = render(notice(), "id", "Asia/Jakarta", BASE)
        for part in ("Langkah 2 menunggu tindakan", "sw-dinkes-01", "Dinas Kesehatan",
                     "Kepala Dinas mendisposisikan ke Kepala Bidang TI",
                     "Rabu, 25 November 2026 08.00 WIB", LINK, "SOP006-2026-000001",
                     "Perangkat tidak dapat dijangkau"):
            assert part in text.text
            assert part in text.html
        assert text.subject == ("[SOP006-2026-000001] Langkah 2 menunggu tindakan \u2014 "
                                "sw-dinkes-01")

    def test_interface_fault_in_indonesian(self) -> None:
        ticket = opened(fault=Fault.INTERFACE_DOWN, item="Gi0/1")
        text = render(notice("ticket_opened", ticket), "id", "Asia/Jakarta", BASE)
        assert text.text.startswith("Tiket baru: Antarmuka Gi0/1 mati\n")

    @pytest.mark.parametrize("kind", sorted(HEADLINES))
    def test_never_the_collectors_english_reason(self, kind: str) -> None:
        for lang in ("id", "en"):
            assert REASON not in every_text(render(notice(kind), lang, "Asia/Jakarta", BASE))
        assert "echo" not in render(notice(kind), "id", "Asia/Jakarta", BASE).text

    def test_no_addresses_or_secrets_beyond_the_ticket_number(self) -> None:
        text = every_text(render(notice(), "id", "Asia/Jakarta", BASE))
        assert "sw-dinkes-01/device_down" not in text  # the dedup key is internal
        assert "pantau" not in text.replace("pantau.kotabogor", "")

    def test_a_manual_request_shows_its_subject(self) -> None:
        run = Run()
        run.open(manual_draft())
        text = render(notice("ticket_opened", run.t), "id", "Asia/Jakarta", BASE)
        assert "Perihal: Pemasangan access point baru" in text.text
        assert text.text.startswith("Tiket baru: Permohonan\n")


class TestEnglish:
    """An English reader gets the same facts in English."""

    def test_contents(self) -> None:
        text = render(notice("sla_breached"), "en", "Asia/Jakarta", BASE)
        for part in ("Step 2 is past its due time", "sw-dinkes-01", "Dinas Kesehatan",
                     SOP_006.step(2).title_en, "Wednesday, 25 November 2026 08:00 WIB", LINK,
                     "Device unreachable", "Head of department"):
            assert part in text.text
        assert "Kepala Dinas mendisposisikan" not in text.text

    def test_unknown_language_is_indonesian(self) -> None:
        assert render(notice(), "fr", "Asia/Jakarta", BASE) == render(
            notice(), "id", "Asia/Jakarta", BASE)


class TestTimes:
    """Due times are written in the device's zone, as Indonesians write them."""

    @pytest.mark.parametrize(("tz", "expected"), [
        ("Asia/Jakarta", "Senin, 7 Desember 2026 09.00 WIB"),
        ("Asia/Makassar", "Senin, 7 Desember 2026 10.00 WITA"),
        ("Asia/Jayapura", "Senin, 7 Desember 2026 11.00 WIT"),
        ("Europe/Amsterdam", "Senin, 7 Desember 2026 03.00 UTC+01:00"),
    ])
    def test_local_time(self, tz: str, expected: str) -> None:
        assert local_time(datetime(2026, 12, 7, 2, 0, tzinfo=UTC), tz) == expected

    def test_english_local_time(self) -> None:
        moment = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
        assert local_time(moment, "Asia/Jakarta", "en") == "Monday, 7 December 2026 09:00 WIB"

    def test_message_uses_the_zone_given(self) -> None:
        text = render(notice(), "id", "Asia/Makassar", BASE)
        assert "Rabu, 25 November 2026 09.00 WITA" in text.text


class TestHtml:
    """The HTML uses only <b> and <a href> and escapes every text it did not write."""

    def test_only_allowed_tags(self) -> None:
        for kind in HEADLINES:
            html = render(notice(kind), "id", "Asia/Jakarta", BASE).html
            for tag, attrs in parsed(html).tags:
                assert tag in {"b", "i", "a"}
                assert [name for name, _ in attrs] == (["href"] if tag == "a" else [])
            assert re.findall(r"</?(\w+)", html) == ["b", "b", "a", "a"]

    def test_user_text_is_escaped(self) -> None:
        ticket = replace(opened(), owner="Dinas <Kesehatan> & Co", device='sw-"01"&<x>')
        text = render(notice("ticket_closed", ticket), "id", "Asia/Jakarta", BASE)
        assert "Dinas &lt;Kesehatan&gt; &amp; Co" in text.html
        assert "<Kesehatan>" not in text.html
        assert "Dinas <Kesehatan> & Co" in text.text  # plain text is plain
        assert "Dinas <Kesehatan> & Co" in "".join(parsed(text.html).shown)
        assert [tag for tag, _ in parsed(text.html).tags] == ["b", "a"]

    def test_link_is_the_ticket_page(self) -> None:
        html = render(notice(), "en", "Asia/Jakarta", BASE).html
        assert parsed(html).tags[-1] == ("a", [("href", LINK)])
        assert ticket_link("https://x.example/base", "A/B 1") == (
            "https://x.example/base/tickets/A%2FB%201")


class TestDocument:
    """The webhook document holds stable machine-readable facts."""

    def test_fields(self) -> None:
        t = opened()
        doc = render(notice("sla_warning", t), "en", "Asia/Jakarta", BASE).document
        assert doc == {
            "kind": "sla_warning", "ticket": "SOP006-2026-000001", "device": "sw-dinkes-01",
            "owner": "Dinas Kesehatan", "fault": "device_down", "item": "", "automatic": True,
            "step": 2, "step_key": "disposisi_kabid",
            "step_title": SOP_006.step(2).title_id, "role": "kepala_dinas",
            "due_at": "2026-11-25T01:00:00+00:00", "status": "open", "link": LINK,
        }
        assert T0.isoformat() not in repr(doc)

    def test_closed_ticket_has_no_step(self) -> None:
        doc = render(Notice("ticket_closed", opened(), None, None), "id", "Asia/Jakarta",
                     BASE).document
        assert doc["step"] is None
        assert doc["due_at"] is None
