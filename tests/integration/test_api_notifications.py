"""GET /api/v1/notifications and POST /api/v1/notifications/{id}/retry, served by the real
ASGI app in-process over a fake NotificationDesk (tests/notify_desk_fake.py): admins only,
404 without a [notify] channel, the failed and waiting messages with the outbox's stats."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from agent.api.notifications import LIST_MAX
from tests.fakes import FakeClock, InMemoryBackend
from tests.integration.api_support import TOKENS, USERS, client_of, headers, make_app, make_service
from tests.notify_desk_fake import FakeDesk, seed_outbox

LIST = "/api/v1/notifications"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+07:00$")


@dataclass
class Served:
    client: httpx.AsyncClient
    backend: InMemoryBackend
    desk: FakeDesk  # the app's when configured

    async def get(self, path: str, user: str | None = "admin") -> httpx.Response:
        return await self.client.get(path, headers=headers(user))

    async def post(self, path: str, user: str | None = "admin") -> httpx.Response:
        return await self.client.post(path, headers=headers(user))


@contextlib.asynccontextmanager
async def serve(configured: bool = True) -> AsyncIterator[Served]:
    clock = FakeClock()
    backend = InMemoryBackend()
    service, _ = make_service(backend, clock)
    await seed_outbox(backend, clock)
    desk = FakeDesk(backend, clock)
    async with client_of(make_app(service, notifications=desk if configured else None)
                         ) as client:
        yield Served(client, backend, desk)


@pytest.fixture
async def api() -> AsyncIterator[Served]:
    async with serve() as served:
        yield served


class TestWho:
    """Only an admin lists or retries messages; a stranger gets 401, another role 403."""

    @pytest.mark.parametrize("user", sorted(set(USERS) - {"admin"}))
    async def test_other_roles_refused(self, api: Served, user: str) -> None:
        listed = await api.get(LIST, user)
        retried = await api.post(f"{LIST}/1/retry", user)
        assert listed.status_code == retried.status_code == 403
        assert "notifications are for an admin" in listed.json()["detail"]
        assert api.desk.retried == []

    async def test_no_token(self, api: Served) -> None:
        assert (await api.get(LIST, None)).status_code == 401
        assert (await api.post(f"{LIST}/1/retry", None)).status_code == 401

    async def test_not_configured(self) -> None:
        async with serve(configured=False) as api:
            for answer in (await api.get(LIST), await api.post(f"{LIST}/1/retry")):
                assert answer.status_code == 404
                assert answer.json()["detail"].startswith("notifications are not configured")
            assert (await api.get(LIST, "kasi")).status_code == 403  # the role comes first


class TestList:
    """The failed and waiting messages, newest first, with every field and the stats."""

    async def test_default_is_waiting_and_failed(self, api: Served) -> None:
        answer = await api.get(LIST)
        assert answer.status_code == 200
        body = answer.json()
        assert [m["id"] for m in body["notifications"]] == [3, 1]
        failed = body["notifications"][1]
        assert failed == {
            "id": 1, "channel": "telegram", "recipient": "kadis", "address": "123456789",
            "kind": "ticket_opened", "ticket": "SOP006-2026-000001",
            "subject": "[SOP006-2026-000001] Tiket baru <1>", "status": "failed", "tries": 1,
            "next_at": failed["next_at"],
            "last_error": "telegram 403: bot was blocked by the user",
            "created_at": "2026-11-24T07:51:00+07:00", "done_at": "2026-11-24T08:00:00+07:00"}
        waiting = body["notifications"][0]
        assert (waiting["status"], waiting["tries"], waiting["done_at"]) == ("waiting", 1, None)
        assert waiting["next_at"] == "2026-11-24T08:05:00+07:00"
        assert waiting["last_error"] == "webhook 502"
        for message in body["notifications"]:
            for key in ("next_at", "created_at"):
                assert ISO_WITH_OFFSET.match(message[key]), (key, message[key])
        assert body["stats"] == {"waiting": 1, "oldest_waiting_at": "2026-11-24T07:53:00+07:00"}

    @pytest.mark.parametrize(("status", "ids"), [("sent", [2]), ("failed", [1]),
                                                 ("waiting", [3])])
    async def test_one_status(self, api: Served, status: str, ids: list[int]) -> None:
        answer = await api.get(f"{LIST}?status={status}")
        assert [m["id"] for m in answer.json()["notifications"]] == ids
        assert {m["status"] for m in answer.json()["notifications"]} == {status}

    async def test_limit(self, api: Served) -> None:
        answer = await api.get(f"{LIST}?limit=1")
        assert [m["id"] for m in answer.json()["notifications"]] == [3]
        assert (await api.get(f"{LIST}?limit={LIST_MAX}")).status_code == 200

    @pytest.mark.parametrize("query", ["status=all", "status=", "limit=0",
                                       f"limit={LIST_MAX + 1}", "limit=x"])
    async def test_bad_query_is_422(self, api: Served, query: str) -> None:
        answer = await api.get(f"{LIST}?{query}")
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"][0] == "query"

    async def test_store_down_is_503(self, api: Served) -> None:
        api.backend.unavailable = True
        answer = await api.get(LIST)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"

    async def test_no_token_in_any_answer(self, api: Served) -> None:
        for user in USERS:
            text = (await api.get(LIST, user)).text
            assert not any(token in text for token in TOKENS.values())


class TestRetry:
    """A retry queues a failed message again, due now; a sent or unknown one is a 404."""

    async def test_failed_message_waits_again(self, api: Served,
                                              caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, "agent.api.notifications")
        answer = await api.post(f"{LIST}/1/retry")
        assert answer.status_code == 200
        assert answer.json() == {"id": 1, "status": "waiting"}
        listed = (await api.get(f"{LIST}?status=waiting")).json()["notifications"]
        again = next(m for m in listed if m["id"] == 1)
        assert (again["tries"], again["next_at"], again["done_at"]) == (
            0, "2026-11-24T08:00:00+07:00", None)
        assert (await api.get(LIST)).json()["stats"]["waiting"] == 2
        assert [(r.message, r.message_id, r.user) for r in caplog.records  # type: ignore[attr-defined]
                ] == [("notification retried", 1, "admin")]

    @pytest.mark.parametrize("message_id", [2, 99])
    async def test_sent_or_unknown_is_404(self, api: Served, message_id: int) -> None:
        answer = await api.post(f"{LIST}/{message_id}/retry")
        assert answer.status_code == 404
        assert answer.json() == {"detail": f"no message {message_id} to retry (unknown, or sent)"}

    @pytest.mark.parametrize("message_id", ["0", "-1", str(2**63), "x"])
    async def test_bad_id_is_422(self, api: Served, message_id: str) -> None:
        answer = await api.post(f"{LIST}/{message_id}/retry")
        assert answer.status_code == 422
        assert api.desk.retried == []

    async def test_store_down_is_503(self, api: Served) -> None:
        api.backend.unavailable = True
        assert (await api.post(f"{LIST}/1/retry")).status_code == 503
