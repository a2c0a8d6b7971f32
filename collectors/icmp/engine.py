"""Which echo table a socket gets: the compiled one (collectors/icmp/_echo.c: sendmmsg,
recvmmsg and reply matching outside the interpreter) for a real socket, else the Python one
(packets.EchoTable). Both follow packets.EchoTable's rules; the tests run both.

PANTAU_ICMP_ENGINE=python chooses the Python table even when the compiled one is built (to
compare the two, or to step around a fault in it); "compiled" refuses to run without it.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any

from agent.core.errors import AgentError
from collectors.icmp.packets import EchoTable

try:
    from collectors.icmp._echo import EchoTable as CompiledEchoTable
except ImportError as exc:  # not built: no C compiler or Python headers at install time
    CompiledEchoTable = None  # type: ignore[assignment,misc]
    WHY_NOT_COMPILED = f"collectors.icmp._echo is not built ({exc})"
else:
    WHY_NOT_COMPILED = ""

__all__ = ["ENV", "WHY_NOT_COMPILED", "CompiledEchoTable", "EngineUnavailable", "Table",
           "chosen", "table_for"]

ENV = "PANTAU_ICMP_ENGINE"
Table = EchoTable | Any  # Any: the compiled table (typed in _echo.pyi)


class EngineUnavailable(AgentError):
    """PANTAU_ICMP_ENGINE asked for something this install cannot give."""


def chosen() -> str:
    """"compiled" or "python": what a real socket gets on this install and environment."""
    wanted = os.environ.get(ENV, "").strip().lower() or "auto"
    if wanted not in ("auto", "compiled", "python"):
        raise EngineUnavailable(f"{ENV}={wanted!r}: expected auto, compiled or python")
    if wanted == "compiled" and CompiledEchoTable is None:
        raise EngineUnavailable(f"{ENV}=compiled, but {WHY_NOT_COMPILED}")
    if wanted == "python" or CompiledEchoTable is None:
        return "python"
    return "compiled"


def table_for(sock: object, *, family: int, raw: bool, engine: str) -> Table:
    """The table for `sock`: the compiled one only for a real socket (it calls the system
    directly); test doubles of a socket always get the Python table."""
    if engine == "compiled" and CompiledEchoTable is not None and isinstance(sock, socket.socket):
        return CompiledEchoTable(family=family, raw=raw, random=secrets.token_bytes)
    return EchoTable(family=family, raw=raw)
