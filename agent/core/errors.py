"""The AgentError tree: every error pantau raises on purpose.

```
AgentError
├── ConfigError          .problems: list[ConfigProblem(path="devices[3].snmp_auth", message=...)]
├── CollectorError       .device, .check
│   ├── TargetTimeout, TargetUnreachable      → DOWN
│   └── AuthFailed, ProtocolError, ProbeError → UNKNOWN
├── InvalidTransition
│   └── DocumentError    .field: the output document's field at fault
└── BackendError
    ├── BackendUnavailable   retry with backoff (network, 5xx, DB connection)
    │   └── WriterFenced     this cluster member holds no fresh lease: retry once it has
    ├── BackendRejected      do not retry (4xx, constraint violation)
    └── TicketNotFound
```

Library exceptions are translated only in adapters (`collectors/*`, `ticketing/store/*`),
narrowly, with `raise X(...) from exc`. Messages name the target, the elapsed time and the
likely cause, and never contain a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agent.core.model import Status
from agent.core.refusals import Refused


class AgentError(Exception):
    """Base of every error pantau raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a configuration file.

    `path` is the dotted key path (`devices[3].snmp_auth`), `line` the 1-based line in the
    file when it could be found, `message` what was expected.
    """

    path: str
    message: str
    line: int | None = None

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        location = f" {self.path}:" if self.path else ""
        return f"{where}:{location} {self.message}"


class ConfigError(AgentError):
    """The configuration is invalid; `.problems` lists every problem found, not just the first."""

    def __init__(self, file: str, problems: list[ConfigProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


class CollectorError(AgentError):
    """A check could not produce data for `device`; the subclass says what it means.

    Each subclass carries the one mapping of failures: `kind`, the closed set of error kinds
    in metrics (`model.ERROR_KINDS`), and `status`, what the check result says.
    """

    kind: ClassVar[str] = "internal"
    status: ClassVar[Status] = Status.UNKNOWN

    def __init__(self, device: str, check: str, message: str) -> None:
        self.device = device
        self.check = check
        super().__init__(f"{check} {device}: {message}")


class TargetTimeout(CollectorError):
    """The device did not answer in time (counts as DOWN)."""

    kind = "timeout"
    status = Status.DOWN


class TargetUnreachable(CollectorError):
    """The network says the device cannot be reached (counts as DOWN)."""

    kind = "unreachable"
    status = Status.DOWN


class AuthFailed(CollectorError):
    """Wrong community, user or key (UNKNOWN: we cannot tell whether the device is up)."""

    kind = "auth"
    status = Status.UNKNOWN


class ProtocolError(CollectorError):
    """The device answered with something we could not understand (UNKNOWN)."""

    kind = "protocol"
    status = Status.UNKNOWN


class ProbeError(CollectorError):
    """The probe itself could not run, e.g. no packet could be sent (UNKNOWN, never healthy)."""

    kind = "probe"
    status = Status.UNKNOWN


class InvalidTransition(AgentError):
    """The ticket workflow refuses an action; the message says why. Given a Refused (a code
    with parameters, agent/core/refusals.py), `str(exc)` is its English text and `text(lang)`
    renders it for a reader; a plain message (a programming error) stays English."""

    def __init__(self, message: str | Refused) -> None:
        self.refusal = message if isinstance(message, Refused) else None
        super().__init__(message.text("en") if isinstance(message, Refused) else message)

    @property
    def code(self) -> str | None:
        return self.refusal.code if self.refusal is not None else None

    def text(self, lang: str) -> str:
        """The refusal for a reader in `lang` (the English message when it has no code)."""
        return self.refusal.text(lang) if self.refusal is not None else str(self)


class DocumentError(InvalidTransition):
    """An output document does not fit its step: `field` names the first field at fault."""

    def __init__(self, field: str, message: str | Refused) -> None:
        self.field = field
        super().__init__(message)


class BackendError(AgentError):
    """A ticket backend failed."""


class BackendUnavailable(BackendError):
    """Transient: retry with backoff (network, 5xx, database connection)."""


class WriterFenced(BackendUnavailable):
    """This cluster member may not write tickets now: its lease was not renewed in time, or
    the store holds a newer epoch of it. Retry later (after it re-joins), never a rejection."""


class BackendRejected(BackendError):
    """Permanent: do not retry (4xx, constraint violation)."""


class TicketNotFound(BackendError):
    """No ticket with that id."""

