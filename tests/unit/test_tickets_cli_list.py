"""`pantau tickets list` pages through the store: --limit, --after, --owner."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from agent.tickets_cli import _dispatch, add_parser
from tests.unit.test_service import make
from ticketing import workflow
from ticketing.service import TicketService

ADMIN = workflow.Actor("admin", "admin")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"), lambda p: p.add_argument("-c"))
    return parser.parse_args(["tickets", "list", *argv])


async def listed(service: TicketService, *argv: str) -> tuple[str, dict[str, Any] | None]:
    out = io.StringIO()
    config: Any = SimpleNamespace(sla=SimpleNamespace(timezone="Asia/Jakarta"))
    assert await _dispatch(config, service, parse(*argv), out) == 0
    text = out.getvalue()
    return text, json.loads(text) if "--json" in argv else None


async def filed(service: TicketService, n: int, owner: str = "Dinas Kesehatan") -> list[str]:
    ids = []
    for i in range(n):
        ticket = await service.file_manual(ADMIN, device=f"ap-{i}", owner=owner,
                                           subject="Internet mati", description="sejak pagi")
        ids.append(ticket.id)
        service.clock.advance(60)  # type: ignore[attr-defined]
    return ids


class TestList:
    """The list command's pages."""

    async def test_limit_and_after_walk_the_list(self) -> None:
        service, _, _, _ = make()
        ids = await filed(service, 5)
        _, first = await listed(service, "--limit", "2", "--json")
        assert first is not None
        assert [t["id"] for t in first["tickets"]] == ids[::-1][:2]
        _, second = await listed(service, "--limit", "2", "--after", first["next"], "--json")
        assert second is not None
        assert [t["id"] for t in second["tickets"]] == ids[::-1][2:4]
        _, whole = await listed(service, "--json")
        assert whole is not None
        assert [t["id"] for t in whole["tickets"]] == ids[::-1]
        assert whole["next"] is None

    async def test_the_table_says_how_to_get_the_next_page(self) -> None:
        service, _, _, _ = make()
        ids = await filed(service, 3)
        text, _ = await listed(service, "--limit", "2")
        assert text.splitlines()[-1] == f"(more: --after {ids[1]})"
        text, _ = await listed(service)
        assert "more:" not in text

    async def test_owner_filters(self) -> None:
        service, _, _, _ = make()
        theirs = await filed(service, 2, owner="Dinas Pendidikan")
        await filed(service, 2)
        _, doc = await listed(service, "--owner", "Dinas Pendidikan", "--json")
        assert doc is not None
        assert sorted(t["id"] for t in doc["tickets"]) == sorted(theirs)

    @pytest.mark.parametrize("limit", ["0", "1001", "many"])
    def test_a_bad_limit_is_refused(self, limit: str) -> None:
        with pytest.raises(SystemExit):
            parse("--limit", limit)
