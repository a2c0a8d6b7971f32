"""Issue 14's HTTP hardening, the pure parts: accept errors logged once per interval, the
metrics token, the open-file limit, and the config keys."""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import resource
from pathlib import Path
from typing import Any

import pytest

from agent.check_config import check_config
from agent.config import loads
from agent.core.errors import ConfigError
from agent.core.model import Secret
from agent.http_limits import ACCEPT_ERROR, AcceptErrorLog, raise_open_file_limit
from agent.server import ScrapeToken
from tests.fakes import FakeClock

LONG = "x" * 32


class TestAcceptErrorLog:
    """A flood of failed accepts makes one log line per interval, with the count."""

    def emfile(self) -> dict[str, Any]:
        return {"message": ACCEPT_ERROR, "exception": OSError(errno.EMFILE, "Too many open files")}

    def test_once_per_interval(self, caplog: pytest.LogCaptureFixture) -> None:
        clock = FakeClock()
        handler = AcceptErrorLog(clock, 60.0, previous=None)
        loop = asyncio.new_event_loop()
        try:
            with caplog.at_level(logging.ERROR, logger="agent.http_limits"):
                for _ in range(100_000):  # as many as 12 s of a flood wrote before
                    handler(loop, self.emfile())
                clock.advance(30)
                handler(loop, self.emfile())
                clock.advance(30)
                handler(loop, self.emfile())
        finally:
            loop.close()
        lines = [r for r in caplog.records if r.getMessage() == "cannot accept connections"]
        assert [vars(r)["failures"] for r in lines] == [1, 100_001]
        assert vars(lines[0])["error"] == "Too many open files"

    def test_other_reports_go_to_the_previous_handler(self) -> None:
        seen: list[dict[str, Any]] = []
        handler = AcceptErrorLog(FakeClock(), 60.0, previous=lambda _loop, ctx: seen.append(ctx))
        loop = asyncio.new_event_loop()
        try:
            handler(loop, {"message": "Task exception was never retrieved"})
        finally:
            loop.close()
        assert seen == [{"message": "Task exception was never retrieved"}]


class TestScrapeToken:
    """/metrics takes its token as a bearer token or as basic auth's password."""

    def basic(self, user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def test_open_without_a_token(self) -> None:
        assert ScrapeToken(None).allows(None)

    @pytest.mark.parametrize(("header", "ok"), [
        (f"Bearer {LONG}", True),
        (f"bearer  {LONG}", True),
        (None, False),
        ("Bearer wrong", False),
        (f"Token {LONG}", False),
        ("Basic !!!", False),
    ])
    def test_bearer(self, header: str | None, ok: bool) -> None:
        assert ScrapeToken(Secret(LONG)).allows(header) is ok

    def test_basic_with_any_user(self) -> None:
        scrape = ScrapeToken(Secret(LONG))
        assert scrape.allows(self.basic("prometheus", LONG))
        assert scrape.allows(self.basic("", LONG))
        assert not scrape.allows(self.basic(LONG, "x"))


class TestOpenFileLimit:
    """The soft open-file limit is raised to the hard one."""

    def test_raised_to_hard(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
            before, after = raise_open_file_limit()
            assert (before, after) == (min(soft, 256), hard)
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


USER = '[[users]]\nname = "sari"\nrole = "kasi"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(text, source="f.toml")
    return [p.render("f.toml") for p in caught.value.problems]


class TestTokenConfig:
    """Tokens shorter than 32 characters fail validation, naming the user and the key."""

    def test_short_user_token(self) -> None:
        secret = "LEAK-token-31-characters-long-x"
        assert len(secret) == 31
        found = problems(USER + f'token = "{secret}"\n')
        assert found == ['f.toml:4: users[0].token: user "sari": must be at least 32 '
                         'characters long']
        assert secret not in str(found)

    def test_short_user_token_from_the_environment(self) -> None:
        with pytest.raises(ConfigError) as caught:
            loads(USER + 'token = { env = "T" }\n', source="f.toml", environ={"T": "short"})
        assert str(caught.value.problems[0].message) == (
            'user "sari": must be at least 32 characters long (from environment variable T)')

    def test_long_user_token(self) -> None:
        assert loads(USER + f'token = "{LONG}"\n').users[0].token == Secret(LONG)

    def test_check_config_names_the_user(self, tmp_path: Path) -> None:
        path = tmp_path / "p.toml"
        path.write_text(USER + 'token = "short-LEAK"\n', encoding="utf-8")
        out = __import__("io").StringIO()
        assert check_config(path, out, environ={}) == 2
        assert 'users[0].token: user "sari": must be at least 32' in out.getvalue()
        assert "short-LEAK" not in out.getvalue()


class TestAgentKeys:
    """[agent] metrics_token (a Secret, at least 32 characters) and max_body_bytes."""

    def test_defaults(self) -> None:
        agent = loads("").agent
        assert (agent.metrics_token, agent.max_body_bytes) == (None, 1024 * 1024)

    def test_set(self) -> None:
        agent = loads(f'[agent]\nmetrics_token = "{LONG}"\nmax_body_bytes = 65536\n').agent
        assert agent.metrics_token == Secret(LONG)
        assert agent.max_body_bytes == 65536
        assert LONG not in repr(agent)

    def test_bad(self) -> None:
        found = problems('[agent]\nmetrics_token = "LEAK-short"\nmax_body_bytes = 10\n')
        assert found == [
            "f.toml:2: agent.metrics_token: must be at least 32 characters long",
            "f.toml:3: agent.max_body_bytes: must be at least 1024, got 10",
        ]
