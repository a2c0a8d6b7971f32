"""Field types for where messages go: http(s) URLs, e-mail addresses, Telegram chat ids,
webhook names and a user's language, each with its own messages (as in `fields.py`)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from email.utils import parseaddr
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PlainValidator
from pydantic_core import PydanticCustomError

from agent.config.fields import is_host
from agent.config.problems import kind_of, quote
from ticketing.indonesian import LANGS

_CHAT_ID_RE = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")
_SLUG_RE = re.compile(r"[a-z0-9-]{1,64}")
_LOCAL_PART_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


def _fail(message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it are not read as a template.
    return PydanticCustomError("pantau", "{m}", {"m": message})


def url_problem(value: str, *, query: bool) -> str | None:
    """Why `value` is not an absolute http(s) URL with a host (None when it is one).

    The message never repeats the URL: a webhook's may carry a token in its query or
    userinfo. `query`: whether a query, a fragment and userinfo are allowed.
    """
    want = 'expected an absolute URL starting with "https://" or "http://"'
    if any(ord(c) <= 32 or ord(c) == 127 for c in value):
        return f"{want}, got a string with spaces or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"{want}, got a string that is not a URL (a bad port or brackets)"
    if not parts.scheme or not value.lower().startswith(f"{parts.scheme.lower()}://"):
        return f"{want}, got a string without a scheme"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{want}, got a {quote(parts.scheme)} URL"
    host = parts.hostname or ""
    if not host or not is_host(host):
        return f"{want}, got a URL without a valid host"
    if port == 0:
        return "the URL's port must be from 1 to 65535, got 0"
    if not query and (parts.username is not None or parts.password is not None):
        return "must not carry a user name or password"
    if not query and (parts.query or parts.fragment or "?" in value or "#" in value):
        return "must not have a query (?...) or a fragment (#...)"
    return None


def email_problem(value: str, *, display_name: bool) -> str | None:
    """Why `value` is not one e-mail address (None when it is): local@domain with a DNS name
    for the domain; with `display_name`, "Name <local@domain>" too (as a From header has it)."""
    want = 'expected an e-mail address such as "pantau@kotabogor.example"'
    if display_name:
        want += ' or "Pantau <pantau@kotabogor.example>"'
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{want}, got a string with control characters"
    _name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    # Exactly the address, or "Name <address>": nothing after it (a second address).
    ok = bool(addr) and (addr == value or (display_name and value.endswith(f"<{addr}>")))
    if not (ok and at and _LOCAL_PART_RE.fullmatch(local) and "." in domain.strip(".")
            and is_host(domain)):
        return f"{want}, got {quote(value)}"
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        return None
    return f"{want}, got {quote(value)} (the domain must be a name, not an IP address)"


def _checked(problem: Callable[[str], str | None]) -> Callable[[str], str]:
    def check(value: str) -> str:
        found = problem(value)
        if found is not None:
            raise _fail(found)
        return value
    return check


def _slug(value: str) -> str | None:
    if _SLUG_RE.fullmatch(value):
        return None
    return f'expected 1 to 64 lowercase letters, digits or "-", got {quote(value)}'


def _chat_id(value: object) -> str:
    want = 'expected a Telegram chat id: digits, "-" and digits for a group, or "@channelname"'
    if isinstance(value, int) and not isinstance(value, bool):
        raise _fail(f"{want}, as a string: write {quote(str(value))}, in quotes")
    if not isinstance(value, str):
        raise _fail(f"{want}, got {kind_of(value)}")
    if not _CHAT_ID_RE.fullmatch(value):
        raise _fail(f"{want}, got {quote(value)}")
    return value


def _language(value: str) -> str | None:
    if value in LANGS:
        return None
    return f"expected {' or '.join(quote(lang) for lang in LANGS)}, got {quote(value)}"


def _nip(value: str) -> str | None:
    # the civil servant's number (Nomor Induk Pegawai): 18 digits, often grouped with spaces
    if len(value.replace(" ", "")) == 18 and value.replace(" ", "").isdigit():
        return None
    return f'expected 18 digits, e.g. "19800101 200501 1 001", got {quote(value)}'


Slug = Annotated[str, AfterValidator(_checked(_slug))]
Nip = Annotated[str, AfterValidator(_checked(_nip))]
#: base_url, api_url: no query, fragment or userinfo
HttpUrl = Annotated[str, AfterValidator(_checked(lambda v: url_problem(v, query=False)))]
#: a webhook's URL may carry a gateway's token in its query or userinfo
WebhookUrl = Annotated[str, AfterValidator(_checked(lambda v: url_problem(v, query=True)))]
EmailAddress = Annotated[
    str, AfterValidator(_checked(lambda v: email_problem(v, display_name=False)))]
FromAddress = Annotated[
    str, AfterValidator(_checked(lambda v: email_problem(v, display_name=True)))]
ChatId = Annotated[str, PlainValidator(_chat_id)]
Language = Annotated[str, AfterValidator(_checked(_language))]  # of a user's messages
Port = Annotated[int, Field(ge=1, le=65535)]
