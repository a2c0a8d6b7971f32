"""The two echo tables (collectors/icmp/engine.py), for tests that run both: the compiled one
must be built in CI; elsewhere its tests skip when it is not."""

from __future__ import annotations

import os

import pytest

from collectors.icmp.engine import WHY_NOT_COMPILED, CompiledEchoTable

ENGINES = ("compiled", "python")


def need_engine(engine: str) -> None:
    """Skip (fail in CI) a test of the compiled table when this install has none."""
    if engine == "compiled" and CompiledEchoTable is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must build the compiled echo table: {WHY_NOT_COMPILED}")
        pytest.skip(WHY_NOT_COMPILED)
