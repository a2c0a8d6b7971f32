"""A device's recent other SNMP notifications (the [traps] ring), on its page and in
GET /api/v1/devices/{name}, served by the real ASGI app in-process; an agency sees only its
own devices."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.api import ApiContext
from agent.config import WebSettings
from agent.core.model import Secret
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from agent.web.pages import WebContext
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import client_of, devices_docs, headers
from tests.integration.test_pages import (
    DEVICES,
    SESSION_KEY,
    Site,
    Verifier,
    text_of,
    users,
)
from ticketing.calendar import CalendarTime
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006

RING: dict[str, list[dict[str, Any]]] = {"sw-dinkes-01": [
    {"received_at": "2026-11-24T01:00:05+00:00", "version": "2c",
     "oid": "1.3.6.1.4.1.9.9.41.2.0.1", "kind": "other",
     "varbinds": [["1.3.6.1.4.1.9.9.41.1.2.3.1.5.1", "<b>fan failed</b>"]]},
    {"received_at": "2026-11-24T01:00:01+00:00", "version": "1",
     "oid": "1.3.6.1.4.1.2011.5.25.1", "kind": "other", "varbinds": []},
]}


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[Site]:
    clock = FakeClock()
    verifier = Verifier(clock)
    service = TicketService(backend=InMemoryBackend(), sop=SOP_006, calendar=CalendarTime(),
                            clock=clock, verifier=verifier, settings=TicketSettingsView())
    people = users()
    docs = devices_docs
    ring = lambda name: RING.get(name, [])  # noqa: E731
    api = ApiContext(service=service, users=people, devices=DEVICES, devices_json=docs,
                     device_traps=ring)
    pages = WebContext(service=service, users=people, devices=DEVICES, devices_json=docs,
                       web=WebSettings(session_key=Secret(SESSION_KEY)), device_traps=ring)
    app = build_app(Metrics(), Snapshot, docs, lambda: True, api, pages)
    async with client_of(app) as client:
        yield Site(client, service, clock, verifier, app)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with serve() as served:
        yield served


class TestApi:
    """GET /api/v1/devices/{name}: the device's document with `traps`, newest first."""

    async def test_traps_listed(self, site: Site) -> None:
        got = await site.client.get("/api/v1/devices/sw-dinkes-01", headers=headers("kasi"))
        assert got.status_code == 200
        body = got.json()
        assert body["name"] == "sw-dinkes-01"
        assert body["traps"] == RING["sw-dinkes-01"]
        other = await site.client.get("/api/v1/devices/sw-disdik-01", headers=headers("kasi"))
        assert other.json()["traps"] == []

    async def test_other_agency_and_unknown_are_not_found(self, site: Site) -> None:
        for name in ("sw-disdik-01", "nope"):
            got = await site.client.get(f"/api/v1/devices/{name}", headers=headers("dinkes"))
            assert got.status_code == 404
        assert (await site.client.get("/api/v1/devices/sw-dinkes-01")).status_code == 401


class TestPage:
    """/devices/{name} shows the device and its ring (escaped); the board links to it."""

    async def test_page(self, site: Site) -> None:
        await site.sign_in("kasi")
        page = await site.client.get("/devices/sw-dinkes-01")
        assert page.status_code == 200
        text = text_of(page.text)
        assert "1.3.6.1.4.1.9.9.41.2.0.1" in text
        assert "<b>fan failed</b>" in text  # shown as text, never as markup
        assert "<b>fan failed</b>" not in page.text
        assert text.index("9.9.41.2.0.1") < text.index("2011.5.25.1")  # newest first
        board = await site.client.get("/devices")
        assert 'href="/devices/sw-dinkes-01"' in board.text

    async def test_no_traps(self, site: Site) -> None:
        await site.sign_in("kasi")
        page = await site.client.get("/devices/sw-disdik-01")
        assert page.status_code == 200
        assert "1.3.6.1" not in page.text

    async def test_other_agency_is_not_found(self, site: Site) -> None:
        await site.sign_in("dinkes")
        assert (await site.client.get("/devices/sw-disdik-01")).status_code == 404
        assert (await site.client.get("/devices/nope")).status_code == 404

    async def test_signed_out_goes_to_sign_in(self, site: Site) -> None:
        got = await site.client.get("/devices/sw-dinkes-01")
        assert got.status_code == 303
