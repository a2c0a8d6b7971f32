"""[cluster]: several agents on one PostgreSQL (issue 15). The model of the section and its
build into ClusterSettings; absent or `enabled = false`, the agent runs alone."""

from __future__ import annotations

from collections.abc import Set
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from agent.config.fields import Name
from agent.config.problems import Issue, Loc, number
from agent.core.settings import ClusterSettings

DEFAULT_HEARTBEAT_SECONDS = 5.0


class ClusterModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    enabled: bool = False
    node: Name | None = None
    address: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    heartbeat_seconds: Annotated[float, Field(ge=0.5, le=300)] | None = None
    lease_seconds: Annotated[float, Field(gt=0, le=3600)] | None = None


def cluster_settings(model: ClusterModel | None, database: str, broken: Set[Loc],
                     issues: list[Issue]) -> ClusterSettings | None:
    """The member's settings, None when the section is absent or not enabled; rules across
    keys add to `issues` (never about a key in `broken`)."""
    if model is None or not model.enabled:
        return None
    given = model.model_dump(exclude_none=True)
    del given["enabled"]
    heartbeat = given.get("heartbeat_seconds", DEFAULT_HEARTBEAT_SECONDS)
    lease = given.pop("lease_seconds", None)
    settings = ClusterSettings(**given, lease_seconds=3 * heartbeat if lease is None else lease)
    if not settings.node and ("cluster", "node") not in broken:
        issues.append(Issue(("cluster", "node"),
                            "missing: each member needs its own node name, e.g. \"agent-a\""))
    if not database.startswith("postgresql"):
        scheme = database.partition(":")[0] or "(none)"
        issues.append(Issue(("cluster", "enabled"),
                            f"needs a PostgreSQL [agent] database shared by the members, got "
                            f"{scheme}: SQLite is one machine's file"))
    if (lease is not None and ("cluster", "heartbeat_seconds") not in broken
            and settings.lease_seconds < 2 * settings.heartbeat_seconds):
        issues.append(Issue(("cluster", "lease_seconds"),
                            f"must be at least twice heartbeat_seconds "
                            f"({number(2 * settings.heartbeat_seconds)}), got "
                            f"{number(settings.lease_seconds)}"))
    return settings
