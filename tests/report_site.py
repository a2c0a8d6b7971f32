"""The pages' app with a hand-made monthly report behind `/laporan` (tests/report_samples.py):
the report builder is a fake that records which months it was asked for; the downloads are
written from its report as agent.reports.files writes them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from agent.api import ApiContext
from agent.config import User, WebSettings
from agent.core.model import Secret
from agent.metrics import Metrics, Snapshot
from agent.reports.model import MonthlyReport
from agent.server import build_app
from agent.web.pages import WebContext
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import client_of, devices_docs
from tests.integration.test_pages import DEVICES, SESSION_KEY, Verifier, csrf, password, users
from tests.report_samples import sample_report
from ticketing.calendar import CalendarTime
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006

#: the kepala_dinas user's name and NIP, as the PDF's signature block shows them
KADIS_NAME = "Dr. Siti Rahmawati, M.Kom."
KADIS_NIP = "197501012000032001"
KADIS_JABATAN = "Kepala Dinas Komunikasi, Informatika, Statistik dan Persandian"


@dataclass
class FakeReports:
    """`report_for` as the lead wires R1's builder; records every call."""

    report: MonthlyReport = field(default_factory=sample_report)
    months: list[str] = field(default_factory=list)
    refuse: str | None = None  # report_for raises ValueError(refuse)

    async def report_for(self, month: str) -> MonthlyReport:
        self.months.append(month)
        if self.refuse is not None:
            raise ValueError(self.refuse)
        return self.report


def people(signer: bool = True) -> list[User]:
    """The page tests' users; kadis with a full name, NIP and jabatan when `signer`."""
    out = users()
    if signer:
        out = [User(u.name, u.role, u.token, u.owner, u.password_hash, full_name=KADIS_NAME,
                    nip=KADIS_NIP, jabatan=KADIS_JABATAN) if u.name == "kadis" else u
               for u in out]
    return out


@dataclass
class ReportSite:
    client: httpx.AsyncClient
    reports: FakeReports
    clock: FakeClock

    async def sign_in(self, name: str) -> None:
        page = await self.client.get("/login")
        answer = await self.client.post("/login", data={
            "username": name, "password": password(name), "next": "/devices",
            "csrf_token": csrf(page.text)})
        assert answer.status_code == 303, answer.text


def report_app(reports: FakeReports | None, clock: FakeClock, wired: bool = True,
               signer: bool = True) -> FastAPI:
    service = TicketService(backend=InMemoryBackend(), sop=SOP_006, calendar=CalendarTime(),
                            clock=clock, verifier=Verifier(clock), settings=TicketSettingsView())
    team = people(signer)
    api = ApiContext(service=service, users=team, devices=DEVICES, devices_json=devices_docs)
    pages = WebContext(service=service, users=team, devices=DEVICES, devices_json=devices_docs,
                       web=WebSettings(session_key=Secret(SESSION_KEY)),
                       report_for=reports.report_for if reports and wired else None)
    return build_app(Metrics(), Snapshot, devices_docs, lambda: True, api, pages)


@contextlib.asynccontextmanager
async def serve_reports(wired: bool = True, signer: bool = True,
                        clock: FakeClock | None = None) -> AsyncIterator[ReportSite]:
    """The app in-process (ASGI, no socket)."""
    clock = clock or FakeClock()
    reports = FakeReports()
    async with client_of(report_app(reports, clock, wired, signer)) as client:
        yield ReportSite(client, reports, clock)
