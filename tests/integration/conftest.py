"""Fixtures shared by the integration tests of FastSnmpClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.core.clock import SystemClock
from collectors.snmp.fastclient import FastSnmpClient


@pytest.fixture
async def client() -> AsyncIterator[FastSnmpClient]:
    """A FastSnmpClient on the test's event loop, closed afterwards."""
    c = FastSnmpClient(SystemClock())
    try:
        yield c
    finally:
        await c.aclose()
