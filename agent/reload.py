"""Reloading the configuration without a restart (SIGHUP, `POST /api/v1/reload`): the file is
loaded and checked as `check-config` does; an invalid one is refused and changes nothing; a
valid one's inventory is applied, and the other sections that differ are named in a warning
(they need a restart)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from agent.config import Config, load
from agent.core.clock import Clock
from agent.core.errors import ConfigError
from agent.core.model import Device

log = logging.getLogger(__name__)

#: Config fields a reload applies; every other one that differs needs a restart.
APPLIED = frozenset({"source", "devices"})


class Settable(Protocol):
    """A gauge (prometheus_client's Gauge)."""

    def set(self, value: float) -> None: ...


@dataclass(frozen=True, slots=True)
class InventoryChange:
    """A new inventory against the running one, by device name, in inventory order."""

    devices: tuple[Device, ...]  # the new inventory
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # in both, with a different definition


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did (`ok`), or why it changed nothing (`problems`)."""

    ok: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()  # sections that differ but are not applied
    problems: tuple[str, ...] = ()  # "file: key: what was expected", as check-config says

    def as_json(self) -> dict[str, Any]:
        if not self.ok:
            return {"reloaded": False, "problems": list(self.problems)}
        return {"reloaded": True, "added": list(self.added), "removed": list(self.removed),
                "changed": list(self.changed), "restart_needed": list(self.restart_needed)}


def diff_inventory(old: Sequence[Device], new: Sequence[Device]) -> InventoryChange:
    before = {d.name: d for d in old}
    after = {d.name: d for d in new}
    return InventoryChange(
        devices=tuple(new),
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=tuple(n for n, d in after.items() if n in before and before[n] != d),
    )


def restart_keys(old: Config, new: Config) -> tuple[str, ...]:
    """The top-level sections that differ between `old` and `new` and a reload leaves as
    they are (everything but the inventory)."""
    return tuple(f.name for f in fields(Config)
                 if f.name not in APPLIED and getattr(old, f.name) != getattr(new, f.name))


class Reloader:
    """Reloads `config.source` on demand and hands a valid inventory to `apply`; keeps the
    running config (`config`) and `pantau_config_last_reload_success(_timestamp_seconds)`."""

    def __init__(self, config: Config, apply: Callable[[InventoryChange], None], *,
                 clock: Clock, success: Settable, success_at: Settable,
                 loader: Callable[[str], Config] = load) -> None:
        self.config = config
        self._apply = apply
        self._clock = clock
        self._success = success
        self._success_at = success_at
        self._load = loader
        self._succeeded()  # the start-up load counts as the first successful one

    def _succeeded(self) -> None:
        self._success.set(1)
        self._success_at.set(self._clock.now().timestamp())

    def _new_credentials(self, new: Config) -> tuple[str, ...]:
        """Devices naming a `[snmp.auth.*]` set the running agent does not have: the SNMP
        collector's sets need a restart, so such a file is refused as a whole."""
        known = self.config.snmp.auth
        return tuple(
            f"{new.source}: devices[{i}].snmp_auth: credential set {d.snmp_auth!r} is new; "
            "new [snmp.auth.*] sets need a restart"
            for i, d in enumerate(new.devices) if d.snmp_auth and d.snmp_auth not in known)

    def reload(self) -> ReloadOutcome:
        """Load the file again; apply its inventory when it is valid. Never raises for a bad
        file: its problems are logged and returned, and nothing changes."""
        path = self.config.source
        try:
            new = self._load(path)
        except ConfigError as exc:
            problems = tuple(p.render(exc.file) for p in exc.problems)
            for problem in problems:
                log.error("config reload refused", extra={"file": exc.file, "problem": problem})
            self._success.set(0)
            return ReloadOutcome(ok=False, problems=problems)
        unknown = self._new_credentials(new)
        if unknown:
            for problem in unknown:
                log.error("config reload refused", extra={"file": path, "problem": problem})
            self._success.set(0)
            return ReloadOutcome(ok=False, problems=unknown)
        change = diff_inventory(self.config.devices, new.devices)
        try:
            self._apply(change)
        except Exception:
            log.exception("config reload failed while applying the inventory",
                          extra={"file": path})
            self._success.set(0)
            return ReloadOutcome(ok=False, problems=(f"{path}: the inventory could not be "
                                                     "applied (see the log)",))
        keys = restart_keys(self.config, new)
        if keys:
            log.warning("config reload: these sections differ and need a restart",
                        extra={"file": path, "keys": ",".join(keys)})
        self.config = replace(self.config, devices=new.devices)
        self._succeeded()
        log.info("config reloaded", extra={
            "file": path, "devices": len(new.devices), "added": len(change.added),
            "removed": len(change.removed), "changed": len(change.changed)})
        return ReloadOutcome(ok=True, added=change.added, removed=change.removed,
                             changed=change.changed, restart_needed=keys)
