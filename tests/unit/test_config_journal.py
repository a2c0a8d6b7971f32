"""`[agent] journal`: where observations wait for the ticket store, and its checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import loads
from agent.core.errors import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(text)
    return [p.render("t.toml") for p in info.value.problems]


class TestJournalKey:
    """The default sits beside the SQLite database; a bad path is named with its key."""

    def test_default_is_beside_the_database_file(self) -> None:
        assert loads("").agent.journal == "pantau-observations.db"
        agent = loads('[agent]\ndatabase = "sqlite:////var/lib/pantau/tickets.db"\n').agent
        assert agent.journal == "/var/lib/pantau/tickets-observations.db"

    def test_default_with_postgresql_is_the_working_directory(self) -> None:
        agent = loads('[agent]\ndatabase = "postgresql://pantau@db/pantau"\n').agent
        assert agent.journal == "pantau-observations.db"

    def test_given_path_is_kept(self) -> None:
        assert loads('[agent]\njournal = "/srv/p/j.db"\n').agent.journal == "/srv/p/j.db"

    @pytest.mark.parametrize("value", ["", "   ", ":memory:", "state/"])
    def test_not_a_file_path(self, value: str) -> None:
        [problem] = problems(f'[agent]\njournal = "{value}"\n')
        assert problem.startswith("t.toml:2: agent.journal: expected the path of a file")

    def test_a_directory_is_refused(self, tmp_path: Path) -> None:
        assert problems(f'[agent]\njournal = "{tmp_path}"\n') == [
            f't.toml:2: agent.journal: expected the path of a file, got the directory '
            f'"{tmp_path}"']

    def test_the_database_file_is_refused(self, tmp_path: Path) -> None:
        db = tmp_path / "pantau.db"
        [problem] = problems(f'[agent]\ndatabase = "sqlite:///{db}"\njournal = "{db}"\n')
        assert problem.startswith(f't.toml:3: agent.journal: must not be the database file "{db}"')
