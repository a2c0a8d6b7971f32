"""Pytest plugin for the device lab: `require_lab()` and the `lab` / `in_lab` fixtures.

`lab` is session-scoped: one lab (namespace, snmpd, 48 ports) for the whole run, stopped at
the end. The autouse fixture `lab_clean` resets it after every test that used it: all fault
rules removed and every port back to its start state. snmpd is not restarted between tests.

`own_lab` is a module's private lab (its own namespace and snmpd, 12 ports), for tests that
restart or reconfigure snmpd (trap notifications): the shared lab's other users never see it.
`in_own_lab` runs a test inside it, as `in_lab` does for the shared one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.lab import Lab, missing_prerequisites, start

OWN_LAB_PORTS = 12

_RUNNING = pytest.StashKey[Lab]()


def require_lab() -> None:
    """Skip the test when root or a lab tool is missing; in CI (CI=true) fail it instead."""
    problems = missing_prerequisites()
    if problems:
        message = "device lab unavailable: " + "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Lab]:
    """The session's lab (started once). Tests may break it; `lab_clean` repairs it."""
    require_lab()
    workdir: Path = tmp_path_factory.mktemp("lab")
    running = start(workdir)
    request.config.stash[_RUNNING] = running
    try:
        yield running
    finally:
        del request.config.stash[_RUNNING]
        running.stop()


@pytest.fixture(autouse=True)
def lab_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used `lab`: restore every address and reset every port."""
    yield
    running = request.config.stash.get(_RUNNING, None)
    if running is not None and "lab" in request.fixturenames:
        running.restore_all()
        running.reset_ports()


@pytest.fixture
def in_lab(lab: Lab) -> Iterator[Lab]:
    """Run the test with the main thread inside the lab namespace, so sockets the test
    opens in-process (pytest-asyncio runs the loop in the main thread) reach the lab.

    Threads started during the test (e.g. asyncio's default executor) stay in the lab.
    """
    with lab.inside():
        yield lab


@pytest.fixture(scope="module")
def own_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Lab]:
    """A lab of the test module's own (see the module docstring), stopped after it."""
    require_lab()
    workdir: Path = tmp_path_factory.mktemp("own-lab")
    name = f"pantau-own-{os.getpid()}-{secrets.token_hex(3)}"
    running = start(workdir, name=name, ports=OWN_LAB_PORTS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def in_own_lab(own_lab: Lab) -> Iterator[Lab]:
    """`in_lab` for `own_lab`; its ports and fault rules are reset after each test."""
    try:
        with own_lab.inside():
            yield own_lab
    finally:
        own_lab.restore_all()
        own_lab.reset_ports()
