"""The pages, served by the real ASGI app in-process: sign-in with the session cookie, CSRF on
every form, the language switch, the device board, tickets per step with SLA time left, a
ticket's page with each role's action, "verify now", manual requests and the letters."""

from __future__ import annotations

import contextlib
import functools
import html
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.api import ApiContext
from agent.config import User, WebSettings
from agent.core.model import Device, Secret
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from agent.web import i18n
from agent.web.pages import WebContext
from agent.web.passwords import hash_password, is_password_hash, verify_password
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import (
    DINKES,
    DISDIK,
    USERS,
    client_of,
    manual_ticket,
    walk_to,
)
from ticketing import workflow
from ticketing.calendar import CalendarTime
from ticketing.models import Ticket
from ticketing.payloads import Verification
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006

DEVICES = (
    Device("sw-dinkes-01", "127.0.0.11", DINKES, site="Gedung A"),
    Device("sw-disdik-01", "127.0.0.12", DISDIK),
    Device("ap-dinkes-02", "127.0.0.13", DINKES),
)
# USERS (user -> role, owner) as in the API tests; every password is "sandi-" + name + "!"
SESSION_KEY = "k" * 40


def password(name: str) -> str:
    return f"sandi-{name}!"


@functools.cache
def password_hash(name: str) -> str:
    return hash_password(password(name), n=2**10)  # cheap in tests; the format is the same


class Verifier:
    """One ICMP probe per ticket device; `passed` is settable (the lab tests use real probes)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.passed = True
        self.calls = 0

    async def verify(self, ticket: Ticket) -> Verification:
        self.calls += 1
        started = self.clock.now()
        self.clock.advance(1)
        return Verification.from_json({
            "passed": self.passed, "reason": "sehat" if self.passed else "tidak ada balasan",
            "started_at": started.isoformat(), "finished_at": self.clock.now().isoformat(),
            "probes": [{"round": 1, "device": ticket.device, "check": "icmp",
                        "status": "ok" if self.passed else "down", "healthy": self.passed,
                        "reason": "" if self.passed else "100% loss",
                        "at": started.isoformat(),
                        "icmp_rtt_seconds": 0.00042 if self.passed else None,
                        "icmp_packet_loss_ratio": 0.0 if self.passed else 1.0}]})


def device_doc(d: Device) -> dict[str, Any]:
    down = d.name == "sw-dinkes-01"
    return {"name": d.name, "address": d.address, "owner": d.owner, "site": d.site,
            "parent": d.parent, "state": "down" if down else "up",
            "since": "2026-11-24T07:55:00+07:00" if down else None, "flapping": False,
            "maintenance": [], "affected": [],
            "faults": [{"check": "snmp", "item": "ge-0/0/7", "state": "down",
                        "since": "2026-11-24T07:50:00+07:00"}] if down else [],
            "reboots": 0, "last_reboot": None,
            "checks": {"icmp": {"status": "down" if down else "ok", "samples": {
                "icmp_rtt_seconds": 0.00123, "icmp_packet_loss_ratio": 0.6 if down else 0.0}}}}


@dataclass
class Site:
    """A browser-like client (cookies kept) on the app, and the parts behind it."""

    client: httpx.AsyncClient
    service: TicketService
    clock: FakeClock
    verifier: Verifier
    app: Any

    async def sign_in(self, name: str, secret: str | None = None, next: str = "/devices"
                      ) -> httpx.Response:
        page = await self.client.get("/login")
        return await self.client.post("/login", data={
            "username": name, "password": password(name) if secret is None else secret,
            "next": next, "csrf_token": csrf(page.text)})

    async def ticket(self, device: str = "sw-dinkes-01") -> Ticket:
        return await manual_ticket(self.service, device, DEVICES)

    async def walk_to(self, ticket: Ticket, step: int) -> Ticket:
        return await walk_to(self.service, ticket, step)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def text_of(page: str) -> str:
    """The visible text, tags removed, entities decoded, spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def users(**changes: str) -> list[User]:
    out = []
    for name, (role, owner) in USERS.items():
        pw = changes.get(name, password_hash(name))
        out.append(User(name, role, Secret(f"tok-{name}-s3cr3t"), owner, Secret(pw)))
    out.append(User("robot", "admin", Secret("tok-robot-only-s3cr3t")))  # API only
    return out


@contextlib.asynccontextmanager
async def serve(user_list: list[User] | None = None, clock: FakeClock | None = None,
                service: TicketService | None = None, web: WebSettings | None = None
                ) -> AsyncIterator[Site]:
    clock = clock or FakeClock()
    verifier = Verifier(clock)
    service = service or TicketService(
        backend=InMemoryBackend(), sop=SOP_006, calendar=CalendarTime(), clock=clock,
        verifier=verifier, settings=TicketSettingsView())
    people = user_list or users()
    def docs(name: str | None = None) -> list[dict[str, Any]]:
        return [device_doc(d) for d in DEVICES if name is None or d.name == name]

    api = ApiContext(service=service, users=people, devices=DEVICES, devices_json=docs)
    pages = WebContext(service=service, users=people, devices=DEVICES, devices_json=docs,
                       web=web or WebSettings(session_key=Secret(SESSION_KEY)))
    app = build_app(Metrics(), Snapshot, docs, lambda: True, api, pages)
    async with client_of(app) as client:
        yield Site(client, service, clock, verifier, app)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with serve() as served:
        yield served


# -- sign-in -----------------------------------------------------------------------------------


class TestSignIn:
    """Sign-in takes a configured password, sets a signed session cookie and follows `next`."""

    async def test_pages_need_sign_in(self, site: Site) -> None:
        for path in ("/devices", "/tickets", "/tickets/new", "/tickets/X/documents/1"):
            response = await site.client.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
        root = await site.client.get("/")
        assert root.headers["location"] == "/login"

    async def test_login_page_is_indonesian(self, site: Site) -> None:
        page = await site.client.get("/login")
        assert page.status_code == 200
        assert '<html lang="id">' in page.text
        assert "Kata sandi" in page.text
        assert "Nama pengguna" in page.text

    async def test_good_password_signs_in_and_follows_next(self, site: Site) -> None:
        response = await site.sign_in("kasi", next="/tickets")
        assert response.status_code == 303
        assert response.headers["location"] == "/tickets"
        cookie = response.headers["set-cookie"]
        assert "pantau_session=" in cookie
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        board = await site.client.get("/tickets")
        assert board.status_code == 200
        assert "Masuk sebagai kasi (Kepala Seksi)" in text_of(board.text)

    async def test_secure_cookie_behind_https(self) -> None:
        async with serve() as plain:
            plain_cookie = (await plain.sign_in("kasi")).headers["set-cookie"].lower()
        assert "secure" not in plain_cookie.split("; ")
        behind_tls = WebSettings(session_key=Secret(SESSION_KEY), secure_cookie=True)
        async with serve(web=behind_tls) as secure:
            cookie = (await secure.sign_in("kasi")).headers["set-cookie"].lower()
        assert "secure" in cookie.split("; ")

    async def test_wrong_password_refused(self, site: Site) -> None:
        response = await site.sign_in("kasi", secret="salah-sandi")
        assert response.status_code == 401
        assert "Nama pengguna atau kata sandi salah." in text_of(response.text)
        assert "pantau_session" not in response.headers.get("set-cookie", "") or \
            (await site.client.get("/devices")).status_code == 303

    async def test_unknown_user_and_token_only_user_refused(self, site: Site) -> None:
        assert (await site.sign_in("nobody", secret="x")).status_code == 401
        assert (await site.sign_in("robot", secret="tok-robot-only-s3cr3t")).status_code == 401

    async def test_login_without_csrf_refused(self, site: Site) -> None:
        response = await site.client.post("/login", data={
            "username": "kasi", "password": password("kasi")})
        assert response.status_code == 403
        assert (await site.client.get("/devices")).status_code == 303

    @pytest.mark.parametrize("target", ["//evil.test/x", "https://evil.test/", "devices",
                                        "/\\evil.test"])
    async def test_next_stays_on_this_server(self, site: Site, target: str) -> None:
        response = await site.sign_in("kasi", next=target)
        assert response.headers["location"] == "/devices"

    async def test_throttled_after_five_failures(self, site: Site) -> None:
        for _ in range(5):
            assert (await site.sign_in("kasi", secret="tebakan")).status_code == 401
        locked = await site.sign_in("kasi")  # even the right password waits
        assert locked.status_code == 429
        assert "Terlalu banyak percobaan gagal" in text_of(locked.text)
        site.clock.advance(61)
        assert (await site.sign_in("kasi")).status_code == 303

    async def test_sign_out_needs_csrf_and_ends_the_session(self, site: Site) -> None:
        await site.sign_in("kasi")
        forged = await site.client.post("/logout", data={})
        assert forged.status_code == 403
        assert (await site.client.get("/devices")).status_code == 200
        page = await site.client.get("/devices")
        out = await site.client.post("/logout", data={"csrf_token": csrf(page.text)})
        assert out.headers["location"] == "/login"
        assert (await site.client.get("/devices")).status_code == 303

    async def test_tampered_cookie_is_ignored(self, site: Site) -> None:
        await site.sign_in("kasi")
        value = site.client.cookies["pantau_session"]
        site.client.cookies.set("pantau_session", value[:-3] + ("AAA" if value[-3:] != "AAA"
                                                                 else "BBB"))
        assert (await site.client.get("/devices")).status_code == 303

    async def test_changed_password_ends_sessions(self) -> None:
        clock = FakeClock()
        async with serve(clock=clock) as first:
            await first.sign_in("kasi")
            cookie = first.client.cookies["pantau_session"]
            assert (await first.client.get("/devices")).status_code == 200
            service = first.service
        changed = users(kasi=hash_password("sandi-baru-kasi", n=2**10))
        async with serve(changed, clock=clock, service=service) as second:
            second.client.cookies.set("pantau_session", cookie)
            assert (await second.client.get("/devices")).status_code == 303
        # a restart ends every sign-in, even with the same key and hash: sign-ins live
        # server-side, so that a signed-out cookie cannot come back after one (issue 14)
        async with serve(clock=clock, service=service) as third:
            third.client.cookies.set("pantau_session", cookie)
            assert (await third.client.get("/devices")).status_code == 303

    async def test_no_password_hash_in_any_page(self, site: Site) -> None:
        await site.sign_in("admin")
        ticket = await site.ticket()
        pages = [await site.client.get(p) for p in (
            "/devices", "/tickets", f"/tickets/{ticket.id}", "/tickets/new")]
        for page in pages:
            for name in USERS:
                assert password_hash(name) not in page.text
                assert password(name) not in page.text
            assert "tok-" not in page.text


class TestPasswords:
    """Password hashes are scrypt, salted, checked in constant time and validated in config."""

    def test_hash_round_trip(self) -> None:
        stored = hash_password("sandi-rahasia")
        assert stored.startswith("scrypt$32768$8$1$")
        assert is_password_hash(stored)
        assert verify_password("sandi-rahasia", stored)
        assert not verify_password("sandi-rahasib", stored)
        assert hash_password("sandi-rahasia") != stored  # salted

    @pytest.mark.parametrize("bad", ["", "sandi", "scrypt$3$8$1$AAAAAAAAAAAAAAAAAAAAAA==$x",
                                     "scrypt$1024$8$1$!!!!!!!!!!!!!!!!$" + "A" * 44,
                                     "scrypt$1073741824$8$1$" + "A" * 24 + "$" + "A" * 44])
    def test_malformed_hashes_never_match(self, bad: str) -> None:
        assert not is_password_hash(bad) or not verify_password("x", bad)
        assert not verify_password("sandi", bad)

    def test_cli_prints_a_hash_that_verifies(self) -> None:
        done = subprocess.run([sys.executable, "-m", "agent", "hash-password", "--stdin"],
                              input="sandi-teknisi-01\n", capture_output=True, text=True,
                              check=True, timeout=60)
        stored = done.stdout.strip()
        assert verify_password("sandi-teknisi-01", stored)
        assert "sandi-teknisi-01" not in done.stdout + done.stderr

    def test_cli_refuses_a_short_password(self) -> None:
        done = subprocess.run([sys.executable, "-m", "agent", "hash-password", "--stdin"],
                              input="pendek\n", capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "at least 8 characters" in done.stderr
        assert not done.stdout


# -- language ----------------------------------------------------------------------------------


class TestLanguage:
    """Pages are Indonesian by default; the switch keeps to this server and survives sign-in."""

    async def test_switch_to_english_and_back(self, site: Site) -> None:
        await site.sign_in("kasi")
        assert "Papan perangkat" in (await site.client.get("/devices")).text
        switched = await site.client.get("/lang/en?next=/devices")
        assert switched.headers["location"] == "/devices"
        page = await site.client.get("/devices")
        assert '<html lang="en">' in page.text
        assert "Device board" in page.text
        await site.client.get("/lang/id?next=/devices")
        assert "Papan perangkat" in (await site.client.get("/devices")).text

    async def test_choice_survives_sign_in(self, site: Site) -> None:
        await site.client.get("/lang/en")
        assert "Password" in (await site.client.get("/login")).text
        await site.sign_in("kasi")
        assert "Device board" in (await site.client.get("/devices")).text

    async def test_unknown_language_and_foreign_next_ignored(self, site: Site) -> None:
        response = await site.client.get("/lang/fr?next=https://evil.test/")
        assert response.headers["location"] == "/"
        assert '<html lang="id">' in (await site.client.get("/login")).text

    @pytest.mark.parametrize("lang", ["id", "en"])
    async def test_no_untranslated_key_on_any_page(self, site: Site, lang: str) -> None:
        ticket = await site.walk_to(await site.ticket(), 7)
        site.verifier.passed = False
        await site.service.verify(ticket.id, workflow.Actor("kasi", "kasi"))
        await site.service.note(ticket.id, workflow.Actor("kasi", "kasi"), "catatan")
        await site.sign_in("admin")
        await site.client.get(f"/lang/{lang}")
        key = re.compile(r"\b(?:{})\.[a-z_]+\b".format("|".join(
            sorted({k.split(".")[0] for k in i18n.CATALOG}))))
        for path in ("/devices", "/tickets", "/tickets?status=closed", f"/tickets/{ticket.id}",
                     "/tickets/new", "/tickets/nope"):
            page = await site.client.get(path)
            assert f'<html lang="{lang}">' in page.text, path
            assert key.findall(text_of(page.text)) == [], path

    def test_catalog_complete(self) -> None:
        fields = re.compile(r"{(\w+)}")
        for key, (indonesian, english) in i18n.CATALOG.items():
            assert indonesian, key
            assert english, key
            assert sorted(fields.findall(indonesian)) == sorted(fields.findall(english)), key

    def test_every_key_used_in_templates_exists(self) -> None:
        folder = Path(i18n.__file__).parent / "templates"
        used: set[str] = set()
        for template in folder.glob("*.html"):
            used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", template.read_text()))
        assert used, "no t() calls found: the pattern is wrong"
        assert {key for key in used if not key.endswith(".")} - set(i18n.CATALOG) == set()
        # prefixes completed at run time ("state." ~ r.state, ...) are covered too
        for prefix, values in {"state.": ("up", "down", "unreachable", "flapping",
                                          "maintenance", "unknown"),
                               "fault.": ("device_down", "interface_down", "snmp_down",
                                          "manual"),
                               "status.": ("ok", "warning", "down", "unknown"),
                               "role.": ("perangkat_daerah", "kepala_dinas", "kabid", "kasi",
                                         "teknisi", "admin", "system")}.items():
            for value in values:
                assert f"{prefix}{value}" in i18n.CATALOG

    def test_words_formats(self) -> None:
        words_id = i18n.Words("id", "Asia/Jakarta")
        words_en = i18n.Words("en", "Asia/Jakarta")
        assert words_id.when("2026-11-24T01:05:00+00:00") == "24 Nov 2026 08.05"
        assert words_en.when("2026-08-17T03:00:00+00:00") == "17 Aug 2026 10:00"
        assert words_id.when("2026-08-17T03:00:00+00:00") == "17 Agu 2026 10.00"
        assert words_id.span(3 * 3600 + 5 * 60) == "3 j 05 m"
        assert words_en.span(-(2 * 86400 + 4 * 3600)) == "2 d 4 h"
        assert words_id.number(1234.5) == "1.234,5"
        assert words_en.number(1234.5) == "1,234.5"


# -- the device board --------------------------------------------------------------------------


class TestDeviceBoard:
    """The board shows state, RTT, loss, interfaces down and since when; agencies see theirs."""

    async def test_columns_and_problems_first(self, site: Site) -> None:
        ticket = await site.ticket("sw-dinkes-01")
        await site.sign_in("kasi")
        page = await site.client.get("/devices")
        assert page.status_code == 200
        rows = re.findall(r'<tr class="row-(\w+)" data-device="([^"]+)">(.*?)</tr>', page.text,
                          re.S)
        assert [(state, name) for state, name, _ in rows] == [
            ("down", "sw-dinkes-01"), ("up", "ap-dinkes-02"), ("up", "sw-disdik-01")]
        first = text_of(rows[0][2])
        assert "MATI" in first
        assert "1,23 ms" in first
        assert "60 %" in first
        assert "ge-0/0/7" in first
        assert "24 Nov 2026 07.55" in first
        assert "Gedung A" in first
        assert ticket.id in first
        assert 'http-equiv="refresh"' in page.text

    async def test_agency_sees_only_its_devices(self, site: Site) -> None:
        await site.sign_in("disdik")
        page = await site.client.get("/devices")
        assert "sw-disdik-01" in page.text
        assert "sw-dinkes-01" not in page.text
        assert "ap-dinkes-02" not in page.text

    async def test_filter_and_search(self, site: Site) -> None:
        await site.sign_in("kasi")
        down = await site.client.get("/devices?state_filter=down")
        assert "sw-dinkes-01" in down.text
        assert 'data-device="ap-dinkes-02"' not in down.text
        found = await site.client.get("/devices?q=disdik")
        assert 'data-device="sw-disdik-01"' in found.text
        assert 'data-device="sw-dinkes-01"' not in found.text

    async def test_security_headers(self, site: Site) -> None:
        await site.sign_in("kasi")
        page = await site.client.get("/devices")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text  # no inline script: the CSP forbids it


# -- tickets per step --------------------------------------------------------------------------


class TestTicketBoard:
    """Open tickets sit under their current step with the time left; breaches stand out."""

    async def test_grouped_by_step_with_countdown(self, site: Site) -> None:
        at2 = await site.ticket()
        at5 = await site.walk_to(await site.ticket("ap-dinkes-02"), 5)
        await site.sign_in("kasi")
        page = await site.client.get("/tickets")
        step2 = re.search(r'id="step-2">(.*?)</section>', page.text, re.S)
        step5 = re.search(r'id="step-5">(.*?)</section>', page.text, re.S)
        assert step2
        assert at2.id in step2.group(1)
        assert at5.id not in step2.group(1)
        assert step5
        assert at5.id in step5.group(1)
        assert "sisa 1 h 0 j" in text_of(step2.group(1))  # SLA of 1 day, calendar time
        assert "sisa 1 j 00 m" in text_of(step5.group(1))  # SLA of 1 hour
        assert 'class="countdown ' in page.text
        assert "data-due=" in page.text

    async def test_breach_highlighted(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 5)
        site.clock.advance(3600 + 125)
        await site.service.sweep()
        await site.sign_in("kasi")
        page = await site.client.get("/tickets")
        step5 = re.search(r'id="step-5">(.*?)</section>', page.text, re.S)
        assert step5 is not None
        assert 'class="step-group has-breach"' in page.text
        row = re.search(rf'<tr class="breached-row" data-ticket="{ticket.id}">(.*?)</tr>',
                        step5.group(1), re.S)
        assert row
        assert "lewat 2 m 05 d" in text_of(row.group(1))
        assert "1 melewati SLA" in text_of(step5.group(1))

    async def test_agency_sees_only_its_tickets(self, site: Site) -> None:
        mine = await site.ticket("sw-dinkes-01")
        theirs = await site.ticket("sw-disdik-01")
        await site.sign_in("dinkes")
        page = await site.client.get("/tickets")
        assert mine.id in page.text
        assert theirs.id not in page.text
        # as if missing: another agency's ticket ids are not confirmed
        shown = await site.client.get(f"/tickets/{theirs.id}")
        missing = await site.client.get("/tickets/SOP006-2026-999999")
        assert shown.status_code == missing.status_code == 404
        assert shown.text.replace(theirs.id, "ID") == missing.text.replace(
            "SOP006-2026-999999", "ID")

    async def test_closed_tab(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 7)
        site.verifier.passed = True
        await site.walk_to(ticket, 10)
        await site.sign_in("kabid")
        closed = await site.client.get("/tickets?status=closed")
        assert ticket.id in closed.text
        assert ticket.id not in (await site.client.get("/tickets")).text


# -- a ticket's page ---------------------------------------------------------------------------


class TestTicketPage:
    """A ticket's page shows its steps, evidence and timeline, and the signed-in role's action."""

    async def test_kasi_disposes_at_step_4(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 4)
        await site.sign_in("kasi")
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert 'id="step-form"' in page.text
        assert "Selesaikan langkah 4" in page.text
        assert 'value="Staf/Teknisi"' in page.text  # "Diteruskan kepada" filled in
        done = await site.client.post(f"/tickets/{ticket.id}/steps/4", data={
            "csrf_token": csrf(page.text), "note": "Mohon dicek hari ini", "to": "joko"})
        assert done.status_code == 303
        after = await site.client.get(done.headers["location"])
        assert "Langkah 4 selesai." in text_of(after.text)
        stored = await site.service.backend.get(ticket.id)
        assert stored.current_step == 5
        assert stored.steps[3].output == {"note": "Mohon dicek hari ini", "to": "joko"}
        assert stored.steps[3].completed_by == "kasi"
        assert "Mohon dicek hari ini" in text_of(after.text)  # in the steps and the timeline

    async def test_other_roles_see_no_form_and_cannot_post(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 4)
        await site.sign_in("teknisi")
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert 'id="step-form"' not in page.text
        assert "langkah 4: Kepala Seksi" in text_of(page.text)
        forged = await site.client.post(f"/tickets/{ticket.id}/steps/4", data={
            "csrf_token": csrf(page.text), "note": "x", "to": "y"})
        assert forged.status_code == 403
        assert (await site.service.backend.get(ticket.id)).seq == ticket.seq

    async def test_missing_field_named_and_input_kept(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 5)
        await site.sign_in("teknisi")
        page = await site.client.get(f"/tickets/{ticket.id}")
        answer = await site.client.post(f"/tickets/{ticket.id}/steps/5", data={
            "csrf_token": csrf(page.text), "findings": "Switch rusak", "devices": "  \n"})
        assert answer.status_code == 422
        assert "Perangkat yang dipasang/diganti" in text_of(answer.text)
        assert "Switch rusak" in answer.text  # what was typed is still there
        assert (await site.service.backend.get(ticket.id)).seq == ticket.seq

    async def test_checks_recorded_as_lists_and_booleans(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 5)
        await site.sign_in("teknisi")
        page = await site.client.get(f"/tickets/{ticket.id}")
        await site.client.post(f"/tickets/{ticket.id}/steps/5", data={
            "csrf_token": csrf(page.text), "findings": "PSU mati",
            "devices": "Switch 24 port\nAdaptor 12V\n"})
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert 'type="radio" name="stock_available" value="yes"' in page.text
        await site.client.post(f"/tickets/{ticket.id}/steps/6", data={
            "csrf_token": csrf(page.text), "findings": "Ada di gudang", "stock_available": "no"})
        stored = await site.service.backend.get(ticket.id)
        assert stored.steps[4].output["devices"] == ["Switch 24 port", "Adaptor 12V"]
        assert stored.steps[5].output["stock_available"] is False
        assert stored.current_step == 7

    async def test_gate_refusal_shown_with_reason(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 7)
        site.verifier.passed = False
        await site.sign_in("teknisi")
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert 'id="gate-note"' in page.text
        answer = await site.client.post(f"/tickets/{ticket.id}/steps/7", data={
            "csrf_token": csrf(page.text), "action": "Switch diganti"})
        assert answer.status_code == 409
        assert "Ditolak:" in text_of(answer.text)
        assert "Switch diganti" in answer.text
        assert (await site.service.backend.get(ticket.id)).current_step == 7

    async def test_verify_now_shows_each_probe(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 7)
        await site.sign_in("teknisi")
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert 'id="verify-now"' in page.text
        assert "Belum pernah diverifikasi." in page.text
        site.verifier.passed = False
        failed = await site.client.post(f"/tickets/{ticket.id}/verify",
                                        data={"csrf_token": csrf(page.text)})
        assert failed.headers["location"].endswith("#verifikasi")
        shown = await site.client.get(f"/tickets/{ticket.id}")
        text = text_of(shown.text)
        assert "Hasil verifikasi GAGAL: tidak ada balasan" in text
        probes = re.findall(r'<tr class="probe (\w+)">(.*?)</tr>', shown.text, re.S)
        assert [k for k, _ in probes] == ["bad"]
        assert "sw-dinkes-01" in probes[0][1]
        assert "100 %" in text_of(probes[0][1])
        site.verifier.passed = True
        await site.client.post(f"/tickets/{ticket.id}/verify",
                               data={"csrf_token": csrf(shown.text)})
        passed = await site.client.get(f"/tickets/{ticket.id}")
        probes = re.findall(r'<tr class="probe (\w+)">(.*?)</tr>', passed.text, re.S)
        assert [k for k, _ in probes] == ["ok"]
        assert "0,42 ms" in text_of(probes[0][1])
        assert "LULUS" in text_of(passed.text)

    async def test_agency_cannot_verify(self, site: Site) -> None:
        ticket = await site.ticket()
        await site.sign_in("dinkes")
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert 'id="verify-now"' not in page.text
        answer = await site.client.post(f"/tickets/{ticket.id}/verify",
                                        data={"csrf_token": csrf(page.text)})
        assert answer.status_code == 403
        assert site.verifier.calls == 0

    async def test_note_added_to_timeline(self, site: Site) -> None:
        ticket = await site.ticket()
        await site.sign_in("dinkes")
        page = await site.client.get(f"/tickets/{ticket.id}")
        await site.client.post(f"/tickets/{ticket.id}/notes", data={
            "csrf_token": csrf(page.text), "text": "Ruang server dikunci <b>"})
        after = await site.client.get(f"/tickets/{ticket.id}")
        assert "Ruang server dikunci &lt;b&gt;" in after.text
        events = await site.service.backend.events(ticket.id)
        assert events[-1].kind.value == "note"
        assert events[-1].actor == "dinkes"

    async def test_unknown_ticket(self, site: Site) -> None:
        await site.sign_in("kasi")
        missing = await site.client.get("/tickets/SOP006-2026-999999")
        assert missing.status_code == 404
        assert "Tidak ditemukan." in missing.text


STAFF = {"kadis", "kabid", "kasi", "teknisi", "admin"}


def statuses(allowed: set[str], ok: int) -> dict[str, int]:
    return {u: ok if u in allowed else 403 for u in USERS}


#: page or form -> user -> status, on a ticket of Dinas Kesehatan waiting at step 2; for
#: another agency (disdik) the ticket's pages answer as if it did not exist (404)
PAGE_MATRIX: dict[str, dict[str, int]] = {
    "GET /devices": statuses(set(USERS), 200),
    "GET /tickets": statuses(set(USERS), 200),
    "GET /tickets/{id}": {**statuses(set(USERS) - {"disdik"}, 200), "disdik": 404},
    "GET /tickets/{id}/documents/1": {**statuses(set(USERS) - {"disdik"}, 200),
                                      "disdik": 404},
    "GET /tickets/new": statuses({"dinkes", "disdik", "admin"}, 200),
    "POST /tickets/{id}/steps/2": {**statuses({"kadis", "admin"}, 303), "disdik": 404},
    "POST /tickets/{id}/verify": {**statuses(STAFF, 303), "disdik": 404},
    "POST /tickets/{id}/notes": {**statuses(set(USERS) - {"disdik"}, 303), "disdik": 404},
    "POST /tickets/new": statuses({"dinkes", "admin"}, 303),
}


class TestRolePageMatrix:
    """Every page and form answers each role as the API does; refusals change nothing."""

    @pytest.mark.parametrize(("route", "user"), [(r, u) for r in PAGE_MATRIX for u in USERS])
    async def test_status(self, site: Site, route: str, user: str) -> None:
        ticket = await site.ticket()
        await site.sign_in(user)
        token = csrf((await site.client.get("/devices")).text)
        method, path = route.split(" ")
        path = path.replace("{id}", ticket.id)
        data = {"csrf_token": token, "note": "segera", "to": "kabid", "text": "catatan",
                "device": "sw-dinkes-01", "subject": "AP baru", "description": "lantai 2"}
        before = len(await site.service.backend.list(None)), await site.service.backend.events(
            ticket.id)
        response = await (site.client.get(path) if method == "GET"
                          else site.client.post(path, data=data))
        assert response.status_code == PAGE_MATRIX[route][user], response.text[:300]
        if response.status_code in (403, 404):
            assert ("Peran Anda tidak boleh melakukan ini." if response.status_code == 403
                    else "Tidak ditemukan.") in text_of(response.text)
            after = len(await site.service.backend.list(None)), await site.service.backend.events(
                ticket.id)
            assert after == before
            assert site.verifier.calls == 0


class TestCsrf:
    """Every form post without the session's token is refused and changes nothing."""

    @pytest.mark.parametrize("token", [None, "", "forged-token"])
    async def test_every_form_refuses_a_bad_token(self, site: Site, token: str | None) -> None:
        ticket = await site.walk_to(await site.ticket(), 4)
        await site.sign_in("admin")
        before = len(await site.service.backend.events(ticket.id))
        forms = {f"/tickets/{ticket.id}/steps/4": {"note": "x", "to": "y"},
                 f"/tickets/{ticket.id}/verify": {}, f"/tickets/{ticket.id}/notes":
                 {"text": "x"}, "/tickets/new": {"device": "sw-dinkes-01", "subject": "s",
                                                 "description": "d"}, "/logout": {}}
        for path, data in forms.items():
            body = dict(data) if token is None else {"csrf_token": token, **data}
            answer = await site.client.post(path, data=body)
            assert answer.status_code == 403, path
            assert "Formulir kedaluwarsa atau tidak sah" in text_of(answer.text)
        assert len(await site.service.backend.events(ticket.id)) == before
        assert len(await site.service.backend.list(None)) == 1
        assert site.verifier.calls == 0
        assert (await site.client.get("/devices")).status_code == 200  # still signed in

    async def test_token_of_another_session_refused(self) -> None:
        async with serve() as one, serve() as two:
            await one.sign_in("admin")
            await two.sign_in("admin")
            ticket = await one.ticket()
            other = csrf((await two.client.get(f"/tickets/{ticket.id}")).text)
            answer = await one.client.post(f"/tickets/{ticket.id}/notes",
                                           data={"csrf_token": other, "text": "x"})
            assert answer.status_code == 403


# -- manual requests and letters ---------------------------------------------------------------


class TestManualRequest:
    """An agency files a Surat Permohonan for its own devices; an admin for any agency."""

    async def test_agency_files_for_itself(self, site: Site) -> None:
        await site.sign_in("dinkes")
        form = await site.client.get("/tickets/new")
        assert form.status_code == 200
        assert "Surat Permohonan baru" in form.text
        assert 'name="owner"' not in form.text  # the agency is the user's own
        done = await site.client.post("/tickets/new", data={
            "csrf_token": csrf(form.text), "device": "ap-baru-lt2",
            "subject": "Pemasangan AP baru", "description": "Ruang rapat lantai 2"})
        assert done.status_code == 303
        (ticket,) = await site.service.backend.list(None)
        assert (ticket.owner, ticket.device, ticket.current_step) == (DINKES, "ap-baru-lt2", 2)
        assert ticket.steps[0].output["subject"] == "Pemasangan AP baru"

    async def test_agency_cannot_file_for_another_agency_device(self, site: Site) -> None:
        await site.sign_in("dinkes")
        form = await site.client.get("/tickets/new")
        answer = await site.client.post("/tickets/new", data={
            "csrf_token": csrf(form.text), "device": "sw-disdik-01", "subject": "x",
            "description": "y"})
        assert answer.status_code == 403
        assert not await site.service.backend.list(None)

    async def test_staff_cannot_file(self, site: Site) -> None:
        await site.sign_in("kasi")
        assert (await site.client.get("/tickets/new")).status_code == 403

    async def test_admin_needs_an_owner_for_a_new_device(self, site: Site) -> None:
        await site.sign_in("admin")
        form = await site.client.get("/tickets/new")
        answer = await site.client.post("/tickets/new", data={
            "csrf_token": csrf(form.text), "device": "ap-baru", "subject": "x",
            "description": "y"})
        assert answer.status_code == 422
        assert "Perangkat Daerah" in text_of(answer.text)
        assert 'value="ap-baru"' in answer.text


class TestDocuments:
    """Each completed step's output document opens as a printable letter."""

    async def test_letter_after_completion_only(self, site: Site) -> None:
        ticket = await site.walk_to(await site.ticket(), 3)
        await site.sign_in("kabid")
        page = await site.client.get(f"/tickets/{ticket.id}")
        assert f'href="/tickets/{ticket.id}/documents/2"' in page.text
        assert f'href="/tickets/{ticket.id}/documents/3"' not in page.text
        letter = await site.client.get(f"/tickets/{ticket.id}/documents/2")
        assert letter.status_code == 200
        assert "PEMERINTAH KOTA BOGOR" in letter.text
        assert "Lembar Disposisi" in letter.text
        assert (await site.client.get(f"/tickets/{ticket.id}/documents/3")).status_code == 404
        assert (await site.client.get(f"/tickets/{ticket.id}/documents/99")).status_code == 404

    async def test_agency_cannot_read_another_agency_letter(self, site: Site) -> None:
        ticket = await site.ticket("sw-disdik-01")
        await site.sign_in("dinkes")
        answer = await site.client.get(f"/tickets/{ticket.id}/documents/1")
        assert answer.status_code == 404  # as if it did not exist
