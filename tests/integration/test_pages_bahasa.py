"""The ticket page and its letters in Indonesian from end to end, served by the real ASGI app
in-process: every reason code shown in Indonesian (never its English text), the evidence as a
readable table in the device's local time, and people named by their full names."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from agent.api import ApiContext
from agent.config import User, WebSettings
from agent.core.model import CheckResult, Device, DeviceState, Secret, Status
from agent.core.reasons import Reason, reason
from agent.core.settings import FlappingSettings, PollingSettings
from agent.detect import Detector, Transition
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from agent.status import result_json
from agent.tickets import observation
from agent.web.pages import WebContext
from tests.conftest import Figure
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
                   last=reason("check_timeout", check="snmp", address="127.0.0.41", seconds=2.0))
EXAMPLES = {**{code: example(code) for code in CODES}, "composite": COMPOSITE}


class CodedVerifier:
    """Passes every verification, its verdict and its one probe carrying `cause`."""

    def __init__(self, clock: FakeClock, cause: Reason) -> None:
        self.clock = clock
        self.cause = cause
        self.passed = True  # False: the device is still down, `cause` says why

    async def verify(self, ticket: Ticket) -> Verification:
        started = self.clock.now()
        self.clock.advance(1)
        return Verification(passed=self.passed, started_at=started,
                            finished_at=self.clock.now(), reason=self.cause.text(),
                            cause=self.cause, probes=(Probe(
                                round=1, device=ticket.device, check="icmp",
                                status="ok" if self.passed else "down", at=started,
                                healthy=self.passed, reason=self.cause.text(),
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
async def serve(cause: Reason, steps_done: int = 10, observed: Observation | None = None,
                user: str = "admin") -> AsyncIterator[Site]:
    """The pages over a service holding one automatic ticket of sw-dinkes-01 (a WITA site)
    whose evidence carries `cause` (or opened by `observed`), walked to step `steps_done`
    (10: closed), signed in as `user`."""
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
    ticket = await service.observe(observed or Observation(
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
            "username": user, "password": password(user), "next": "/devices",
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


class TestFromDetection:
    """A device that stops answering ping, from its results through the detector and the
    bridge to its ticket, walked through all nine steps: nothing English on the page or in the
    letters (the issue's reproduction)."""

    async def test_the_issue_reproduction(self, figure: Figure) -> None:
        clock = FakeClock()
        device = DEVICES[0]
        detector = Detector([device], PollingSettings(interval_seconds=30, down_after=3),
                            FlappingSettings(), ())
        transitions: list[Transition] = []
        last: dict[str, CheckResult] = {}
        for _ in range(3):
            clock.advance(30)
            last["icmp"] = CheckResult(
                device.name, "icmp", Status.DOWN, clock.now(), 1.0, error="timeout",
                reason="no reply to 5 echo requests to 127.0.0.11 in 1.0s",
                code="icmp_no_reply",
                params=(("sent", 5), ("address", "127.0.0.11"), ("seconds", 1.0)))
            transitions += [e for e in detector.observe(last["icmp"], "")
                            if isinstance(e, Transition)]
        [down] = [t for t in transitions if t.new is DeviceState.DOWN]
        obs = observation(down, {device.name: device}, lambda name: DeviceState.DOWN,
                          lambda name: {c: result_json(r) for c, r in last.items()})
        assert obs is not None
        assert obs.cause is not None
        async with serve(obs.cause, observed=obs) as site:
            page = text_of((await site.client.get(f"/tickets/{site.ticket.id}")).text)
            letters = [text_of((await site.client.get(
                f"/tickets/{site.ticket.id}/documents/{no}")).text) for no in range(1, 10)]
        english = ("no reply to", "echo requests", "consecutive failed results",
                   "device(s) healthy", "probe(s) over", "last.icmp", "NIP. \u2014")
        left = sum(text.count(e) for text in (page, *letters) for e in english)
        iso = sum(len(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text))
                  for text in (page, *letters))
        figure(f"ticket page and 9 letters: {left} English reason fragments or raw keys, "
               f"{iso} ISO timestamps (before this change: 37 and 3)")
        assert (left, iso) == (0, 0)
        assert ("3 hasil gagal berturut-turut (terakhir: tidak ada balasan atas 5 permintaan "
                "echo (ping) ke 127.0.0.11 dalam 1,0 detik)") in page


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
            assert "Masuk sebagai admin (Administrator)" in page

    async def test_the_header_names_the_signed_in_person(self) -> None:
        async with serve(example("no_result_yet"), steps_done=2, user="kasi") as site:
            page = text_of((await site.client.get("/devices")).text)
            assert "Masuk sebagai Budi Santoso (Kepala Seksi)" in page

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


class TestRefusals:
    """The workflow's refusals on the ticket page in the reader's language: the step-7 gate
    with the probe's reason, a closed ticket, a missing field (issue 16, part 5)."""

    CAUSE = example("icmp_no_reply")

    async def refuse_step_7(self, site: Site) -> str:
        verifier = site.service.verifier
        assert isinstance(verifier, CodedVerifier)
        verifier.passed = False  # the device is still down
        page = await site.client.get(f"/tickets/{site.ticket.id}")
        answer = await site.client.post(f"/tickets/{site.ticket.id}/steps/7", data={
            "csrf_token": csrf(page.text), "action": "Kabel diganti"})
        assert answer.status_code == 409
        assert (await site.service.backend.get(site.ticket.id)).current_step == 7
        return text_of(answer.text)

    async def test_step_7_while_the_device_is_down(self, figure: Figure) -> None:
        async with serve(self.CAUSE, steps_done=7, user="teknisi") as site:
            page = await self.refuse_step_7(site)
        english = ("connectivity not verified", self.CAUSE.text("en"), "is closed", "needs '")
        left = sum(page.count(e) for e in english)
        figure(f"step 7 refused on the Indonesian ticket page: {left} English refusal "
               "fragments (before this change: 2)")
        assert ("Ditolak: konektivitas belum terverifikasi: " + self.CAUSE.text("id")) in page
        assert "connectivity not verified" not in page
        assert english_left(page, self.CAUSE) == []

    async def test_step_7_in_english(self) -> None:
        async with serve(self.CAUSE, steps_done=7, user="teknisi") as site:
            await site.client.get("/lang/en")
            page = await self.refuse_step_7(site)
        assert ("Refused: connectivity not verified: " + self.CAUSE.text("en")) in page

    async def test_a_closed_ticket(self) -> None:
        async with serve(self.CAUSE, steps_done=10) as site:
            page = await site.client.get(f"/tickets/{site.ticket.id}")
            answer = await site.client.post(f"/tickets/{site.ticket.id}/verify",
                                            data={"csrf_token": csrf(page.text)})
            assert answer.status_code == 303
            shown = text_of((await site.client.get(f"/tickets/{site.ticket.id}")).text)
        assert f"Ditolak: tiket {site.ticket.id} sudah ditutup" in shown
        assert "is closed" not in shown

    async def test_a_missing_field(self) -> None:
        async with serve(self.CAUSE, steps_done=2) as site:
            page = await site.client.get(f"/tickets/{site.ticket.id}")
            answer = await site.client.post(f"/tickets/{site.ticket.id}/steps/2", data={
                "csrf_token": csrf(page.text), "note": "Segera ditangani"})
            assert answer.status_code == 422
            shown = text_of(answer.text)
        assert "wajib memuat isian 'to' (Diteruskan kepada)" in shown
        assert "needs 'to'" not in shown
