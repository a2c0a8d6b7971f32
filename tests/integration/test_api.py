"""The JSON API and the Alertmanager webhook, served by the real ASGI app in-process: every
route for every role, error bodies, agency isolation, no secret in any answer, replays."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.api import ApiContext
from agent.config import User, load
from agent.metrics import Metrics, Snapshot
from agent.model import Device, Secret
from agent.server import build_app
from tests.fakes import FakeClock, InMemoryBackend
from tests.workflow_support import valid_output
from ticketing import workflow
from ticketing.calendar import CalendarTime
from ticketing.models import EventKind, Ticket
from ticketing.service import TicketService, TicketSettingsView
from ticketing.sop import SOP_006

DINKES, DISDIK = "Dinas Kesehatan", "Dinas Pendidikan"
DEVICES = (
    Device("sw-dinkes-01", "127.0.0.11", DINKES),
    Device("sw-disdik-01", "127.0.0.12", DISDIK),
)
#: user -> (role, owner); every token is "tok-" + user name
USERS: dict[str, tuple[str, str | None]] = {
    "dinkes": ("perangkat_daerah", DINKES),
    "disdik": ("perangkat_daerah", DISDIK),
    "kadis": ("kepala_dinas", None),
    "kabid": ("kabid", None),
    "kasi": ("kasi", None),
    "teknisi": ("teknisi", None),
    "admin": ("admin", None),
}
TOKENS = {name: f"tok-{name}-s3cr3t" for name in USERS}
ALERT_TOKEN = "tok-alertmanager-s3cr3t"
ROLE_USER = {"kepala_dinas": "kadis", "kabid": "kabid", "kasi": "kasi", "teknisi": "teknisi"}


class PassingVerifier:
    """Answers every verification with one probe per ticket device; `passed` is settable."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.passed = True

    async def verify(self, ticket: Ticket) -> Mapping[str, Any]:
        started = self.clock.now()
        self.clock.advance(1)
        return {"passed": self.passed, "reason": "healthy" if self.passed else "no reply",
                "started_at": started.isoformat(), "finished_at": self.clock.now().isoformat(),
                "probes": [{"round": 1, "device": ticket.device, "check": "icmp",
                            "status": "ok" if self.passed else "down",
                            "healthy": self.passed, "reason": ""}]}


def device_doc(d: Device) -> dict[str, Any]:
    return {"name": d.name, "address": d.address, "owner": d.owner, "site": d.site,
            "parent": d.parent, "state": "up", "since": None, "flapping": False,
            "maintenance": [], "affected": [], "faults": [], "reboots": 0,
            "last_reboot": None, "checks": {}}


@dataclass
class Api:
    client: httpx.AsyncClient
    service: TicketService
    backend: InMemoryBackend
    clock: FakeClock
    verifier: PassingVerifier
    seen: list[str] = field(default_factory=list)  # every response body, for the secret check

    async def call(self, method: str, path: str, user: str | None, **kw: Any) -> httpx.Response:
        token = ALERT_TOKEN if user == "alertmanager" else TOKENS.get(user or "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.request(method, path, headers=headers, **kw)
        self.seen.append(response.text + str(response.headers))
        return response

    async def ticket(self, device: str = "sw-dinkes-01") -> Ticket:
        """A manual ticket of `device`'s agency, waiting at step 2."""
        owner = next(d.owner for d in DEVICES if d.name == device)
        return await self.service.file_manual(
            workflow.Actor("admin", "admin"), device=device, owner=owner,
            subject="Internet mati", description="sejak pagi")

    async def walk_to(self, ticket: Ticket, step: int) -> Ticket:
        for no in range(ticket.current_step, step):
            spec = SOP_006.step(no)
            ticket = await self.service.complete(ticket.id, no, workflow.Actor(
                ROLE_USER[spec.role.value], spec.role.value), valid_output(spec))
        return ticket


@contextlib.asynccontextmanager
async def serve(**settings: Any) -> AsyncIterator[Api]:
    """The app over an InMemoryBackend; `settings` go into the ApiContext."""
    clock = FakeClock()
    backend = InMemoryBackend()
    verifier = PassingVerifier(clock)
    service = TicketService(backend=backend, sop=SOP_006, calendar=CalendarTime(), clock=clock,
                            verifier=verifier, settings=TicketSettingsView())
    users = [User(name, role, Secret(TOKENS[name]), owner) for name, (role, owner) in USERS.items()]
    ctx = ApiContext(service=service, users=users, devices=DEVICES,
                     devices_json=lambda: [device_doc(d) for d in DEVICES], tz="Asia/Jakarta",
                     **settings)
    app = build_app(Metrics(), Snapshot, lambda: [device_doc(d) for d in DEVICES],
                    lambda: True, ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pantau.test") as client:
        yield Api(client, service, backend, clock, verifier)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve(alert_token=Secret(ALERT_TOKEN)) as served:
        yield served


def alert(status: str = "firing", fingerprint: str = "fp1", starts: str = "2026-11-24T01:00:00Z",
          **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "DeviceDown", **labels},
            "annotations": {"summary": "switch not answering"}, "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": fingerprint}


def payload(*alerts: dict[str, Any], version: str = "4") -> dict[str, Any]:
    return {"version": version, "groupKey": "{}:{alertname=\"DeviceDown\"}", "truncatedAlerts": 0,
            "status": alerts[0]["status"] if alerts else "firing", "receiver": "pantau",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093", "alerts": list(alerts)}


# -- the route x role matrix -------------------------------------------------------------------

STAFF = {"kadis", "kabid", "kasi", "teknisi", "admin"}
ALL = set(USERS)


def expected(allowed: set[str], ok: int) -> dict[str, int]:
    return {u: ok if u in allowed else 403 for u in USERS}


MATRIX: dict[str, dict[str, int]] = {
    "list_devices": expected(ALL, 200),
    "list_tickets": expected(ALL, 200),
    "get_ticket": expected(ALL - {"disdik"}, 200),
    "file_ticket": expected({"dinkes", "admin"}, 201),
    "complete_step2": expected({"kadis", "admin"}, 200),
    "verify": expected(STAFF, 200),
    "alertmanager": expected({"admin"}, 200),
}


async def do(api: Api, route: str, user: str | None) -> httpx.Response:
    ticket = await api.ticket()
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "list_devices": ("GET", "/api/v1/devices", {}),
        "list_tickets": ("GET", "/api/v1/tickets?status=all", {}),
        "get_ticket": ("GET", f"/api/v1/tickets/{ticket.id}", {}),
        "file_ticket": ("POST", "/api/v1/tickets", {"json": {
            "device": "sw-dinkes-01", "subject": "Pasang AP baru", "description": "lantai 2"}}),
        "complete_step2": ("POST", f"/api/v1/tickets/{ticket.id}/steps/2/complete",
                           {"json": {"note": "segera", "to": "kabid"}}),
        "verify": ("POST", f"/api/v1/tickets/{ticket.id}/verify", {}),
        "alertmanager": ("POST", "/api/v1/alertmanager",
                         {"json": payload(alert(device="sw-dinkes-01"))}),
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
        assert response.json() == {"detail": "step 4 is not open: the ticket is at step 2"}

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
            ("GET", "/api/v1/devices"), ("GET", "/api/v1/tickets"),
            ("GET", "/api/v1/tickets/{ticket_id}"), ("POST", "/api/v1/tickets"),
            ("POST", "/api/v1/tickets/{ticket_id}/steps/{no}/complete"),
            ("POST", "/api/v1/tickets/{ticket_id}/verify"), ("POST", "/api/v1/alertmanager"),
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
