"""The JSON API and the Alertmanager webhook, served by the real ASGI app in-process: every
route for every role, error bodies, agency isolation, no secret in any answer, replays."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import load
from agent.core.model import Secret
from tests.fakes import FakeClock
from tests.integration.api_support import (
    ALERT_TOKEN,
    DINKES,
    DISDIK,
    ROLE_USER,
    TOKENS,
    USERS,
    Api,
    alert,
    client_of,
    headers,
    make_app,
    make_service,
    manual_ticket,
    payload,
    serve,
)
from tests.workflow_support import valid_output
from ticketing.models import EventKind
from ticketing.sop import SOP_006
from ticketing.store.sql import SqlBackend


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve(alert_token=Secret(ALERT_TOKEN)) as served:
        yield served


# -- the route x role matrix -------------------------------------------------------------------

STAFF = {"kadis", "kabid", "kasi", "teknisi", "admin"}
ALL = set(USERS)


def expected(allowed: set[str], ok: int) -> dict[str, int]:
    return {u: ok if u in allowed else 403 for u in USERS}


MATRIX: dict[str, dict[str, int]] = {
    "list_devices": expected(ALL, 200),
    # another agency's device reads as missing, as its tickets do
    "get_device": {**expected(ALL - {"disdik"}, 200), "disdik": 404},
    "list_tickets": expected(ALL, 200),
    # another agency's ticket reads as missing (404), so its id is not confirmed
    "get_ticket": {**expected(ALL - {"disdik"}, 200), "disdik": 404},
    "file_ticket": expected({"dinkes", "admin"}, 201),
    "complete_step2": {**expected({"kadis", "admin"}, 200), "disdik": 404},
    "verify": expected(STAFF, 200),
    "alertmanager": expected({"admin"}, 200),
    # this app is not a running agent: nothing to reload (tests/integration/test_reload.py)
    "reload": expected({"admin"}, 404),
}


async def do(api: Api, route: str, user: str | None) -> httpx.Response:
    ticket = await api.ticket()
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "list_devices": ("GET", "/api/v1/devices", {}),
        "get_device": ("GET", "/api/v1/devices/sw-dinkes-01", {}),
        "list_tickets": ("GET", "/api/v1/tickets?status=all", {}),
        "get_ticket": ("GET", f"/api/v1/tickets/{ticket.id}", {}),
        "file_ticket": ("POST", "/api/v1/tickets", {"json": {
            "device": "sw-dinkes-01", "subject": "Pasang AP baru", "description": "lantai 2"}}),
        "complete_step2": ("POST", f"/api/v1/tickets/{ticket.id}/steps/2/complete",
                           {"json": {"note": "segera", "to": "kabid"}}),
        "verify": ("POST", f"/api/v1/tickets/{ticket.id}/verify", {}),
        "alertmanager": ("POST", "/api/v1/alertmanager",
                         {"json": payload(alert(device="sw-dinkes-01"))}),
        "reload": ("POST", "/api/v1/reload", {}),
    }
    method, path, kw = requests[route]
    return await api.call(method, path, user, **kw)


class TestRouteRoleMatrix:
    """Every route answers each role with its expected status, and 401 without a token."""

    @pytest.mark.parametrize(("route", "user"), [(r, u) for r in MATRIX for u in USERS])
    async def test_status(self, api: Api, route: str, user: str) -> None:
        response = await do(api, route, user)
        assert response.status_code == MATRIX[route][user], response.text
        if response.status_code == 403:
            assert response.json()["detail"]
        for token in TOKENS.values():
            assert token not in response.text

    @pytest.mark.parametrize("route", list(MATRIX))
    async def test_no_token(self, api: Api, route: str) -> None:
        response = await do(api, route, None)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "missing bearer token"}

    async def test_wrong_token(self, api: Api) -> None:
        response = await api.client.get("/api/v1/tickets",
                                        headers={"Authorization": "Bearer tok-admin"})
        assert response.status_code == 401
        assert response.json() == {"detail": "unknown token"}
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_health_and_metrics_need_no_token(self, api: Api) -> None:
        assert (await api.client.get("/healthz")).text == "ok\n"
        assert (await api.client.get("/metrics")).status_code == 200


class TestErrors:
    """404, 409, 422 and 503 carry a body that says why (and which field)."""

    async def test_unknown_ticket(self, api: Api) -> None:
        response = await api.call("GET", "/api/v1/tickets/SOP006-2026-999999", "admin")
        assert response.status_code == 404
        assert "SOP006-2026-999999" in response.json()["detail"]

    async def test_wrong_step_is_409_with_reason(self, api: Api) -> None:
        ticket = await api.ticket()
        response = await api.call("POST", f"/api/v1/tickets/{ticket.id}/steps/4/complete",
                                  "kasi", json={"note": "x", "to": "teknisi"})
        assert response.status_code == 409
        assert response.json() == {"detail": "step 4 is not open: the ticket is at step 2",
                                   "code": "step_not_open"}

    async def test_gate_refusal_is_409(self, api: Api) -> None:
        ticket = await api.walk_to(await api.ticket(), 7)
        api.verifier.passed = False
        response = await api.call("POST", f"/api/v1/tickets/{ticket.id}/steps/7/complete",
                                  "teknisi", json={"action": "ganti kabel"})
        assert response.status_code == 409
        assert response.json()["detail"].startswith("connectivity not verified: ")

    async def test_missing_field_named(self, api: Api) -> None:
        ticket = await api.ticket()
        response = await api.call("POST", f"/api/v1/tickets/{ticket.id}/steps/2/complete",
                                  "kadis", json={"note": "segera"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "to"]

    async def test_unknown_and_mistyped_fields_named(self, api: Api) -> None:
        ticket = await api.ticket()
        path = f"/api/v1/tickets/{ticket.id}/steps/2/complete"
        extra = await api.call("POST", path, "kadis", json={"note": "a", "to": "b", "tp": "c"})
        assert extra.json()["detail"][0]["loc"] == ["body", "tp"]
        typed = await api.call("POST", path, "kadis", json={"note": True, "to": "b"})
        assert (typed.status_code, typed.json()["detail"][0]["loc"]) == (422, ["body", "note"])

    async def test_file_body_field_named(self, api: Api) -> None:
        response = await api.call("POST", "/api/v1/tickets", "dinkes",
                                  json={"device": "sw-dinkes-01", "description": "x"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "subject"]

    @pytest.mark.parametrize("blank", ["\x1e", " \x1c\t", "\u2028"])
    async def test_blank_request_field_is_422(self, api: Api, blank: str) -> None:
        # found by schemathesis: pydantic kept U+001E, the workflow refused it as blank (409)
        response = await api.call("POST", "/api/v1/tickets", "admin", json={
            "device": "sw-dinkes-01", "subject": "s", "description": blank})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "description"]
        assert list(await api.backend.list(None)) == []

    @pytest.mark.parametrize(("path", "status"), [
        (f"/api/v1/tickets/x/steps/{10**30}/complete", 422),
        ("/api/v1/tickets/x/steps/-1/complete", 422),
        ("/api/v1/tickets/%F0%9F%90%9B%00/steps/2/complete", 404),
    ])
    async def test_odd_paths(self, api: Api, path: str, status: int) -> None:
        response = await api.call("POST", path, "admin", json={"note": "a", "to": "b"})
        assert response.status_code == status, response.text

    async def test_body_that_is_not_utf8_is_400(self, api: Api) -> None:
        response = await api.call("POST", "/api/v1/tickets", "admin", content=b"\xff\xfe{",
                                  headers={"Content-Type": "application/json"})
        assert response.status_code == 400

    async def test_bad_status_query(self, api: Api) -> None:
        response = await api.call("GET", "/api/v1/tickets?status=pending", "admin")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "status"]

    async def test_step_out_of_range(self, api: Api) -> None:
        ticket = await api.ticket()
        response = await api.call("POST", f"/api/v1/tickets/{ticket.id}/steps/10/complete",
                                  "admin", json={})
        assert (response.status_code, response.json()["detail"][0]["loc"]) == (
            422, ["path", "no"])

    async def test_store_unavailable_is_503(self, api: Api) -> None:
        api.backend.unavailable = True
        response = await api.call("GET", "/api/v1/tickets", "kasi")
        assert response.status_code == 503
        assert "unavailable" in response.json()["detail"]


class TestAgencyIsolation:
    """An agency user sees and files only for its own agency."""

    async def test_lists_are_filtered(self, api: Api) -> None:
        await api.ticket("sw-dinkes-01")
        await api.ticket("sw-disdik-01")
        mine = (await api.call("GET", "/api/v1/tickets", "disdik")).json()["tickets"]
        assert [t["owner"] for t in mine] == [DISDIK]
        every = (await api.call("GET", "/api/v1/tickets", "kasi")).json()["tickets"]
        assert sorted(t["owner"] for t in every) == [DINKES, DISDIK]
        devices = (await api.call("GET", "/api/v1/devices", "disdik")).json()["devices"]
        assert [d["name"] for d in devices] == ["sw-disdik-01"]

    async def test_filing_for_another_agency_is_403(self, api: Api) -> None:
        for body in ({"device": "sw-disdik-01"}, {"device": "new-ap", "owner": DISDIK}):
            response = await api.call("POST", "/api/v1/tickets", "dinkes",
                                      json={**body, "subject": "s", "description": "d"})
            assert response.status_code == 403, body
        assert list(await api.backend.list(None)) == []

    async def test_new_device_defaults_to_own_agency(self, api: Api) -> None:
        response = await api.call("POST", "/api/v1/tickets", "dinkes",
                                  json={"device": "ap-baru", "subject": "s", "description": "d"})
        assert response.status_code == 201
        assert (response.json()["owner"], response.json()["current_step"]) == (DINKES, 2)

    async def test_admin_needs_owner_for_unknown_device(self, api: Api) -> None:
        response = await api.call("POST", "/api/v1/tickets", "admin",
                                  json={"device": "ap-baru", "subject": "s", "description": "d"})
        assert (response.status_code, response.json()["detail"][0]["loc"]) == (
            422, ["body", "owner"])


class TestTicketRoutes:
    """Detail carries the audit trail; verify records and returns the live result."""

    async def test_detail_has_audit(self, api: Api) -> None:
        ticket = await api.ticket()
        doc = (await api.call("GET", f"/api/v1/tickets/{ticket.id}", "dinkes")).json()
        assert [e["kind"] for e in doc["audit"]] == ["opened", "step_completed"]
        assert doc["opened_at"].endswith("+07:00")

    async def test_verify_returns_probes(self, api: Api) -> None:
        ticket = await api.ticket()
        api.verifier.passed = False
        doc = (await api.call("POST", f"/api/v1/tickets/{ticket.id}/verify", "teknisi")).json()
        assert doc["verification"]["passed"] is False
        assert doc["verification"]["probes"][0]["device"] == "sw-dinkes-01"
        assert doc["ticket"]["last_verification"]["passed"] is False

    async def test_walk_all_steps_over_http(self, api: Api) -> None:
        ticket = await api.ticket()
        for no in range(2, 10):
            spec = SOP_006.step(no)
            response = await api.call("POST", f"/api/v1/tickets/{ticket.id}/steps/{no}/complete",
                                      ROLE_USER[spec.role.value], json=valid_output(spec))
            assert response.status_code == 200, response.text
        assert response.json()["status"] == "closed"


class TestAlertmanager:
    """Firing opens or updates, resolved marks restoration (never closes), replays are no-ops."""

    async def post(self, api: Api, body: dict[str, Any]) -> httpx.Response:
        return await api.call("POST", "/api/v1/alertmanager", "admin", json=body)

    async def test_replayed_five_times_one_ticket(self, api: Api) -> None:
        firing = payload(alert(device="sw-dinkes-01"))
        answers = [await self.post(api, firing) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5
        assert [a.json()["results"][0]["changed"] for a in answers] == [True] + [False] * 4
        tickets = await api.backend.list(None)
        assert len(tickets) == 1
        assert len(await api.backend.events(tickets[0].id)) == 2  # opened + step 1
        assert tickets[0].evidence["fingerprint"] == "fp1"

    async def test_resolved_restores_and_stays_open(self, api: Api) -> None:
        await self.post(api, payload(alert(device="sw-dinkes-01")))
        for _ in range(5):
            response = await self.post(api, payload(alert("resolved", device="sw-dinkes-01")))
            assert response.status_code == 200
        (ticket,) = await api.backend.list(None)
        assert (ticket.status.value, ticket.restored) == ("open", True)
        kinds = [e.kind for e in await api.backend.events(ticket.id)]
        assert kinds.count(EventKind.RESTORATION_OBSERVED) == 1
        # a late replay of the old firing does not undo the restoration; a new firing does
        await self.post(api, payload(alert(device="sw-dinkes-01")))
        assert (await api.backend.get(ticket.id)).restored
        await self.post(api, payload(alert(device="sw-dinkes-01", starts="2026-11-24T03:00:00Z")))
        assert not (await api.backend.get(ticket.id)).restored

    async def test_resolved_without_ticket_changes_nothing(self, api: Api) -> None:
        response = await self.post(api, payload(alert("resolved", device="sw-dinkes-01")))
        assert response.json()["results"][0]["ticket"] is None
        assert list(await api.backend.list(None)) == []

    async def test_instance_matches_address_and_interface_label(self, api: Api) -> None:
        body = payload(alert(instance="127.0.0.12:9100", interface="ge-0/0/1", fingerprint="f2"))
        result = (await self.post(api, body)).json()["results"][0]
        assert (result["device"], result["fault"]) == ("sw-disdik-01", "interface_down")
        (ticket,) = await api.backend.list(None)
        assert (ticket.item, ticket.owner) == ("ge-0/0/1", DISDIK)

    @pytest.mark.parametrize(("body", "loc"), [
        (payload(alert(device="sw-dinkes-01"), version="3"), ["body", "version"]),
        (payload(alert()), ["body", "alerts", 0, "labels"]),
        (payload(alert(device="sw-nowhere")), ["body", "alerts", 0, "labels"]),
        (payload(alert(instance="127.0.0.99:9100")), ["body", "alerts", 0, "labels"]),
    ])
    async def test_bad_payload_is_422(self, api: Api, body: dict[str, Any], loc: list[Any]
                                      ) -> None:
        response = await self.post(api, body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == loc
        assert list(await api.backend.list(None)) == []

    async def test_store_down_is_503(self, api: Api) -> None:
        api.backend.unavailable = True
        response = await self.post(api, payload(alert(device="sw-dinkes-01")))
        assert response.status_code == 503


@dataclass
class SqlApi:
    client: httpx.AsyncClient
    backend: SqlBackend


@pytest.fixture
async def sql_api(tmp_path: Path) -> AsyncIterator[SqlApi]:
    """The app over the SQLite store: its calls run in a thread, so concurrent requests
    really interleave at every store call (the in-memory fake never yields)."""
    clock = FakeClock()
    backend = await SqlBackend.connect(f"sqlite:///{tmp_path / 'tickets.db'}", clock=clock)
    try:
        service, _ = make_service(backend, clock)
        async with client_of(make_app(service)) as client:
            yield SqlApi(client, backend)
    finally:
        await backend.aclose()


class TestConcurrentDeliveries:
    """Concurrent deliveries of one payload are decided one after another under the ticket lock."""

    async def post_all(self, api: SqlApi, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
        answers = await asyncio.gather(*(
            api.client.post("/api/v1/alertmanager", json=b, headers=headers("admin"))
            for b in bodies))
        assert [a.status_code for a in answers] == [200] * len(bodies), answers[0].text
        return list(answers)

    async def kinds(self, api: SqlApi) -> list[EventKind]:
        (ticket,) = await api.backend.list(None)
        return [e.kind for e in await api.backend.events(ticket.id)]

    async def test_same_firing_five_times_at_once(self, sql_api: SqlApi) -> None:
        answers = await self.post_all(sql_api, [payload(alert(device="sw-dinkes-01"))] * 5)
        changed = [a.json()["results"][0]["changed"] for a in answers]
        assert sorted(changed) == [False] * 4 + [True]
        assert len({a.json()["results"][0]["ticket"] for a in answers}) == 1
        assert (await self.kinds(sql_api)).count(EventKind.OPENED) == 1

    async def test_resolution_replayed_at_once(self, sql_api: SqlApi) -> None:
        await self.post_all(sql_api, [payload(alert(device="sw-dinkes-01"))])
        answers = await self.post_all(
            sql_api, [payload(alert("resolved", device="sw-dinkes-01"))] * 5)
        assert sorted(a.json()["results"][0]["changed"] for a in answers) == [False] * 4 + [True]
        (ticket,) = await sql_api.backend.list(None)
        assert (ticket.status.value, ticket.restored) == ("open", True)
        assert (await self.kinds(sql_api)).count(EventKind.RESTORATION_OBSERVED) == 1

    async def test_resolution_racing_replays_of_its_firing(self, sql_api: SqlApi) -> None:
        firing = payload(alert(device="sw-dinkes-01"))
        await self.post_all(sql_api, [firing])
        resolved = payload(alert("resolved", device="sw-dinkes-01"))
        await self.post_all(sql_api, [firing, resolved, firing, firing, firing])
        (ticket,) = await sql_api.backend.list(None)
        assert ticket.restored  # whatever the order, an old firing never undoes its resolution
        kinds = await self.kinds(sql_api)
        assert (kinds.count(EventKind.RESTORATION_OBSERVED),
                kinds.count(EventKind.FAILURE_OBSERVED)) == (1, 0)


class TestAlertmanagerSettings:
    """[alertmanager]: its token opens the webhook only; its label names the device."""

    async def test_own_token_opens_only_the_webhook(self, api: Api) -> None:
        body = payload(alert(device="sw-dinkes-01"))
        sent = await api.call("POST", "/api/v1/alertmanager", "alertmanager", json=body)
        assert sent.status_code == 200
        assert sent.json()["results"][0]["ticket"] is not None
        read = await api.call("GET", "/api/v1/tickets", "alertmanager")
        assert read.status_code == 401

    async def test_custom_label(self) -> None:
        async with serve(alert_device_label="switch") as api:
            body = payload(alert(switch="sw-disdik-01", device="sw-dinkes-01"))
            response = await api.call("POST", "/api/v1/alertmanager", "admin", json=body)
            assert response.json()["results"][0]["device"] == "sw-disdik-01"

    def test_config_section_loads(self, tmp_path: Path) -> None:
        path = tmp_path / "pantau.toml"
        path.write_text('[alertmanager]\ntoken = { env = "AM_TOKEN" }\n'
                        'device_label = "switch"\n')
        config = load(path, environ={"AM_TOKEN": ALERT_TOKEN})
        assert config.alertmanager.device_label == "switch"
        assert config.alertmanager.token is not None
        assert config.alertmanager.token.reveal() == ALERT_TOKEN
        default = load(_empty(tmp_path)).alertmanager
        assert (default.token, default.device_label) == (None, "device")


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


class TestOpenApi:
    """The OpenAPI document lists every route and names the bearer scheme; no secret leaks."""

    async def test_every_route_listed(self, api: Api) -> None:
        doc = (await api.client.get("/openapi.json")).json()
        routes = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        assert routes == {
            ("GET", "/api/v1/devices"), ("GET", "/api/v1/devices/{name}"),
            ("GET", "/api/v1/tickets"),
            ("GET", "/api/v1/tickets/{ticket_id}"), ("POST", "/api/v1/tickets"),
            ("POST", "/api/v1/tickets/{ticket_id}/steps/{no}/complete"),
            ("POST", "/api/v1/tickets/{ticket_id}/verify"), ("POST", "/api/v1/alertmanager"),
            ("GET", "/api/v1/notifications"),
            ("POST", "/api/v1/notifications/{message_id}/retry"), ("POST", "/api/v1/reload"),
        }
        assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

    async def test_no_secret_anywhere(self, api: Api) -> None:
        for route in MATRIX:
            for user in USERS:
                await do(api, route, user)
        api.seen.append((await api.client.get("/openapi.json")).text)
        text = "\n".join(api.seen)
        assert len(api.seen) == len(MATRIX) * len(USERS) + 1
        for token in [*TOKENS.values(), ALERT_TOKEN]:
            assert token not in text


class TestExampleReceiver:
    """examples/alertmanager.yml passes `amtool check-config`."""

    def test_amtool_accepts_it(self) -> None:
        amtool = shutil.which("amtool")
        if amtool is None:
            if os.environ.get("CI") == "true":
                pytest.fail("amtool missing (Debian package prometheus-alertmanager)")
            pytest.skip("amtool missing (Debian package prometheus-alertmanager)")
        example = Path(__file__).parents[2] / "examples" / "alertmanager.yml"
        done = subprocess.run([amtool, "check-config", str(example)], capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


class TestPaging:
    """GET /tickets answers a page at a time: `limit`, and `after` set to the last `next`."""

    async def test_pages_walk_the_whole_list_in_order(self, api: Api) -> None:
        for _ in range(5):
            await manual_ticket(api.service)
            api.clock.advance(60)
        whole = (await api.call("GET", "/api/v1/tickets", "kasi")).json()
        assert whole["next"] is None
        seen: list[str] = []
        url = "/api/v1/tickets?limit=2"
        while True:
            page = (await api.call("GET", url, "kasi")).json()
            assert len(page["tickets"]) <= 2
            seen += [t["id"] for t in page["tickets"]]
            if page["next"] is None:
                break
            url = f"/api/v1/tickets?limit=2&after={page['next']}"
        assert seen == [t["id"] for t in whole["tickets"]]
        assert len(seen) == 5

    async def test_an_agency_gets_a_full_page_of_its_own(self, api: Api) -> None:
        mine = [(await manual_ticket(api.service, "sw-disdik-01")).id for _ in range(3)]
        api.clock.advance(60)
        for _ in range(3):  # newer, of another agency: filtered before the limit
            await manual_ticket(api.service, "sw-dinkes-01")
        page = (await api.call("GET", "/api/v1/tickets?limit=3", "disdik")).json()
        assert sorted(t["id"] for t in page["tickets"]) == sorted(mine)
        assert page["next"] is None

    async def test_an_unknown_cursor_and_a_bad_limit_are_422(self, api: Api) -> None:
        await manual_ticket(api.service)
        response = await api.call("GET", "/api/v1/tickets?after=SOP006-2026-999999", "kasi")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "after"]
        for limit in ("0", "1001", "x"):
            response = await api.call("GET", f"/api/v1/tickets?limit={limit}", "kasi")
            assert response.status_code == 422
