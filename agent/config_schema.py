"""pydantic models for the pantau TOML file and the translation of their errors into issues.

Used only by `agent/config.py`: every model here stays behind that edge. A field left at
None means "not in the file"; the defaults live in the frozen dataclasses of agent/config.py.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]

# Keys whose values are credentials: an error at or under one never shows the value.
SECRET_KEYS = frozenset({"community", "auth_key", "priv_key", "token", "password_hash",
                         "session_key"})

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["none", "des", "3des", "aes128", "aes192", "aes256"]
Role = Literal["perangkat_daerah", "kepala_dinas", "kabid", "kasi", "teknisi", "admin"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = typing.get_args(Weekday)  # index = datetime.weekday()
SNMP_VERSIONS = ("1", "2c", "3")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_SLA_RE = re.compile(r"\s*([0-9]+)\s*(day|hour|minute)s?\s*")
_DNS_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found while validating: where (`loc`, TOML key names) and what."""

    loc: Loc
    message: str


def _fail(message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it are not read as a template.
    return PydanticCustomError("pantau", "{m}", {"m": message})


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
# Field types with their own messages


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret comes from: the literal itself, an environment variable, or a file."""

    kind: Literal["literal", "env", "file"]
    value: str  # the literal, the variable name, or the path as written

    def __repr__(self) -> str:
        shown_value = "<secret>" if self.kind == "literal" else quote(self.value)
        return f"SecretRef({self.kind}, {shown_value})"


_SECRET_FORMS = 'a string, { env = "VAR" } or { file = "PATH" }'


def _secret_ref(value: object) -> SecretRef:
    if isinstance(value, str):
        if not value:
            raise _fail("must not be empty")
        return SecretRef("literal", value)
    if isinstance(value, dict):
        keys = sorted(value)
        if keys == ["env"] and isinstance(value["env"], str):
            if not _ENV_RE.fullmatch(value["env"]):
                raise _fail(
                    f"env: expected an environment variable name, got {quote(value['env'])}"
                )
            return SecretRef("env", value["env"])
        if keys == ["file"] and isinstance(value["file"], str):
            if not value["file"]:
                raise _fail("file: expected a path, got an empty string")
            return SecretRef("file", value["file"])
        if keys in (["env"], ["file"]):
            got = kind_of(value[keys[0]])
            raise _fail(f"{keys[0]}: expected a string, got {got}")
        listed = ", ".join(keys) if keys else "no keys"
        raise _fail(f"expected {_SECRET_FORMS}, got a table with {listed}")
    raise _fail(f"expected {_SECRET_FORMS}, got {kind_of(value)}")


def _snmp_version(value: object) -> str:
    if isinstance(value, str):
        if value in SNMP_VERSIONS:
            return value
        raise _fail(f'expected "1", "2c" or "3", got {quote(value)}')
    if isinstance(value, int | float) and not isinstance(value, bool):
        written = number(value)
        raise _fail(
            f'expected a string "1", "2c" or "3", got the number {written} '
            f"(write version = {quote(written)}, in quotes)"
        )
    raise _fail(f'expected a string "1", "2c" or "3", got {kind_of(value)}')


def _name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise _fail(f'expected 1 to 128 letters, digits, ".", "_" or "-", got {quote(value)}')
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty")
    return value


def check_zone(value: str) -> str:
    """The name if zoneinfo knows it; else a problem with the nearest known name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        hint = suggest(value, available_timezones())
        raise _fail(
            f'unknown time zone {quote(value)} (expected an IANA name such as "Asia/Jakarta"){hint}'
        ) from None
    return value


def is_host(text: str) -> bool:
    """True for an IPv4 or IPv6 address or a syntactically valid DNS name (no lookup)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return True
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL_RE.fullmatch(lb) for lb in labels):
        return False
    # An all-numeric last label is a mistyped IPv4 address (RFC 1123, 2.1), not a name.
    return not labels[-1].isdigit()


def split_listen(text: str) -> tuple[str, int] | None:
    """Split "host:port" or "[v6]:port" into (host, port); None when it is neither."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        try:
            ok = bool(sep) and isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
        except ValueError:
            ok = False
    else:
        host, sep, port = text.rpartition(":")
        ok = bool(sep) and ":" not in host and is_host(host)
    if not ok or not port.isdigit() or int(port) > 65535:
        return None
    return host, int(port)


def _listen(value: str) -> str:
    if split_listen(value) is None:
        raise _fail(
            f'expected "host:port" or "[IPv6]:port" with a port from 0 to 65535, got {quote(value)}'
        )
    return value


def _database(value: str) -> str:
    for prefix in ("sqlite:///", "postgresql://"):
        if value.startswith(prefix) and len(value) > len(prefix):
            return value
    scheme, sep, _ = value.partition("://")
    if sep and scheme == "sqlite":
        got = quote(value)
    elif sep:  # a database URL can carry a password: name only its scheme
        got = f"a {quote(scheme)} URL (the rest is not shown: it may hold a password)"
    else:
        got = "a string that is not a URL"
    raise _fail(f'expected "sqlite:///PATH" or "postgresql://USER@HOST/DB", got {got}')


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise _fail(f"expected one of {', '.join(LOG_LEVELS)}, got {quote(value)}")
    return value.upper()


def _address(value: str) -> str:
    if not is_host(value):
        raise _fail(f"expected an IPv4 address, an IPv6 address or a DNS name, got {quote(value)}")
    return value


def _clock_time(value: object) -> time:
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and (m := _HHMM_RE.fullmatch(value)):
        return time(int(m[1]), int(m[2]))
    got = quote(value) if isinstance(value, str) else kind_of(value)
    raise _fail(f'expected a time of day "HH:MM" such as "22:00", got {got}')


SLA_FORMS = '"<n> day(s)", "<n> hour(s)" or "<n> minute(s)" such as "2 hours"'


def parse_sla(value: object) -> tuple[int, str]:
    """ "2 hours" → (2, "hour"); raises ValueError with the message for the config file."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string {SLA_FORMS}, got {typed(value)}")
    match = _SLA_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"expected {SLA_FORMS}, got {quote(value)}")
    amount = int(match[1])
    if amount < 1:
        raise ValueError(f"the amount must be at least 1, got {quote(value)}")
    return amount, match[2]


def _aware_datetime(value: object) -> datetime:
    example = "2026-12-01T22:00:00+07:00"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _fail(
                f"expected a datetime with an offset such as {example}, got the local "
                f"datetime {value.isoformat()} (add its UTC offset)"
            )
        return value
    if isinstance(value, str):
        raise _fail(
            f"expected a TOML datetime such as {example} (without quotes), "
            f"got the string {quote(value)}"
        )
    raise _fail(f"expected a datetime with an offset such as {example}, got {kind_of(value)}")


Name = Annotated[str, AfterValidator(_name)]
Text = Annotated[str, AfterValidator(_non_empty)]
Zone = Annotated[str, AfterValidator(check_zone)]
SecretField = Annotated[SecretRef, PlainValidator(_secret_ref)]
PositiveSeconds = Annotated[float, Field(gt=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
Percent = Annotated[float, Field(ge=0, le=100)]


# ---------------------------------------------------------------------------------------------
# Models, one per TOML table


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class AgentModel(_Table):
    listen: Annotated[str, AfterValidator(_listen)] | None = None
    database: Annotated[str, AfterValidator(_database)] | None = None
    timezone: Zone | None = None
    log_level: Annotated[str, AfterValidator(_log_level)] | None = None


class PollingModel(_Table):
    interval_seconds: PositiveSeconds | None = None
    timeout_seconds: PositiveSeconds | None = None
    down_after: AtLeastOne | None = None
    up_after: AtLeastOne | None = None
    retry_interval_seconds: PositiveSeconds | None = None
    max_in_flight: AtLeastOne | None = None


class IcmpModel(_Table):
    count: Annotated[int, Field(ge=1, le=100)] | None = None
    spacing_seconds: Annotated[float, Field(ge=0, le=10)] | None = None
    privileged: Literal["auto", "yes", "no"] | None = None


class FlappingModel(_Table):
    enabled: bool | None = None
    window: Annotated[int, Field(ge=2, le=1000)] | None = None
    high_percent: Percent | None = None
    low_percent: Percent | None = None


class SnmpModel(_Table):
    timeout_seconds: PositiveSeconds | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    max_repetitions: AtLeastOne | None = None
    max_oids_per_request: AtLeastOne | None = None
    interfaces: list[Text] | None = None
    auth: dict[str, Any] | None = None  # each entry is validated on its own as SnmpAuthModel


class SnmpAuthModel(_Table):
    version: Annotated[str, PlainValidator(_snmp_version)]
    community: SecretField | None = None
    username: Text | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretField | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretField | None = None
    context: str | None = None


class SiteModel(_Table):
    timezone: Zone | None = None


class DeviceModel(_Table):
    name: Name
    address: Annotated[str, AfterValidator(_address)]
    owner: Text
    site: Text | None = None
    snmp_auth: Text | None = None
    snmp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    parent: Text | None = None
    interfaces: list[Text] | None = None


class WeeklyModel(_Table):
    days: Annotated[list[Weekday], Field(min_length=1)]
    start: Annotated[time, PlainValidator(_clock_time)]
    duration_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)]


class MaintenanceModel(_Table):
    name: Name
    devices: list[Text] | None = None
    owners: list[Text] | None = None
    sites: list[Text] | None = None
    weekly: WeeklyModel | None = None
    start: Annotated[datetime, PlainValidator(_aware_datetime)] | None = None
    end: Annotated[datetime, PlainValidator(_aware_datetime)] | None = None
    timezone: Zone | None = None


class TicketsModel(_Table):
    reopen_window_minutes: Annotated[int, Field(ge=0)] | None = None
    verification_probes: Annotated[int, Field(ge=1, le=100)] | None = None
    verification_hold_seconds: Annotated[float, Field(ge=0)] | None = None
    verification_max_age_seconds: PositiveSeconds | None = None
    sla_sweep_seconds: PositiveSeconds | None = None


class AlertmanagerModel(_Table):
    token: SecretField | None = None  # a bearer token for the webhook only
    device_label: Name | None = None


class SlaModel(_Table):
    calendar: Literal["working", "calendar"] | None = None
    timezone: Zone | None = None
    work_days: Annotated[list[Weekday], Field(min_length=1)] | None = None
    work_start: Annotated[time, PlainValidator(_clock_time)] | None = None
    work_end: Annotated[time, PlainValidator(_clock_time)] | None = None
    national_holidays: bool | None = None
    holidays_file: Text | None = None


class SopModel(_Table):
    version: AtLeastOne | None = None
    sla: dict[str, Any] | None = None  # step number → SLA text, each checked by parse_sla


class UserModel(_Table):
    name: Name
    role: Role
    owner: Text | None = None
    token: SecretField | None = None  # for the API (bearer); kept only as a hash in memory
    password_hash: SecretField | None = None  # for the pages' sign-in: `pantau hash-password`


class WebModel(_Table):
    session_key: SecretField | None = None  # signs the session cookie; default: random per start
    session_hours: Annotated[float, Field(gt=0, le=720)] | None = None
    secure_cookie: bool | None = None
    kop: Annotated[list[Text], Field(min_length=1, max_length=6)] | None = None
    city: Text | None = None
    letter_code: Text | None = None
    letter_unit: Text | None = None


SECTIONS: Mapping[str, type[BaseModel]] = {
    "agent": AgentModel,
    "polling": PollingModel,
    "icmp": IcmpModel,
    "flapping": FlappingModel,
    "snmp": SnmpModel,
    "sites": SiteModel,  # a table of tables
    "devices": DeviceModel,  # arrays of tables
    "maintenance": MaintenanceModel,
    "users": UserModel,
    "tickets": TicketsModel,
    "alertmanager": AlertmanagerModel,
    "web": WebModel,
    "sla": SlaModel,
    "sop": SopModel,
}
_TABLE_OF_TABLES = ("sites",)
_ARRAYS = ("devices", "maintenance", "users")


# ---------------------------------------------------------------------------------------------
# Validation of a whole document, section by section


@dataclass(slots=True)
class Parsed:
    """Each section's validated model (None when absent or unusable), plus every name written.

    Sections and array items are validated one by one, and one whose keys fail is validated
    again without them (those keys are listed in `broken`), so that one mistake hides neither
    the rest of its table nor the rules that span tables.
    """

    present: frozenset[str] = frozenset()
    broken: set[Loc] = field(default_factory=set)  # keys whose values were rejected
    agent: AgentModel | None = None
    polling: PollingModel | None = None
    icmp: IcmpModel | None = None
    flapping: FlappingModel | None = None
    snmp: SnmpModel | None = None
    auth: dict[str, SnmpAuthModel] = field(default_factory=dict)
    auth_names: tuple[str, ...] = ()  # every [snmp.auth.NAME], valid or not
    sites: dict[str, SiteModel] = field(default_factory=dict)
    devices: list[tuple[int, DeviceModel]] = field(default_factory=list)
    device_names: list[tuple[int, str]] = field(default_factory=list)  # every string name
    maintenance: list[tuple[int, MaintenanceModel]] = field(default_factory=list)
    users: list[tuple[int, UserModel]] = field(default_factory=list)
    user_names: list[tuple[int, str]] = field(default_factory=list)
    tickets: TicketsModel | None = None
    alertmanager: AlertmanagerModel | None = None
    web: WebModel | None = None
    sla: SlaModel | None = None
    sop: SopModel | None = None


def validate_document(doc: Mapping[str, Any]) -> tuple[Parsed, list[Issue]]:
    """Validate a parsed TOML document; return what validated and every issue found."""
    issues: list[Issue] = []
    parsed = Parsed(present=frozenset(k for k in doc if k in SECTIONS))
    for key in doc:
        if key not in SECTIONS:
            issues.append(Issue((key,), "unknown key" + suggest(key, SECTIONS)))

    def one(model: type[BaseModel], value: object, loc: Loc, *, retry: bool = True) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            issues.extend(translate(exc, loc, model))
            errors = exc.errors(include_url=False)
        bad = {error["loc"][0] for error in errors if error["loc"]}
        if not retry or not isinstance(value, dict) or any(not e["loc"] for e in errors):
            return None
        parsed.broken.update((*loc, key) for key in bad)
        try:
            return model.model_validate({k: v for k, v in value.items() if k not in bad})
        except ValidationError:  # a required key was among the broken ones
            return None

    for key in ("agent", "polling", "icmp", "flapping", "tickets", "alertmanager", "web", "sla",
                "sop"):
        if key in doc:
            setattr(parsed, key, one(SECTIONS[key], doc[key], (key,)))

    snmp = doc.get("snmp")
    if snmp is not None:
        parsed.snmp = one(SnmpModel, snmp, ("snmp",))
        auth = snmp.get("auth") if isinstance(snmp, dict) else None
        if isinstance(auth, dict):
            parsed.auth_names = tuple(auth)
            for name, entry in auth.items():
                # No second try: the version rules would misread a rejected key as absent.
                model = one(SnmpAuthModel, entry, ("snmp", "auth", name), retry=False)
                if model is not None:
                    parsed.auth[name] = model

    for key in _TABLE_OF_TABLES:
        table = doc.get(key)
        if table is None:
            continue
        if not isinstance(table, dict):
            issues.append(Issue((key,), f"expected a table of tables, got {typed(table)}"))
            continue
        for name, entry in table.items():
            model = one(SiteModel, entry, (key, name))
            if model is not None:
                parsed.sites[name] = model

    for key in _ARRAYS:
        items = doc.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            issues.append(
                Issue((key,), f"expected an array of tables ([[{key}]]), got {typed(items)}")
            )
            continue
        names = {"devices": parsed.device_names, "users": parsed.user_names}.get(key)
        for index, item in enumerate(items):
            if names is not None and isinstance(item, dict) and isinstance(item.get("name"), str):
                names.append((index, item["name"]))
            if key == "users" and isinstance(item, dict) and not (
                    "token" in item or "password_hash" in item):
                issues.append(Issue((key, index), "missing: a token (for the API) or a "
                                                  "password_hash (for the pages), or both"))
            model = one(SECTIONS[key], item, (key, index))
            if model is not None:
                getattr(parsed, key).append((index, model))
    return parsed, issues


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
            known = owner.model_fields if owner is not None else ()
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
# Rules inside one SNMP credential set


def snmp_auth_rules(name: str, auth: SnmpAuthModel) -> Iterator[Issue]:
    """Which keys each SNMP version needs or forbids; run on one validated credential set."""
    loc: Loc = ("snmp", "auth", name)
    version = auth.version
    if version in ("1", "2c"):
        if auth.community is None:
            yield Issue((*loc, "community"), f"missing: required for version {quote(version)}")
        for key in (
            "username",
            "auth_protocol",
            "auth_key",
            "priv_protocol",
            "priv_key",
            "context",
        ):
            if getattr(auth, key) is not None:
                yield Issue((*loc, key), 'only used with version "3"')
        return
    if auth.community is not None:
        yield Issue((*loc, "community"), 'only used with versions "1" and "2c"')
    if auth.username is None:
        yield Issue((*loc, "username"), 'missing: required for version "3"')
    auth_protocol = auth.auth_protocol or "none"
    priv_protocol = auth.priv_protocol or "none"
    for key, protocol, value in (
        ("auth", auth_protocol, auth.auth_key),
        ("priv", priv_protocol, auth.priv_key),
    ):
        if protocol != "none" and value is None:
            yield Issue(
                (*loc, f"{key}_key"),
                f"missing: required when {key}_protocol is {quote(protocol)}",
            )
        if protocol == "none" and value is not None:
            yield Issue(
                (*loc, f"{key}_key"),
                f'given, but {key}_protocol is "none" (set {key}_protocol or remove the key)',
            )
    if priv_protocol != "none" and auth_protocol == "none":
        yield Issue(
            (*loc, "priv_protocol"),
            f"privacy ({quote(priv_protocol)}) needs authentication: set auth_protocol and "
            "auth_key",
        )
