"""[notify]: the models of its tables (telegram, email, [[notify.webhook]]), their validation
one table at a time, and the build into NotifySettings with the rules across keys."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agent.config.addresses import FromAddress, HttpUrl, Port, Slug, WebhookUrl
from agent.config.fields import Address, PositiveSeconds, Role, SecretField, Text
from agent.config.notify_rules import (
    RuleModel,
    Validate,
    duplicates,
    rule_settings,
    validate_rules,
)
from agent.config.problems import Issue, Loc, quote, typed
from agent.config.values import NotifySettings
from agent.core.model import Secret
from notify.channels.email import EmailSettings, Security
from notify.channels.telegram import TelegramSettings
from notify.channels.webhook import WebhookSettings

#: The SMTP port each `security` uses when `port` is not given (submission, SMTPS, relay).
DEFAULT_PORTS = MappingProxyType({"starttls": 587, "tls": 465, "none": 25})
WEBHOOK_SECRET_MIN = 16  # characters of an HMAC key: a short one is guessable


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class NotifyModel(_Table):
    telegram: dict[str, Any] | None = None  # validated on its own as TelegramModel
    email: dict[str, Any] | None = None  # as EmailModel
    webhook: list[Any] | None = None  # each item as WebhookModel
    warn_at_percent: Annotated[int, Field(ge=1, le=99)] | None = None
    escalation: list[Role] | None = None
    rules: dict[str, Any] | None = None  # each [notify.rules.<kind>] as RuleModel


class TelegramModel(_Table):
    bot_token: SecretField
    api_url: HttpUrl | None = None
    timeout_seconds: PositiveSeconds | None = None


class EmailModel(_Table):
    host: Address
    port: Port | None = None
    security: Security | None = None
    username: Text | None = None
    password: SecretField | None = None
    from_: FromAddress = Field(alias="from")
    ca_file: Text | None = None
    timeout_seconds: PositiveSeconds | None = None


class WebhookModel(_Table):
    name: Slug
    url: WebhookUrl
    secret: SecretField
    roles: list[Role] | None = None  # whose messages go there too
    timeout_seconds: PositiveSeconds | None = None


@dataclass(slots=True)
class NotifyParsed:
    """What of [notify] validated; a table that did not is None (its issues are reported)."""

    model: NotifyModel | None = None
    telegram: TelegramModel | None = None
    email: EmailModel | None = None
    webhooks: list[tuple[int, WebhookModel]] = field(default_factory=list)
    webhook_names: list[tuple[int, str]] = field(default_factory=list)  # every string name
    rules: dict[str, RuleModel] = field(default_factory=dict)  # kind -> its valid table


def validate_notify(value: object, one: Validate) -> tuple[NotifyParsed, list[Issue]]:
    """Validate [notify] and each of its tables on its own, so that one mistake in a channel
    hides neither the rest of it nor the other channels."""
    loc: Loc = ("notify",)
    issues: list[Issue] = []
    hooks = value.get("webhook") if isinstance(value, dict) else None
    if isinstance(value, dict) and hooks is not None and not isinstance(hooks, list):
        got = typed(hooks)
        issues.append(Issue((*loc, "webhook"),
                            f"expected an array of tables ([[notify.webhook]]), got {got}"))
        value = {k: v for k, v in value.items() if k != "webhook"}
    parsed = NotifyParsed(model=one(NotifyModel, value, loc))
    if not isinstance(value, dict):
        return parsed, issues
    if isinstance(value.get("telegram"), dict):
        parsed.telegram = one(TelegramModel, value["telegram"], (*loc, "telegram"))
    if isinstance(value.get("email"), dict):
        parsed.email = one(EmailModel, value["email"], (*loc, "email"))
    for index, item in enumerate(value.get("webhook") or ()):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            parsed.webhook_names.append((index, item["name"]))
        model = one(WebhookModel, item, (*loc, "webhook", index))
        if model is not None:
            parsed.webhooks.append((index, model))
    parsed.rules, found = validate_rules(value.get("rules"), one)
    return parsed, issues + found


#: `secret(ref, loc, min_length=1)`: the resolved secret, or None (its problem reported)
ResolveSecret = Callable[..., Secret | None]
#: `ok(loc, *keys)`: whether rules may read these keys of the table at `loc`
KeysOk = Callable[..., bool]


class _NotifyBuilder:
    def __init__(self, secret: ResolveSecret, ok: KeysOk, base_dir: Path) -> None:
        self.secret = secret
        self.ok = ok
        self.base_dir = base_dir
        self.issues: list[Issue] = []

    def telegram(self, model: TelegramModel) -> TelegramSettings | None:
        loc: Loc = ("notify", "telegram")
        token = self.secret(model.bot_token, (*loc, "bot_token"))
        if token is None:
            return None
        kw: dict[str, Any] = {"bot_token": token}
        if model.api_url is not None:
            kw["api_url"] = model.api_url.rstrip("/")
        if model.timeout_seconds is not None:
            kw["timeout_seconds"] = model.timeout_seconds
        return TelegramSettings(**kw)

    def email(self, model: EmailModel) -> EmailSettings | None:
        loc: Loc = ("notify", "email")
        before = len(self.issues)
        if model.username is not None and model.password is None and self.ok(loc, "password"):
            self.issues.append(Issue((*loc, "password"), "missing: required with username"))
        if model.password is not None and model.username is None and self.ok(loc, "username"):
            self.issues.append(Issue((*loc, "username"), "missing: required with password"))
        password = self.secret(model.password, (*loc, "password"))
        ca_file = None if model.ca_file is None else self.ca_file(model.ca_file)
        if len(self.issues) > before or (password is None) != (model.password is None) or (
                (ca_file is None) != (model.ca_file is None)):
            return None
        security = model.security or "starttls"
        kw: dict[str, Any] = {"timeout_seconds": model.timeout_seconds} if (
            model.timeout_seconds is not None) else {}
        try:
            return EmailSettings(host=model.host, port=model.port or DEFAULT_PORTS[security],
                                 from_address=model.from_, security=security,
                                 username=model.username, password=password, ca_file=ca_file,
                                 **kw)
        except ValueError as exc:  # a rule of EmailSettings' that the checks above missed
            # Said in the file's words: the TOML key is `from`.
            self.issues.append(Issue(_email_key(str(exc)), str(exc).replace("from_address",
                                                                            "from")))
            return None

    def ca_file(self, name: str) -> str | None:
        loc: Loc = ("notify", "email", "ca_file")
        path = self.base_dir / name
        shown = quote(str(path))
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            self.issues.append(Issue(loc, f"CA file {shown} {what}"))
            return None
        try:  # read it now, so that a bad file is a problem here and not at the first send
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, ValueError):
            self.issues.append(Issue(loc, f"CA file {shown} holds no PEM certificate"))
            return None
        except OSError as exc:
            self.issues.append(Issue(loc, f"cannot read CA file {shown}: "
                                          f"{exc.strerror or type(exc).__name__}"))
            return None
        return str(path)

    def webhooks(self, parsed: NotifyParsed) -> tuple[
            tuple[WebhookSettings, ...], dict[str, tuple[str, ...]]]:
        first: dict[str, int] = {}
        for index, name in parsed.webhook_names:
            if name in first:
                self.issues.append(Issue(
                    ("notify", "webhook", index, "name"),
                    f"duplicate webhook name {quote(name)} "
                    f"(first at notify.webhook[{first[name]}])",
                ))
            first.setdefault(name, index)
        hooks: list[WebhookSettings] = []
        roles: dict[str, tuple[str, ...]] = {}
        for index, model in parsed.webhooks:
            loc: Loc = ("notify", "webhook", index)
            self.issues.extend(duplicates((*loc, "roles"), "role", model.roles or ()))
            secret = self.secret(model.secret, (*loc, "secret"), min_length=WEBHOOK_SECRET_MIN)
            if secret is None or model.name in roles:
                continue
            kw: dict[str, Any] = {"timeout_seconds": model.timeout_seconds} if (
                model.timeout_seconds is not None) else {}
            hooks.append(WebhookSettings(name=model.name, url=model.url, secret=secret, **kw))
            roles[model.name] = tuple(dict.fromkeys(model.roles or ()))
        return tuple(hooks), roles


def _email_key(message: str) -> Loc:
    """The key an EmailSettings ValueError is about, from the field its message names."""
    loc: Loc = ("notify", "email")
    for field_name, key in (("security", "security"), ("port", "port"), ("username", "password"),
                            ("from_address", "from"), ("ca_file", "ca_file"),
                            ("timeout_seconds", "timeout_seconds")):
        if field_name in message.split():
            return (*loc, key)
    return loc


def notify_settings(parsed: NotifyParsed | None, *, secret: ResolveSecret, ok: KeysOk,
                    base_dir: Path) -> tuple[NotifySettings, list[Issue]]:
    """[notify] as NotifySettings; secrets resolved through `secret` (which reports its own
    problems), `ca_file` read relative to `base_dir`."""
    if parsed is None or parsed.model is None:
        return NotifySettings(), []
    build = _NotifyBuilder(secret, ok, base_dir)
    telegram = None if parsed.telegram is None else build.telegram(parsed.telegram)
    email = None if parsed.email is None else build.email(parsed.email)
    hooks, roles = build.webhooks(parsed)
    model = parsed.model
    kw: dict[str, Any] = {}
    if model.warn_at_percent is not None:
        kw["warn_at_percent"] = model.warn_at_percent
    if model.escalation is not None:
        build.issues.extend(duplicates(("notify", "escalation"), "role", model.escalation))
        kw["escalation"] = tuple(dict.fromkeys(model.escalation))
    kw["rules"], found = rule_settings(parsed.rules)
    build.issues.extend(found)
    return NotifySettings(telegram=telegram, email=email, webhooks=hooks,
                          webhook_roles=MappingProxyType(roles), **kw), build.issues
