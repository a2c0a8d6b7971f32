"""Shared pytest wiring: the device-lab fixtures live in tests/lab_fixtures.py."""

from __future__ import annotations

pytest_plugins = ["tests.lab_fixtures"]
