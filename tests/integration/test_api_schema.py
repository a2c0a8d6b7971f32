"""Schemathesis over /openapi.json, in-process over ASGI: for users of four roles no answer of
any operation is a 5xx, and every status, content type and body is the one documented; without
a valid token every answer is 401. Generation is steered toward seeded tickets and real steps.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agent.core.model import Secret
from agent.throttle import REFUSALS_PER_WINDOW
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import (
    ALERT_TOKEN,
    DEVICES,
    DINKES,
    DISDIK,
    alert,
    headers,
    make_app,
    make_service,
    payload,
)
from tests.notify_desk_fake import FakeDesk, seed_outbox
from tests.workflow_support import valid_output
from ticketing import workflow
from ticketing.models import Fault, Ticket
from ticketing.observation import FAILING, Observation
from ticketing.payloads import Evidence
from ticketing.service import TicketService
from ticketing.sop import SOP_006

ApiCase = schemathesis.Case[Any]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: the users of the authorized runs (dinkes: perangkat_daerah of Dinas Kesehatan)
ROLES = ("admin", "kasi", "teknisi", "dinkes")
#: what `seed()` makes, in this order (ids are numbered per year from 1 on a fresh store):
#: an auto ticket at step 2, another agency's request at step 2, requests at steps 4 and 7,
#: a closed one
SEEDED = tuple(f"SOP006-2026-{n:06d}" for n in range(1, 6))
STEP_OF = {SEEDED[0]: 2, SEEDED[1]: 2, SEEDED[2]: 4, SEEDED[3]: 7, SEEDED[4]: 10}
#: the outbox's messages from `seed_outbox`: 1 failed, 2 sent, 3 waiting
MESSAGES = (1, 2, 3)
#: what a device's ring holds (agent/traps.py `recent`): one notification of another kind
TRAP_SEEN: dict[str, Any] = {
    "received_at": "2026-11-24T01:00:00+00:00", "version": "2c",
    "oid": "1.3.6.1.4.1.9.9.41.2.0.1", "kind": "other",
    "varbinds": [["1.3.6.1.2.1.1.5.0", "sw-dinkes-01"]]}
ROLE_USER = {"kepala_dinas": "kadis", "kabid": "kabid", "kasi": "kasi", "teknisi": "teknisi"}
# Fuzzing examples per operation and user; the coverage phase adds its own (boundary values,
# odd strings) on top. 7 operations x 6 users in well under a minute on 2 cores.
AUTHORIZED = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow, HealthCheck.filter_too_much])
UNAUTHORIZED = settings(AUTHORIZED, max_examples=10)  # also the store-down run


async def seed(service: TicketService) -> list[str]:
    """The tickets of SEEDED, each at its step of STEP_OF."""
    admin = workflow.Actor("admin", "admin")
    auto = await service.observe(Observation(
        device="sw-dinkes-01", owner=DINKES, fault=Fault.DEVICE_DOWN, kind=FAILING,
        at=service.clock.now(), reason="no echo reply",
        evidence=Evidence({"reason": "no echo reply"})))
    assert auto is not None
    tickets: list[Ticket] = [auto]
    for device, owner in (("sw-disdik-01", DISDIK), ("sw-dinkes-01", DINKES),
                          ("ap-baru-01", DINKES), ("sw-dinkes-01", DINKES)):
        tickets.append(await service.file_manual(admin, device=device, owner=owner,
                                                 subject="Internet mati", description="pagi"))
    for ticket in tickets[2:]:
        for no in range(2, STEP_OF[ticket.id]):
            spec = SOP_006.step(no)
            await service.complete(ticket.id, no, workflow.Actor(
                ROLE_USER[spec.role.value], spec.role.value), valid_output(spec))
    return [t.id for t in tickets]


def build() -> tuple[FastAPI, InMemoryBackend]:
    """A fresh app over an in-memory store seeded with SEEDED."""
    clock = FakeClock()
    backend = InMemoryBackend()
    service, _ = make_service(backend, clock)
    ids = asyncio.run(seed(service))
    assert tuple(ids) == SEEDED
    assert asyncio.run(seed_outbox(backend, clock)) == list(MESSAGES)
    return make_app(service, alert_token=Secret(ALERT_TOKEN),
                    notifications=FakeDesk(backend, clock),
                    device_traps=lambda name: [dict(TRAP_SEEN)]), backend


def with_examples(doc: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI document plus examples of the seeded ids and steps on the path
    parameters, so the examples phase calls every seeded ticket whatever the fuzzer draws."""
    for operation in (op for ops in doc["paths"].values() for op in ops.values()):
        for param in operation.get("parameters", []):
            if param["name"] == "ticket_id":
                param["examples"] = {f"seeded{i}": {"value": v} for i, v in enumerate(SEEDED)}
            elif param["name"] == "message_id":
                param["examples"] = {f"message{m}": {"value": m} for m in MESSAGES}
            elif param["name"] == "name":  # a device: one of each agency, and a stranger
                param["examples"] = {f"device{i}": {"value": d.name}
                                     for i, d in enumerate(DEVICES)}
            elif param["name"] == "no":
                param["examples"] = {f"step{no}": {"value": no} for no in (2, 4, 7)}
    return doc


# The document does not depend on the store's content: load it once, call a fresh app per test.
schema = schemathesis.openapi.from_dict(with_examples(build()[0].openapi()))


@dataclass
class World:
    """A seeded app, the user calling it, and what it answered (operation, status) -> count."""

    app: FastAPI
    backend: InMemoryBackend
    user: str | None
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)

    def call(self, case: ApiCase) -> schemathesis.Response:
        response = case.call(app=self.app, headers=headers(self.user))
        self.answers[(case.operation.label, response.status_code)] += 1
        return response

    def statuses(self, label: str) -> set[int]:
        return {status for (op, status) in self.answers if op == label}


@pytest.fixture
def world(user: str | None, request: pytest.FixtureRequest) -> Iterator[World]:
    """A fresh seeded app per (operation, user); the examples sent are recorded as the test's
    `examples` property (see --junitxml)."""
    w = World(*build(), user)
    yield w
    request.node.user_properties.append(("examples", sum(w.answers.values())))
    request.node.user_properties.append(("statuses", dict(sorted(
        Counter({s: n for (_, s), n in w.answers.items()}).items()))))


COMPLETE = "POST /api/v1/tickets/{ticket_id}/steps/{no}/complete"
RETRY = "POST /api/v1/notifications/{message_id}/retry"
#: (user, operation) -> statuses its run must have produced: proof that the steering below
#: reaches real tickets and steps (200, 409, 403), not only 404 and 422
MUST_SEE = {
    ("admin", COMPLETE): {200, 409, 422},
    ("admin", "POST /api/v1/tickets"): {201, 422},
    ("admin", "POST /api/v1/alertmanager"): {200, 422},
    ("kasi", "POST /api/v1/tickets/{ticket_id}/verify"): {200, 404},
    ("teknisi", "POST /api/v1/tickets/{ticket_id}/verify"): {200, 409},
    ("dinkes", "GET /api/v1/tickets/{ticket_id}"): {200, 404},  # another agency's: 404
    ("dinkes", "POST /api/v1/tickets"): {201, 403},
    ("admin", "GET /api/v1/notifications"): {200, 422},
    ("admin", RETRY): {200, 404, 422},
    ("kasi", RETRY): {403},
    ("admin", "GET /api/v1/devices/{name}"): {200, 404},
    ("dinkes", "GET /api/v1/devices/{name}"): {200, 404},  # another agency's device: 404
}


@pytest.fixture
def reached(world: World) -> Iterator[None]:
    """After the run, check MUST_SEE against what the app answered."""
    yield
    for label in {op for (op, _) in world.answers}:
        wanted = MUST_SEE.get((str(world.user), label), set())
        assert wanted <= world.statuses(label), (label, dict(world.answers))


# -- steering: real ticket ids, real steps, valid documents, alerts naming real devices -------


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, params: dict[str, Any]
                            ) -> st.SearchStrategy[dict[str, Any]]:
    """A seeded ticket id most of the time (else the generated one); for a step, mostly the
    step the ticket was seeded at (200 once, 409 after), else the generated number."""
    if params and "message_id" in params:  # a seeded message most of the time
        return st.sampled_from([*MESSAGES, params["message_id"]]).map(
            lambda message_id: {**params, "message_id": message_id})
    if not params or "ticket_id" not in params:
        return st.just(params)
    if "no" not in params:
        return st.sampled_from([*SEEDED, params["ticket_id"]]).map(
            lambda ticket_id: {**params, "ticket_id": ticket_id})
    pairs = [*STEP_OF.items(), (SEEDED[0], params["no"]), (params["ticket_id"], params["no"])]
    return st.sampled_from(pairs).map(lambda pair: {**params, "ticket_id": pair[0],
                                                    "no": pair[1]})


def _alert_payloads() -> st.SearchStrategy[dict[str, Any]]:
    one = st.builds(
        lambda status, device, fp, starts: alert(status, fp, starts, device=device),
        st.sampled_from(["firing", "resolved"]),
        st.sampled_from([d.name for d in DEVICES] + ["sw-nowhere"]),
        st.sampled_from(["fp1", "fp2"]),
        st.sampled_from(["2026-11-24T01:00:00Z", "2026-11-24T03:00:00Z"]))
    return st.lists(one, min_size=1, max_size=3).map(lambda alerts: payload(*alerts))


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    operation = context.operation
    path = operation.path if operation is not None else ""
    if path.endswith("/complete"):  # the documents of the seeded steps (2 and 4 alike, 7)
        return st.sampled_from([valid_output(SOP_006.step(2)), valid_output(SOP_006.step(7)),
                                body])
    if path.endswith("/alertmanager"):
        return st.one_of(st.just(body), _alert_payloads())
    if path.endswith("/tickets") and isinstance(body, dict):
        return st.one_of(st.just(body), st.sampled_from([d.name for d in DEVICES]).map(
            lambda name: {**body, "device": name, "owner": None}))
    return st.just(body)


# -- the runs ----------------------------------------------------------------------------------


class TestAuthorized:
    """For every role every answer is documented (status, content type, schema), none a 5xx."""

    @pytest.mark.parametrize("user", ROLES)
    @pytest.mark.usefixtures("reached")
    @schema.parametrize()
    @AUTHORIZED
    def test_conforms(self, case: ApiCase, world: World) -> None:
        response = world.call(case)
        case.validate_response(response, checks=CHECKS)


class TestUnauthorized:
    """Without a token or with an unknown one every operation answers 401 (and documents it),
    then 429 once the address has been refused too often."""

    @pytest.mark.parametrize("user", [None, "wrong"])
    @schema.parametrize()
    @UNAUTHORIZED
    def test_refused(self, case: ApiCase, world: World) -> None:
        refused_before = sum(world.answers.values())  # by this app, all from one address
        response = world.call(case)
        case.validate_response(response, checks=CHECKS)
        # the token is checked before anything else: the method, the path, the body; after
        # REFUSALS_PER_WINDOW refusals the address is made to wait (429) without a look at it
        if refused_before < REFUSALS_PER_WINDOW:
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == ["Bearer"]
        else:
            assert response.status_code == 429, response.text
            assert response.headers["retry-after"]


class TestStoreDown:
    """With the ticket store down the answers are the documented 503s, never another 5xx."""

    @pytest.mark.parametrize("user", ["admin", "dinkes"])
    @schema.parametrize()
    @UNAUTHORIZED
    def test_documented(self, case: ApiCase, world: World) -> None:
        world.backend.unavailable = True
        response = world.call(case)
        # 503 is the documented answer here, so not_a_server_error is left out
        case.validate_response(response,
                               checks=[c for c in CHECKS if c is not not_a_server_error])
        assert response.status_code < 500 or response.status_code == 503, response.text
