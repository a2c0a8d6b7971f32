"""The notification pages, served by the real ASGI app in-process over a fake
NotificationDesk (tests/notify_desk_fake.py): the admin's list of failed and waiting messages
with "Kirim ulang", and a user's own channels with "Kirim pesan uji"."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from agent.api import ApiContext
from agent.config import WebSettings
from agent.core.model import Secret
from agent.core.outbox import Delivery
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from agent.web import i18n
from agent.web.notifications import TEST_EVERY_SECONDS
from agent.web.pages import WebContext
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import USERS, client_of, devices_docs
from tests.integration.test_pages import (
    DEVICES,
    SESSION_KEY,
    Verifier,
    csrf,
    password,
    text_of,
    users,
)
from tests.notify_desk_fake import FakeDesk, seed_outbox
from ticketing.calendar import CalendarTime
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006

FORBIDDEN = "Peran Anda tidak boleh melakukan ini."
CSRF_REFUSED = "Formulir kedaluwarsa atau tidak sah"


@dataclass
class Site:
    client: httpx.AsyncClient
    backend: InMemoryBackend
    clock: FakeClock
    desk: FakeDesk  # the app's when configured

    async def sign_in(self, name: str) -> None:
        page = await self.client.get("/login")
        answer = await self.client.post("/login", data={
            "username": name, "password": password(name), "next": "/devices",
            "csrf_token": csrf(page.text)})
        assert answer.status_code == 303

    async def post(self, path: str, token: str | None = "") -> httpx.Response:
        """POST `path` with the session's CSRF token (`token` when given, none for None)."""
        if token == "":
            token = csrf((await self.client.get("/devices")).text)
        return await self.client.post(path, data={} if token is None else {"csrf_token": token})


@contextlib.asynccontextmanager
async def serve(configured: bool = True) -> AsyncIterator[Site]:
    clock = FakeClock()
    backend = InMemoryBackend()
    service = TicketService(backend=backend, sop=SOP_006, calendar=CalendarTime(), clock=clock,
                            verifier=Verifier(clock), settings=TicketSettingsView())
    await seed_outbox(backend, clock)
    desk = FakeDesk(backend, clock)
    people = users()
    docs = devices_docs
    shown = desk if configured else None
    api = ApiContext(service=service, users=people, devices=DEVICES, devices_json=docs,
                     notifications=shown)
    pages = WebContext(service=service, users=people, devices=DEVICES, devices_json=docs,
                       web=WebSettings(session_key=Secret(SESSION_KEY)), notifications=shown)
    app = build_app(Metrics(), Snapshot, docs, lambda: True, api, pages)
    async with client_of(app) as client:
        yield Site(client, backend, clock, desk)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with serve() as served:
        yield served


def rows(page: str) -> list[str]:
    return re.findall(r'data-message="(\d+)"', page)


class TestAdminPage:
    """An admin sees the failed and waiting messages and queues one again with "Kirim ulang"."""

    async def test_lists_failed_and_waiting(self, site: Site) -> None:
        await site.sign_in("admin")
        page = await site.client.get("/notifications")
        assert page.status_code == 200
        assert rows(page.text) == ["3", "1"]  # newest first; the sent one is not listed
        text = text_of(page.text)
        assert "Notifikasi yang belum terkirim" in text
        assert "1 pesan menunggu dikirim · yang tertua sejak 24 Nov 2026 07.53" in text
        assert "Telegram 123456789" in text  # an admin sees the address
        assert "Webhook wa-gateway" in text
        assert "telegram 403: bot was blocked by the user" in text
        assert "[SOP006-2026-000001] Tiket baru <1>" in text  # escaped, shown as written
        assert "<1>" not in page.text
        assert page.text.count('name="csrf_token"') >= 3
        assert re.findall(r'id="retry-(\d+)">Kirim ulang<', page.text) == ["3", "1"]
        assert 'href="/tickets/SOP006-2026-000001"' in page.text

    async def test_navigation(self, site: Site) -> None:
        await site.sign_in("admin")
        board = (await site.client.get("/devices")).text
        assert 'href="/notifications"' in board
        assert 'href="/me/notifications"' in board
        await site.sign_in("kasi")
        board = (await site.client.get("/devices")).text
        assert 'href="/notifications"' not in board
        assert 'href="/me/notifications"' in board

    async def test_retry_queues_again(self, site: Site, caplog: pytest.LogCaptureFixture
                                      ) -> None:
        caplog.set_level(logging.INFO, "agent.web.notifications")
        await site.sign_in("admin")
        answer = await site.post("/notifications/1/retry")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/notifications"
        page = await site.client.get("/notifications")
        assert "Pesan 1 dijadwalkan untuk dikirim ulang sekarang." in text_of(page.text)
        assert site.desk.retried == [1]
        assert [q.status for q in await site.backend.messages(None, 10)] == [
            Delivery.WAITING, Delivery.SENT, Delivery.WAITING]
        assert "2 pesan menunggu dikirim" in text_of(page.text)
        assert [(r.message, r.message_id, r.user) for r in caplog.records  # type: ignore[attr-defined]
                ] == [("notification retried", 1, "admin")]

    async def test_retry_of_a_sent_message_refused(self, site: Site) -> None:
        await site.sign_in("admin")
        await site.post("/notifications/2/retry")
        page = await site.client.get("/notifications")
        assert "Pesan 2 tidak dapat dikirim ulang" in text_of(page.text)

    @pytest.mark.parametrize("user", sorted(set(USERS) - {"admin"}))
    async def test_other_roles_refused(self, site: Site, user: str) -> None:
        await site.sign_in(user)
        page = await site.client.get("/notifications")
        assert page.status_code == 403
        assert FORBIDDEN in text_of(page.text)
        answer = await site.post("/notifications/1/retry")
        assert answer.status_code == 403
        assert site.desk.retried == []

    @pytest.mark.parametrize("token", [None, "forged-token"])
    async def test_retry_needs_the_csrf_token(self, site: Site, token: str | None) -> None:
        await site.sign_in("admin")
        answer = await site.post("/notifications/1/retry", token)
        assert answer.status_code == 403
        assert CSRF_REFUSED in text_of(answer.text)
        assert site.desk.retried == []

    async def test_sign_in_required(self, site: Site) -> None:
        for path in ("/notifications", "/me/notifications"):
            answer = await site.client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=")

    async def test_store_down(self, site: Site) -> None:
        await site.sign_in("admin")
        token = csrf((await site.client.get("/devices")).text)
        site.backend.unavailable = True
        assert (await site.client.get("/notifications")).status_code == 503
        assert (await site.post("/notifications/1/retry", token)).status_code == 503

    async def test_not_configured(self) -> None:
        async with serve(configured=False) as site:
            await site.sign_in("admin")
            page = await site.client.get("/notifications")
            assert page.status_code == 200
            assert "Notifikasi belum dikonfigurasi" in text_of(page.text)
            assert (await site.post("/notifications/1/retry")).status_code == 404


class TestOwnPage:
    """A user sees their own channels and sends a test message to each, with each outcome."""

    async def test_channels_and_test_button(self, site: Site) -> None:
        await site.sign_in("kadis")
        page = await site.client.get("/me/notifications")
        assert page.status_code == 200
        text = text_of(page.text)
        assert "Saluran notifikasi saya" in text
        assert "Telegram 123456789" in text
        assert "Surel (e-mail) kadis@kotabogor.example" in text
        assert "Kirim pesan uji" in text
        assert 'action="/me/notifications/test"' in page.text

    async def test_send_test_shows_each_outcome(self, site: Site,
                                                caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, "agent.web.notifications")
        site.desk.failing["email"] = "SMTP 550: mailbox unavailable"
        await site.sign_in("kadis")
        answer = await site.post("/me/notifications/test")
        assert answer.status_code == 200
        assert site.desk.tested == ["kadis"]
        outcomes = text_of(answer.text.split('id="outcomes"', 1)[1])
        assert "Hasil pesan uji" in outcomes
        assert "Telegram 123456789 Terkirim" in outcomes
        assert "Surel (e-mail) kadis@kotabogor.example Gagal: SMTP 550: mailbox unavailable" \
            in outcomes
        assert [(r.message, r.sent, r.channels) for r in caplog.records  # type: ignore[attr-defined]
                ] == [("test notification sent", 1, 2)]

    async def test_one_test_per_interval(self, site: Site) -> None:
        await site.sign_in("kasi")
        assert (await site.post("/me/notifications/test")).status_code == 200
        again = await site.post("/me/notifications/test")
        assert again.status_code == 429
        assert "Tunggu 30 detik sebelum mengirim pesan uji lagi." in text_of(again.text)
        assert site.desk.tested == ["kasi"]
        site.clock.advance(TEST_EVERY_SECONDS)
        assert (await site.post("/me/notifications/test")).status_code == 200
        assert site.desk.tested == ["kasi", "kasi"]

    async def test_user_without_channels(self, site: Site) -> None:
        await site.sign_in("teknisi")
        page = await site.client.get("/me/notifications")
        assert "Belum ada saluran untuk Anda." in text_of(page.text)
        assert 'id="send-test"' not in page.text

    @pytest.mark.parametrize("token", [None, "forged-token"])
    async def test_needs_the_csrf_token(self, site: Site, token: str | None) -> None:
        await site.sign_in("kadis")
        answer = await site.post("/me/notifications/test", token)
        assert answer.status_code == 403
        assert site.desk.tested == []

    async def test_not_configured(self) -> None:
        async with serve(configured=False) as site:
            await site.sign_in("kadis")
            page = await site.client.get("/me/notifications")
            assert "Notifikasi belum dikonfigurasi" in text_of(page.text)
            assert 'id="send-test"' not in page.text
            assert (await site.post("/me/notifications/test")).status_code == 404


class TestWords:
    """Both pages are whole in either language, with no catalog key left showing."""

    @pytest.mark.parametrize("lang", ["id", "en"])
    async def test_no_untranslated_key(self, site: Site, lang: str) -> None:
        site.desk.failing["telegram"] = "403"
        await site.sign_in("admin")
        await site.client.get(f"/lang/{lang}")
        key = re.compile(r"\b(?:{})\.[a-z_]+\b".format("|".join(
            sorted({k.split(".")[0] for k in i18n.CATALOG}))))
        pages = [await site.client.get("/notifications"),
                 await site.client.get("/me/notifications"),
                 await site.post("/me/notifications/test")]
        for page in pages:
            assert f'<html lang="{lang}">' in page.text
            assert key.findall(text_of(page.text)) == [], text_of(page.text)
        english = text_of(pages[0].text)
        assert ("Undelivered notifications" if lang == "en" else "Kirim ulang") in english

    async def test_no_secret_on_the_pages(self, site: Site) -> None:
        for user in ("admin", "kadis"):
            await site.sign_in(user)
            for page in (await site.client.get("/notifications"),
                         await site.client.get("/me/notifications"),
                         await site.post("/me/notifications/test")):
                assert "scrypt$" not in page.text
                assert "s3cr3t" not in page.text  # every test token ends so
                assert SESSION_KEY not in page.text
            site.clock.advance(TEST_EVERY_SECONDS)

    def test_run_time_keys_exist(self) -> None:
        for status in Delivery:
            assert f"delivery.{status.value}" in i18n.CATALOG
        for channel in ("telegram", "email", "webhook"):
            assert f"channel.{channel}" in i18n.CATALOG
