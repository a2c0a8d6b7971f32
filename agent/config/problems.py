"""How problems are worded: values described in TOML spelling, pydantic's errors turned into
issues with TOML key paths, and tomllib's syntax errors into problems at their line.

A message never shows the value of a secret key: an error at or under one names only the
kind of value found.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from agent.core.errors import ConfigProblem

Loc = tuple[str | int, ...]

# Keys whose values are credentials: an error at or under one never shows the value.
SECRET_KEYS = frozenset({"community", "auth_key", "priv_key", "token", "password_hash",
                         "session_key", "bot_token", "password", "secret"})


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found while validating: where (`loc`, TOML key names) and what."""

    loc: Loc
    message: str


# ---------------------------------------------------------------------------------------------
# Describing values in messages


def quote(text: str) -> str:
    """A string as TOML would write it: double quotes, escapes, non-ASCII kept."""
    return json.dumps(text, ensure_ascii=False)


def number(value: float) -> str:
    """30.0 → "30", 0.5 → "0.5": numbers as the user most likely wrote them."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def kind_of(value: object) -> str:
    """The TOML type of a value with an article ("an integer"); never the value itself."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime):
        return "an offset-aware datetime" if value.tzinfo else "a local datetime"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    return f"a {type(value).__name__}"


def shown(value: object) -> str:
    """A value in TOML spelling, for messages about non-secret keys."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return kind_of(value)


def typed(value: object, *, secret: bool = False) -> str:
    """'the string "30"', 'the integer 3', 'a table'; only the kind for secrets."""
    if secret or isinstance(value, dict | list):
        return kind_of(value)
    if isinstance(value, bool):
        return f"the boolean {shown(value)}"
    return f"the {kind_of(value).split(' ', 1)[1]} {shown(value)}"


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """'; did you mean "x"?' for a close match, else ''."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f"; did you mean {quote(close[0])}?" if close else ""


# ---------------------------------------------------------------------------------------------
# pydantic errors → issues


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model that owns the keys at `loc` (relative to `root`), for "did you mean"."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        model = _find_model(info.annotation) if info is not None else None
    return model


def _find_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, Annotated):
        for arg in typing.get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None


def _walk_secret(loc: Loc) -> bool:
    return any(part in SECRET_KEYS for part in loc)


def _literal_choices(ctx: Mapping[str, Any]) -> str:
    return re.sub(r"'([^']*)'", r'"\1"', str(ctx.get("expected", "")))


_TYPE_WORDS = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def translate(exc: ValidationError, prefix: Loc, root: type[BaseModel]) -> Iterator[Issue]:
    """Turn pydantic's errors into issues with TOML paths and messages that never echo a
    secret: an error at or under a secret key names only the kind of value found."""
    for error in exc.errors(include_url=False):
        rel: Loc = tuple(error["loc"])
        loc = prefix + rel
        kind = error["type"]
        value = error.get("input")
        ctx: Mapping[str, Any] = error.get("ctx") or {}
        secret = _walk_secret(loc)
        got = typed(value, secret=secret)
        if kind == "pantau":
            message = str(ctx["m"])
        elif kind == "extra_forbidden":
            owner = _model_at(root, rel[:-1])
            known = [info.alias or key for key, info in owner.model_fields.items()] if (
                owner is not None) else []
            message = "unknown key" + suggest(str(rel[-1]), known)
        elif kind == "missing":
            message = "missing required key"
        elif kind in _TYPE_WORDS:
            message = f"expected {_TYPE_WORDS[kind]}, got {got}"
        elif kind == "literal_error":
            message = f"expected one of {_literal_choices(ctx)}, got {got}"
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            words = {
                "greater_than": "greater than",
                "greater_than_equal": "at least",
                "less_than": "less than",
                "less_than_equal": "at most",
            }[kind]
            bound = next(iter(ctx.values()))
            message = f"must be {words} {number(bound)}, got {got if secret else shown(value)}"
        elif kind == "finite_number":
            message = f"must be a finite number, got {got if secret else shown(value)}"
        elif kind == "too_short":
            message = "must not be empty"
        elif kind == "too_long":
            message = f"must have at most {ctx.get('max_length')} items"
        else:  # pragma: no cover - a pydantic error type this schema does not produce
            message = str(error["msg"])
        yield Issue(loc, message)


# ---------------------------------------------------------------------------------------------
# tomllib's syntax errors → problems


_POSITION_RE = re.compile(
    r"^(?P<msg>.*) \((?:at line (?P<line>\d+), column (?P<col>\d+)|"
    r"at end of document)\)$",
    re.DOTALL,
)


def syntax_problem(message: str, text: str) -> ConfigProblem:
    """tomllib's message as a problem at its line, said the way the other problems are."""
    match = _POSITION_RE.match(message)
    if match is None:  # pragma: no cover - tomllib always says where
        return ConfigProblem("", f"invalid TOML: {message}")
    what = match["msg"][:1].lower() + match["msg"][1:]
    if match["line"] is None:
        return ConfigProblem(
            "", f"invalid TOML: {what} (at the end of the file)", text.count("\n") + 1
        )
    return ConfigProblem("", f"invalid TOML: {what} (column {match['col']})", int(match["line"]))

