"""Shared pytest wiring: the device lab (tests/lab_fixtures.py) and PostgreSQL
(tests/postgres_fixtures.py)."""

from __future__ import annotations

pytest_plugins = ["tests.lab_fixtures", "tests.postgres_fixtures"]
