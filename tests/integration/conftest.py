"""Fixtures shared by the integration tests: FastSnmpClient, and the ticket store's
(`store`, `backend`: tests/backend_fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.core.clock import SystemClock
from collectors.snmp.fastclient import FastSnmpClient
from tests.backend_fixtures import backend, store  # noqa: F401  (the store contract suites')


@pytest.fixture
async def client() -> AsyncIterator[FastSnmpClient]:
    """A FastSnmpClient on the test's event loop, closed afterwards."""
    c = FastSnmpClient(SystemClock())
    try:
        yield c
    finally:
        await c.aclose()
