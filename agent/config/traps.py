"""[traps]: the model of the SNMP notification receiver's section and its build into
TrapSettings. The section's presence turns the receiver on; `listen` is required."""

from __future__ import annotations

from collections.abc import Set
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from agent.config.fields import Listen, split_listen
from agent.config.problems import Issue, Loc, number
from agent.core.settings import TrapSettings


class TrapsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    listen: Listen
    per_device_per_second: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    per_device_burst: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    overall_per_second: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    match_agent_address: bool | None = None
    confirm_after: Annotated[int, Field(ge=1, le=100)] | None = None
    ring_size: Annotated[int, Field(ge=1, le=10_000)] | None = None


def trap_settings(model: TrapsModel | None, broken: Set[Loc],
                  issues: list[Issue]) -> TrapSettings | None:
    """The receiver's settings, None without a valid [traps] section; rules across keys
    add to `issues` (never about a key in `broken`: that one would read as its default)."""
    if model is None:
        return None
    given = model.model_dump(exclude_none=True)
    host, port = split_listen(given.pop("listen")) or ("", 0)
    settings = TrapSettings(listen_host=host, listen_port=port, **given)
    rated = {("traps", "overall_per_second"), ("traps", "per_device_per_second")}
    if not rated & broken and settings.overall_per_second < settings.per_device_per_second:
        issues.append(Issue(
            ("traps", "overall_per_second"),
            f"must be at least per_device_per_second ({number(settings.per_device_per_second)})"
            f", got {number(settings.overall_per_second)}"))
    return settings
