"""[notify.rules.<kind>]: each message kind's override of who is told and when, validated
key by key (an unknown kind or role names its key path) and built into ticketing's Rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator
from pydantic_core import PydanticCustomError

from agent.config.problems import Issue, Loc, quote, suggest, typed
from ticketing.audiences import KINDS, ROLES, STEP_KINDS, Rule


def choices(values: Sequence[str]) -> str:
    """'"a", "b" or "c"', as the other problems list what a key accepts."""
    quoted = [quote(v) for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _role(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("pantau", "{m}", {
            "m": f"expected a role name (a string), got {typed(value)}"})
    if value not in ROLES:
        raise PydanticCustomError("pantau", "{m}", {
            "m": f"unknown role {quote(value)}; expected one of {choices(ROLES)}"
                 f"{suggest(value, ROLES)}"})
    return value


RuleRole = Annotated[str, PlainValidator(_role)]


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    roles: list[RuleRole] | None = None  # who is told, instead of the kind's default roles
    step_role: bool | None = None  # STEP_KINDS only: whether the step's own role is told
    wait_for_working_hours: bool | None = None  # instead of the kind's own urgency


#: `one(model, value, loc)`: validate a table, report its issues, None when unusable
Validate = Callable[[type[BaseModel], object, Loc], Any]


def validate_rules(value: object, one: Validate) -> tuple[dict[str, RuleModel], list[Issue]]:
    """Each `[notify.rules.<kind>]` table on its own; `value` is what [notify] validated as a
    table (anything else is NotifyModel's to report)."""
    models: dict[str, RuleModel] = {}
    issues: list[Issue] = []
    if not isinstance(value, dict):
        return models, issues
    for kind, table in value.items():
        loc: Loc = ("notify", "rules", kind)
        if kind not in KINDS:
            issues.append(Issue(loc, f"unknown message kind {quote(kind)}; expected one of "
                                     f"{choices(KINDS)}{suggest(kind, KINDS)}"))
            continue
        model = one(RuleModel, table, loc)
        if model is not None:
            models[kind] = model
    return models, issues


def rule_settings(models: Mapping[str, RuleModel]) -> tuple[Mapping[str, Rule], list[Issue]]:
    """The validated tables as Rules, with the problems across keys: a role given twice, and
    `step_role` on a kind that is not about one step."""
    rules: dict[str, Rule] = {}
    issues: list[Issue] = []
    for kind, model in models.items():
        loc: Loc = ("notify", "rules", kind)
        issues += duplicates((*loc, "roles"), "role", model.roles or ())
        if model.step_role is not None and kind not in STEP_KINDS:
            issues.append(Issue((*loc, "step_role"), "only for a kind about one step: "
                                                     f"{choices(STEP_KINDS)}"))
        rules[kind] = Rule(
            roles=None if model.roles is None else tuple(dict.fromkeys(model.roles)),
            step_role=model.step_role is not False or kind not in STEP_KINDS,
            wait_for_working_hours=model.wait_for_working_hours)
    return MappingProxyType(rules), issues


def duplicates(loc: Loc, what: str, values: Sequence[str]) -> list[Issue]:
    """An issue on each value of the array at `loc` given again, naming the first's index."""
    first: dict[str, int] = {}
    found = []
    for index, value in enumerate(values):
        if value in first:
            found.append(Issue((*loc, index), f"duplicate {what} {quote(value)} "
                                              f"(first at index {first[value]})"))
        first.setdefault(value, index)
    return found
