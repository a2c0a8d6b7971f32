"""Shared by the API tests: users of every role, two agencies' devices, a passing verifier,
the real ASGI app over a real TicketService (`make_service`, `make_app`), `serve()` with an
httpx client in-process (no network), and Alertmanager payloads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from agent.api import ApiContext
from agent.config import User
from agent.core.model import Device, Secret
from agent.metrics import Metrics, Snapshot
from agent.server import build_app
from tests.fakes import FakeClock, InMemoryBackend
from tests.workflow_support import valid_output
from ticketing import workflow
from ticketing.backend import TicketBackend
from ticketing.calendar import CalendarTime
from ticketing.models import Ticket
from ticketing.payloads import Verification
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
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

    async def verify(self, ticket: Ticket) -> Verification:
        started = self.clock.now()
        self.clock.advance(1)
        return Verification.from_json({
            "passed": self.passed, "reason": "healthy" if self.passed else "no reply",
            "started_at": started.isoformat(), "finished_at": self.clock.now().isoformat(),
            "probes": [{"round": 1, "device": ticket.device, "check": "icmp",
                        "status": "ok" if self.passed else "down",
                        "healthy": self.passed, "reason": ""}]})


def device_doc(d: Device) -> dict[str, Any]:
    return {"name": d.name, "address": d.address, "owner": d.owner, "site": d.site,
            "parent": d.parent, "state": "up", "since": None, "flapping": False,
            "maintenance": [], "affected": [], "faults": [], "reboots": 0,
            "last_reboot": None, "checks": {}}


def devices_docs(name: str | None = None) -> list[dict[str, Any]]:
    """DEVICES' documents as the agent's StatusViews.devices_json gives them (one by name)."""
    return [device_doc(d) for d in DEVICES if name is None or d.name == name]


@dataclass
class Api:
    client: httpx.AsyncClient
    service: TicketService
    backend: InMemoryBackend
    clock: FakeClock
    verifier: PassingVerifier
    seen: list[str] = field(default_factory=list)  # every response body, for the secret check

    async def call(self, method: str, path: str, user: str | None, **kw: Any) -> httpx.Response:
        sent = {**headers(user), **kw.pop("headers", {})}
        response = await self.client.request(method, path, headers=sent, **kw)
        self.seen.append(response.text + str(response.headers))
        return response

    async def ticket(self, device: str = "sw-dinkes-01") -> Ticket:
        return await manual_ticket(self.service, device)

    async def walk_to(self, ticket: Ticket, step: int) -> Ticket:
        return await walk_to(self.service, ticket, step)


async def manual_ticket(service: TicketService, device: str = "sw-dinkes-01",
                        devices: Sequence[Device] = DEVICES) -> Ticket:
    """A manual ticket of `device`'s agency, filed by an admin, waiting at step 2."""
    owner = next(d.owner for d in devices if d.name == device)
    return await service.file_manual(
        workflow.Actor("admin", "admin"), device=device, owner=owner,
        subject="Internet mati", description="sejak pagi")


async def walk_to(service: TicketService, ticket: Ticket, step: int) -> Ticket:
    """Complete the ticket's steps up to `step` (then waiting there), each by its role."""
    for no in range(ticket.current_step, step):
        spec = SOP_006.step(no)
        ticket = await service.complete(ticket.id, no, workflow.Actor(
            ROLE_USER[spec.role.value], spec.role.value), valid_output(spec))
    return ticket


def make_service(backend: TicketBackend, clock: FakeClock
                 ) -> tuple[TicketService, PassingVerifier]:
    """A real TicketService over `backend` with SOP-006 and a passing verifier."""
    verifier = PassingVerifier(clock)
    service = TicketService(backend=backend, sop=SOP_006, calendar=CalendarTime(), clock=clock,
                            verifier=verifier, settings=TicketSettingsView())
    return service, verifier


def make_app(service: TicketService, **settings: Any) -> FastAPI:
    """The agent's ASGI app (build_app) with the API over `service` for every user in USERS;
    `settings` go into the ApiContext (alert_token, alert_device_label)."""
    users = [User(name, role, Secret(TOKENS[name]), owner) for name, (role, owner) in USERS.items()]
    ctx = ApiContext(service=service, users=users, devices=DEVICES,
                     devices_json=devices_docs, tz="Asia/Jakarta",
                     **settings)
    return build_app(Metrics(), Snapshot, devices_docs,
                     lambda: True, ctx)


@contextlib.asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pantau.test") as client:
        yield client


@contextlib.asynccontextmanager
async def serve(**settings: Any) -> AsyncIterator[Api]:
    """The app over an InMemoryBackend; `settings` go into the ApiContext."""
    clock = FakeClock()
    backend = InMemoryBackend()
    service, verifier = make_service(backend, clock)
    async with client_of(make_app(service, **settings)) as client:
        yield Api(client, service, backend, clock, verifier)


def headers(user: str | None) -> dict[str, str]:
    """The Authorization header of `user`: none for None, the webhook's own token for
    "alertmanager", a token nobody has for a name not in USERS."""
    if user is None:
        return {}
    token = ALERT_TOKEN if user == "alertmanager" else TOKENS.get(user, f"tok-{user}-unknown")
    return {"Authorization": f"Bearer {token}"}


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
