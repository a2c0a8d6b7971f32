"""TOML → frozen Config: every key, every default, every cross-field rule.

`load()` reads the file with tomllib, validates it with the pydantic models in
`agent/config/schema.py` (unknown keys are errors), builds the frozen values and checks the
rules that span keys in `agent/config/build.py` (the [sla] and [sop] sections in
`agent/config/sla.py`, [notify] in `agent/config/notify.py` and its [notify.rules] in
`agent/config/notify_rules.py`), collects every problem with
its dotted key path and line, and raises one ConfigError, or returns a Config.
`pantau check-config` runs exactly this path.

The settings classes of `agent.core.settings` are re-exported here, so that code that reads
the configuration imports it all from `agent.config`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from agent.config.build import Builder
from agent.config.lines import BARE_KEY_RE, KeyLines
from agent.config.problems import Loc, quote, syntax_problem
from agent.config.schema import validate_document
from agent.config.values import Config as Config
from agent.config.values import NotifySettings as NotifySettings
from agent.core.errors import ConfigError, ConfigProblem
from agent.core.settings import (
    AgentSettings as AgentSettings,
)
from agent.core.settings import (
    AlertmanagerSettings as AlertmanagerSettings,
)
from agent.core.settings import (
    ClusterSettings as ClusterSettings,
)
from agent.core.settings import (
    FlappingSettings as FlappingSettings,
)
from agent.core.settings import (
    IcmpSettings as IcmpSettings,
)
from agent.core.settings import (
    MaintenanceWindow as MaintenanceWindow,
)
from agent.core.settings import (
    PollingSettings as PollingSettings,
)
from agent.core.settings import (
    ReportSettings as ReportSettings,
)
from agent.core.settings import (
    SlaSettings as SlaSettings,
)
from agent.core.settings import (
    SnmpAuth as SnmpAuth,
)
from agent.core.settings import (
    SnmpSettings as SnmpSettings,
)
from agent.core.settings import (
    TicketSettings as TicketSettings,
)
from agent.core.settings import (
    TrapSettings as TrapSettings,
)
from agent.core.settings import (
    User as User,
)
from agent.core.settings import (
    WebSettings as WebSettings,
)

if sys.version_info >= (3, 11):  # noqa: UP036 - tomli stays the fallback where tomllib is missing
    import tomllib
else:  # pragma: no cover - the tomli backport for older Pythons
    import tomli as tomllib


def load(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and convert the TOML file at `path`.

    Secrets given as `{ file = "PATH" }` are read relative to the file's folder, and
    `{ env = "VAR" }` from `environ` (default: `os.environ`). Raises ConfigError listing every
    problem found, including a missing or unreadable file and TOML syntax errors.
    """
    source = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(source, [ConfigProblem("", "cannot read: no such file")]) from exc
    except OSError as exc:
        problem = ConfigProblem("", f"cannot read: {exc.strerror or exc}")
        raise ConfigError(source, [problem]) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        problem = ConfigProblem(
            "", f"not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset}", line
        )
        raise ConfigError(source, [problem]) from exc
    return loads(text, source=source, base_dir=Path(path).parent, environ=environ)


def loads(
    text: str,
    *,
    source: str = "<string>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate and convert TOML text; `source` names it in problems and in `Config.source`.

    Relative `{ file = ... }` secrets are read from `base_dir` (default: the current folder).
    Raises ConfigError with every problem found, each with its key path and, where it can be
    found in `text`, its line.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [syntax_problem(str(exc), text)]) from exc
    parsed, issues = validate_document(doc)
    builder = Builder(
        parsed,
        environ=os.environ if environ is None else environ,
        base_dir=Path.cwd() if base_dir is None else base_dir,
    )
    config = builder.build(source)
    issues.extend(builder.issues)
    if issues:
        lines = KeyLines(text)
        problems = [ConfigProblem(render_path(i.loc), i.message, lines.find(i.loc)) for i in issues]
        problems.sort(key=lambda p: (p.line is None, p.line or 0))  # stable: file order
        raise ConfigError(source, problems)
    return config


def render_path(loc: Loc) -> str:
    """('devices', 2, 'snmp_auth') → "devices[2].snmp_auth"; keys that need it are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if BARE_KEY_RE.fullmatch(part) else quote(part)
            out += f".{key}" if out else key
    return out
