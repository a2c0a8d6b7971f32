"""The ticket page and its letters in Indonesian from end to end, served by the real ASGI app
in-process: every reason code shown in Indonesian (never its English text), the evidence as a
readable table in the device's local time, and people named by their full names."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from agent.api import ApiContext
from agent.config import User, WebSettings
from agent.core.model import Device, Secret
from agent.core.reasons import Reason, reason
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from agent.web.pages import WebContext
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import DINKES, USERS, client_of, walk_to
from tests.integration.test_pages import csrf, device_doc, password, password_hash, text_of
from tests.reason_examples import CODES, english_left, example
from ticketing.calendar import CalendarTime
from ticketing.models import Fault, Ticket
from ticketing.observation import FAILING, Observation
from ticketing.payloads import Evidence, Probe, Verification
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006

NIP = "198702142010011003"
#: the kasi's and the teknisi's names as configured; the others have none
PEOPLE = {"kasi": ("Budi Santoso", NIP, "Kepala Seksi Infrastruktur"),
          "teknisi": ("Joko Susilo", None, None)}
DEVICES = (Device("sw-dinkes-01", "127.0.0.11", DINKES, site="Gedung A",
                  timezone="Asia/Makassar"),
           Device("ap-dinkes-02", "127.0.0.13", DINKES))
COMPOSITE = reason("results_failed", count=3,
                   note=reason("upstream_not_rechecked", kind="parent", name="core", seconds=30),
                   last=reason("check_timeout", check="snmp", address="10.0.0.1", seconds=2.0))
EXAMPLES = {**{code: example(code) for code in CODES}, "composite": COMPOSITE}


class CodedVerifier:
    """Passes every verification, its verdict and its one probe carrying `cause`."""

    def __init__(self, clock: FakeClock, cause: Reason) -> None:
        self.clock = clock
        self.cause = cause

    async def verify(self, ticket: Ticket) -> Verification:
        started = self.clock.now()
        self.clock.advance(1)
        return Verification(passed=True, started_at=started, finished_at=self.clock.now(),
                            reason=self.cause.text(), cause=self.cause, probes=(Probe(
                                round=1, device=ticket.device, check="icmp", status="ok",
                                at=started, healthy=True, reason=self.cause.text(),
                                cause=self.cause, samples={"icmp_rtt_seconds": 0.0015,
                                                           "icmp_packet_loss_ratio": 0.0}),))


def users() -> list[User]:
    out = []
    for name, (role, owner) in USERS.items():
        full, nip, jabatan = PEOPLE.get(name, (None, None, None))
        out.append(User(name, role, Secret(f"tok-{name}-s3cr3t"), owner,
                        Secret(password_hash(name)), full_name=full, nip=nip, jabatan=jabatan))
    return out


@dataclass
class Site:
    client: httpx.AsyncClient
    service: TicketService
    ticket: Ticket


@contextlib.asynccontextmanager
async def serve(cause: Reason, steps_done: int = 10) -> AsyncIterator[Site]:
    """The pages over a service holding one automatic ticket of sw-dinkes-01 (a WITA site)
    whose evidence carries `cause`, walked to step `steps_done` (10: closed), signed in as
    admin."""
    clock = FakeClock()
    service = TicketService(backend=InMemoryBackend(), sop=SOP_006, calendar=CalendarTime(),
                            clock=clock, verifier=CodedVerifier(clock, cause),
                            settings=TicketSettingsView())
    at = clock.now()
    evidence = Evidence.of_detection(
        fault="device_down", state="down", since=at, reason=cause.text(), cause=cause,
        last={"icmp": {"status": "down", "observed_at": at.isoformat(), "reason": cause.text(),
                       "reason_code": cause.to_json(), "error": "timeout",
                       "samples": {"icmp_rtt_seconds": 0.0015,
                                   "icmp_packet_loss_ratio": 1.0}}})
    ticket = await service.observe(Observation(
        device="sw-dinkes-01", owner=DINKES, fault=Fault.DEVICE_DOWN, kind=FAILING, at=at,
        reason=cause.text(), evidence=evidence, cause=cause))
    assert ticket is not None
    clock.advance(3600)
    ticket = await walk_to(service, ticket, steps_done)

    def docs(name: str | None = None) -> list[dict[str, object]]:
        return [device_doc(d) for d in DEVICES if name is None or d.name == name]

    people = users()
    api = ApiContext(service=service, users=people, devices=DEVICES, devices_json=docs)
    pages = WebContext(service=service, users=people, devices=DEVICES, devices_json=docs,
                       web=WebSettings(session_key=Secret("k" * 40)))
    app = build_app(Metrics(), Snapshot, docs, lambda: True, api, pages)
    async with client_of(app) as client:
        login = await client.get("/login")
        signed = await client.post("/login", data={
            "username": "admin", "password": password("admin"), "next": "/devices",
            "csrf_token": csrf(login.text)})
        assert signed.status_code == 303
        yield Site(client, service, ticket)


class TestEveryReasonCode:
    """In Indonesian, the page and every letter show each code's Indonesian text, never its
    English one; switched to English, the page shows the English one."""

    @pytest.mark.parametrize("code", sorted(EXAMPLES))
    async def test_page_and_letters(self, code: str) -> None:
        r = EXAMPLES[code]
        async with serve(r) as site:
            client = site.client
            page = text_of((await client.get(f"/tickets/{site.ticket.id}")).text)
            assert english_left(page, r) == []
            assert r.text("id") in page
            for no in range(1, 10):
                letter = await client.get(f"/tickets/{site.ticket.id}/documents/{no}")
                assert letter.status_code == 200
                assert english_left(text_of(letter.text), r) == [], f"letter {no}"
            await client.get("/lang/en")
            english = text_of((await client.get(f"/tickets/{site.ticket.id}")).text)
            assert r.text("en") in english


class TestEvidenceTable:
    """The evidence is a labelled table with units, in the device's local time."""

    async def test_readable_in_indonesian(self) -> None:
        async with serve(example("icmp_no_reply"), steps_done=2) as site:
            html = (await site.client.get(f"/tickets/{site.ticket.id}")).text
            page = text_of(html)
            for raw in ("last.icmp", "samples", "icmp_packet_loss_ratio", "reason_code",
                        "T00:00:00", "+00:00", "device_down"):
                assert raw not in page, raw
            # FakeClock starts at 2026-11-24 01:00 UTC: 09.00 in Makassar (WITA), 08.00 WIB
            assert "Sejak 24 November 2026 pukul 09.00 WITA" in page
            assert ("ICMP (ping) Terputus 1,50 100 24 November 2026 pukul 09.00.00 WITA "
                    "tidak ada balasan atas 5 permintaan echo") in page
            assert "Pengukuran terakhir" in page

    async def test_readable_in_english(self) -> None:
        async with serve(example("icmp_no_reply"), steps_done=2) as site:
            await site.client.get("/lang/en")
            page = text_of((await site.client.get(f"/tickets/{site.ticket.id}")).text)
            assert "Since 24 November 2026 09:00 WITA" in page
            assert "ICMP (ping) Down 1.50 100 24 November 2026 09:00:00 WITA" in page
            assert "Last measurements" in page


class TestPeople:
    """Who did a step is named by their full name; letters sign with name, NIP, jabatan."""

    async def test_steps_and_timeline_name_people(self) -> None:
        async with serve(example("no_result_yet"), steps_done=6) as site:
            page = text_of((await site.client.get(f"/tickets/{site.ticket.id}")).text)
            assert "Budi Santoso (kasi)" in page  # completed step 4
            assert "Joko Susilo (teknisi)" in page  # completed step 5
            assert "kabid (Kepala Bidang TI)" in page  # no full name: the user name

    async def test_letters_sign_from_the_configuration(self) -> None:
        async with serve(example("no_result_yet"), steps_done=6) as site:
            four = text_of((await site.client.get(
                f"/tickets/{site.ticket.id}/documents/4")).text)
            assert f"Kepala Seksi Infrastruktur, Budi Santoso NIP. {NIP}" in four
            five = text_of((await site.client.get(
                f"/tickets/{site.ticket.id}/documents/5")).text)
            assert f"Staf/Teknisi, Joko Susilo NIP. {'.' * 40}" in five
            assert "NIP. \u2014" not in five
            three = text_of((await site.client.get(
                f"/tickets/{site.ticket.id}/documents/3")).text)
            assert f"Kepala Bidang Teknologi Informasi, {'.' * 40} NIP. {'.' * 40}" in three
