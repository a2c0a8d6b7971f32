"""Field types for the TOML models, each with its own messages, and the values they accept.

Each validator raises a pydantic error whose message is written for the config file; the
translation in `problems.py` passes it through unchanged.
"""

from __future__ import annotations

import ipaddress
import re
import typing
from dataclasses import dataclass
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field, PlainValidator
from pydantic_core import PydanticCustomError

from agent.config.problems import kind_of, number, quote, suggest, typed

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


def _fail(message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it are not read as a template.
    return PydanticCustomError("pantau", "{m}", {"m": message})


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


def _journal(value: str) -> str:
    if not value.strip():
        raise _fail("expected the path of a file, got an empty string")
    if "\0" in value or value == ":memory:" or value.endswith(("/", "\\")):
        raise _fail(f"expected the path of a file (kept across restarts), got {quote(value)}")
    return value


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
Listen = Annotated[str, AfterValidator(_listen)]
Database = Annotated[str, AfterValidator(_database)]
JournalPath = Annotated[str, AfterValidator(_journal)]
LogLevel = Annotated[str, AfterValidator(_log_level)]
Address = Annotated[str, AfterValidator(_address)]
SnmpVersion = Annotated[str, PlainValidator(_snmp_version)]
ClockTime = Annotated[time, PlainValidator(_clock_time)]
AwareDatetime = Annotated[datetime, PlainValidator(_aware_datetime)]

