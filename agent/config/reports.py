"""[reports]: the monthly report files the leader writes on its own (issue 16), for officials
who want them in a folder without a cron job. Absent, nothing is written (`pantau report`
and the page still work)."""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.config.fields import Name, Text
from agent.config.problems import Issue, Loc, quote
from agent.core.settings import ReportSettings, User

Format = Literal["pdf", "csv", "json"]


class ReportsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    directory: Text
    formats: Annotated[list[Format], Field(min_length=1, max_length=3)] | None = None
    lang: Literal["id", "en"] | None = None
    signer: Name | None = None


def report_settings(model: ReportsModel | None, users: tuple[User, ...], base_dir: Path,
                    broken: Set[Loc], issues: list[Issue]) -> ReportSettings | None:
    """The settings, None without a valid [reports] section; `directory` is read relative to
    the configuration file's folder; `signer` must be a configured user."""
    if model is None:
        return None
    formats = tuple(dict.fromkeys(model.formats or ("pdf", "csv", "json")))
    if model.signer is not None and ("reports", "signer") not in broken and not any(
            u.name == model.signer for u in users):
        issues.append(Issue(("reports", "signer"),
                            f"no user {quote(model.signer)} in [[users]]"))
    return ReportSettings(directory=str(base_dir / model.directory), formats=formats,
                          lang=model.lang or "id", signer=model.signer)
