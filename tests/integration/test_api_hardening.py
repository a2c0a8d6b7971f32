"""Issue 14, findings 6 and 7, on the real ASGI app in-process: a 503 names no database, another
agency's ticket reads as missing, /metrics takes an optional token, and refused tokens are
counted and throttled per client address."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from agent.api import ApiContext
from agent.config import User
from agent.core.errors import BackendUnavailable
from agent.core.model import Secret
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from tests.fakes import FakeClock, InMemoryBackend, no_devices
from tests.integration.api_support import (
    DEVICES,
    TOKENS,
    USERS,
    client_of,
    devices_docs,
    headers,
    make_service,
    manual_ticket,
)

DB_DOWN = ("database postgresql://pantau@127.0.0.1:5432/pantau unavailable while reading "
           "tickets: connection refused (sqlite:////var/lib/pantau/pantau.db)")
METRICS_TOKEN = "metrics-0123456789abcdef0123456789"


class DownBackend(InMemoryBackend):
    """Fails like a real store that lost its database, once `down` is set."""

    down = False

    def _usable(self) -> None:
        if self.down:
            raise BackendUnavailable(DB_DOWN)
        super()._usable()


@contextlib.asynccontextmanager
async def served(backend: InMemoryBackend | None = None, metrics_token: str | None = None,
                 clock: FakeClock | None = None, metrics: Metrics | None = None
                 ) -> AsyncIterator[httpx.AsyncClient]:
    clock = clock or FakeClock()
    service, _ = make_service(backend or InMemoryBackend(), clock)
    users = [User(n, r, Secret(TOKENS[n]), o) for n, (r, o) in USERS.items()]
    ctx = ApiContext(service=service, users=users, devices=DEVICES,
                     devices_json=devices_docs)
    metrics = metrics or Metrics()
    app = build_app(metrics, Snapshot, no_devices, lambda: True, ctx, clock=clock,
                    metrics_token=None if metrics_token is None else Secret(metrics_token),
                    on_unauthorized=metrics.api_unauthorized.inc)
    async with client_of(app) as client:
        yield client


class TestStoreDown:
    """A 503 tells the caller only that the store is down; the detail goes to the log."""

    @pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/v1/tickets/SOP006-2026-000001"])
    async def test_generic_503(self, path: str, caplog: pytest.LogCaptureFixture) -> None:
        backend = DownBackend()
        async with served(backend) as client:
            backend.down = True
            with caplog.at_level(logging.WARNING, logger="agent.api"):
                response = await client.get(path, headers=headers("kasi"))
        assert response.status_code == 503
        assert response.json() == {"detail": "ticket store unavailable; try again shortly"}
        for leak in ("pantau@127.0.0.1:5432", "/var/lib/pantau", "postgresql", "sqlite"):
            assert leak not in response.text + str(response.headers)
        [record] = [r for r in caplog.records if r.getMessage() == "ticket store unavailable"]
        assert vars(record)["error"] == DB_DOWN


class TestOtherAgencysTicket:
    """Another agency's ticket answers exactly as a ticket that does not exist."""

    @pytest.mark.parametrize(("method", "suffix", "body"), [
        ("GET", "", None),
        ("POST", "/steps/2/complete", {"note": "segera", "to": "kabid"}),
    ])
    async def test_same_404_as_missing(self, method: str, suffix: str,
                                       body: dict[str, str] | None) -> None:
        backend = InMemoryBackend()
        async with served(backend) as client:
            service, _ = make_service(backend, FakeClock())
            theirs = await manual_ticket(service, "sw-dinkes-01")
            missing = theirs.id[:-1] + ("9" if theirs.id[-1] != "9" else "8")
            answers = []
            for ticket_id in (theirs.id, missing):
                response = await client.request(method, f"/api/v1/tickets/{ticket_id}{suffix}",
                                                headers=headers("disdik"), json=body)
                answers.append((response.status_code, response.json()["detail"].replace(
                    ticket_id, "ID"), sorted(response.headers.items())))
            mine = await client.get(f"/api/v1/tickets/{theirs.id}", headers=headers("dinkes"))
        assert answers[0] == answers[1]
        assert answers[0][:2] == (404, "no ticket ID")
        assert mine.status_code == 200


class TestMetricsToken:
    """With [agent] metrics_token, /metrics takes it as bearer or basic auth; without, open."""

    async def test_open_without_a_token(self) -> None:
        async with served() as client:
            assert (await client.get("/metrics")).status_code == 200

    async def test_bearer_and_basic(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        metrics = Metrics()
        basic = base64.b64encode(f"prometheus:{METRICS_TOKEN}".encode()).decode()
        async with served(metrics_token=METRICS_TOKEN, metrics=metrics) as client:
            refused = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            bearer = await client.get("/metrics",
                                      headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            basic_ok = await client.get("/metrics", headers={"Authorization": f"Basic {basic}"})
            health = await client.get("/healthz")
        assert (refused.status_code, wrong.status_code) == (401, 401)
        assert "Basic" in refused.headers["www-authenticate"]
        assert (bearer.status_code, basic_ok.status_code, health.status_code) == (200, 200, 200)
        assert "pantau_api_unauthorized_total 2.0" in bearer.text
        for response in (refused, wrong, bearer, basic_ok):
            assert METRICS_TOKEN not in response.text + str(response.headers)
        assert METRICS_TOKEN not in caplog.text


    async def test_guesses_throttled(self) -> None:
        clock, metrics = FakeClock(), Metrics()
        async with served(metrics_token=METRICS_TOKEN, metrics=metrics, clock=clock) as client:
            codes = [(await client.get("/metrics", headers={
                "Authorization": f"Bearer guess-{n}"})).status_code for n in range(22)]
            right = await client.get("/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            clock.advance(61)
            later = await client.get("/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert codes == [401] * 20 + [429] * 2
        assert (right.status_code, later.status_code) == (429, 200)
        assert metrics.registry.get_sample_value("pantau_api_unauthorized_total") == 20


class TestRefusedTokens:
    """401s are counted in pantau_api_unauthorized_total and, past 20 a minute from one
    address, answered 429 without the token being looked at, even a valid one."""

    async def test_counted_and_throttled(self) -> None:
        clock, metrics = FakeClock(), Metrics()
        async with served(clock=clock, metrics=metrics) as client:
            guesses = [await client.get("/api/v1/tickets", headers={
                "Authorization": f"Bearer guess-{n:04d}"}) for n in range(25)]
            valid = await client.get("/api/v1/tickets", headers=headers("admin"))
            clock.advance(61)
            later = await client.get("/api/v1/tickets", headers=headers("admin"))
        codes = [g.status_code for g in guesses]
        assert codes == [401] * 20 + [429] * 5, codes
        assert int(guesses[-1].headers["retry-after"]) <= 60
        assert valid.status_code == 429
        assert later.status_code == 200
        assert metrics.registry.get_sample_value("pantau_api_unauthorized_total") == 20
