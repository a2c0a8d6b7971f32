"""The ticket clocks' sections: [sla] (working days and hours, holidays) into SlaSettings, and
[sop] (a version and per-step SLA overrides) into the effective Sop, each with its issues."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.config.fields import WEEKDAYS, parse_sla
from agent.config.problems import Issue, Loc, quote
from agent.config.schema import SopModel
from agent.core.errors import ConfigError
from agent.core.settings import SlaSettings
from ticketing.calendar import NO_SUCH_FILE, load_overrides
from ticketing.sop import SOP_006, Sla, Sop

#: `ok(loc, *keys)`: whether rules may read these keys of the table at `loc` (see Builder._ok)
KeysOk = Callable[..., bool]


def sla_settings(kw: dict[str, Any], *, timezone: str, base_dir: Path,
                 ok: KeysOk) -> tuple[SlaSettings, list[Issue]]:
    """[sla] from the keys written (`kw`); the zone defaults to the agent's `timezone`, and a
    holidays file is read relative to `base_dir`."""
    issues: list[Issue] = []
    kw.setdefault("timezone", timezone)
    loc: Loc = ("sla",)
    days = kw.pop("work_days", None)
    if days is not None:
        seen: set[str] = set()
        for index, day in enumerate(days):
            if day in seen:
                issues.append(Issue((*loc, "work_days", index), f"duplicate day {quote(day)}"))
            seen.add(day)
        kw["work_days"] = frozenset(WEEKDAYS.index(d) for d in days)
    sla = SlaSettings(**kw)
    if ok(loc, "work_start", "work_end") and sla.work_start >= sla.work_end:
        note = {key: "" if key in kw else ", the default" for key in ("work_start", "work_end")}
        issues.append(Issue(
            loc,
            f"work_start ({sla.work_start:%H:%M}{note['work_start']}) must be before "
            f"work_end ({sla.work_end:%H:%M}{note['work_end']})",
        ))
    if sla.holidays_file is None:
        return sla, issues
    path = base_dir / sla.holidays_file
    try:
        extra_holidays, extra_workdays = load_overrides(path)
    except ConfigError as exc:
        if [p.message for p in exc.problems] == [NO_SUCH_FILE]:
            issues.append(Issue(
                (*loc, "holidays_file"), f"holidays file {quote(str(path))} does not exist"
            ))
        else:
            for problem in exc.problems:
                issues.append(Issue((*loc, "holidays_file"), f"in {problem.render(str(path))}"))
        return sla, issues
    return replace(
        sla,
        holidays_file=str(path),
        extra_holidays=extra_holidays,
        extra_workdays=extra_workdays,
    ), issues


def effective_sop(model: SopModel | None, *, ok: KeysOk) -> tuple[Sop, list[Issue]]:
    """The built-in SOP-006 with [sop]'s version and [sop.sla] step overrides applied."""
    if model is None:
        return SOP_006, []
    if not model.sla:  # a version alone renumbers the built-in steps
        sop = SOP_006 if model.version is None else replace(SOP_006, version=model.version)
        return sop, []
    issues: list[Issue] = []
    loc: Loc = ("sop",)
    numbers = [str(step.no) for step in SOP_006.steps]
    slas: dict[int, Sla] = {}
    for key, value in model.sla.items():
        if key not in numbers:
            issues.append(Issue(
                (*loc, "sla", key),
                f"unknown step {quote(key)}; SOP-{SOP_006.number} has steps "
                f"{quote(numbers[0])} to {quote(numbers[-1])}",
            ))
            continue
        try:
            amount, unit = parse_sla(value)
        except ValueError as exc:
            issues.append(Issue((*loc, "sla", key), str(exc)))
            continue
        slas[int(key)] = Sla(amount, unit)
    if model.version is None:
        if ok(loc, "version"):
            issues.append(Issue(
                (*loc, "version"),
                "missing: required when [sop.sla] overrides a step (each ticket records "
                "the SOP version it was opened under)",
            ))
        return SOP_006, issues
    if model.version == SOP_006.version:
        issues.append(Issue(
            (*loc, "version"),
            f"must differ from the built-in SOP-{SOP_006.number} version "
            f"({SOP_006.version}) when steps are overridden",
        ))
    steps = tuple(
        replace(step, sla=slas[step.no]) if step.no in slas else step
        for step in SOP_006.steps
    )
    return replace(SOP_006, version=model.version, steps=steps), issues
