"""`pantau check-config`: load a configuration file exactly as `pantau run` does and report."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from agent.config import Config, load
from agent.core.errors import ConfigError


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def check_config(
    path: str | os.PathLike[str], out: TextIO, environ: Mapping[str, str] | None = None
) -> int:
    """Validate the file at `path` and write the result to `out`.

    Invalid: every problem as `FILE:LINE: PATH: MESSAGE`, one per line, then
    "N problems found in FILE"; returns 2. Valid: one summary line (what is configured, the
    notification channels and, with [traps], where the trap receiver listens); returns 0.
    Secrets are resolved (so a missing variable is reported) but never printed.
    """
    try:
        config = load(path, environ=environ)
    except ConfigError as exc:
        for problem in exc.problems:
            out.write(problem.render(exc.file) + "\n")
        out.write(f"{_count(len(exc.problems), 'problem')} found in {exc.file}\n")
        return 2
    parts = [
        _count(len(config.devices), "device"),
        _count(len(config.snmp.auth), "SNMP credential set"),
        _count(len(config.users), "user"),
        _count(len(config.maintenance), "maintenance window"),
    ]
    traps = config.traps
    where = "" if traps is None else f"; traps: {_address(traps.listen_host, traps.listen_port)}"
    out.write(f"{config.source}: valid: {', '.join(parts)}; notify: {_channels(config)}{where}\n")
    return 0


def _channels(config: Config) -> str:
    """The configured channels, e.g. "telegram, email, 1 webhook (wa-gateway)", or "none".
    Names only: a webhook's URL may carry a token, and no secret is ever shown."""
    notify = config.notify
    found = [name for name, on in (("telegram", notify.telegram is not None),
                                   ("email", notify.email is not None)) if on]
    if notify.webhooks:
        names = ", ".join(hook.name for hook in notify.webhooks)
        found.append(f"{_count(len(notify.webhooks), 'webhook')} ({names})")
    return ", ".join(found) or "none"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
