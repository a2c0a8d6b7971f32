"""pydantic models for the pantau TOML file, one per table, and the validation of a document.

Used only inside `agent.config`: every model here stays behind that edge. A field left at
None means "not in the file"; the defaults live in the frozen dataclasses of
`agent.core.settings` and in `Config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.config.addresses import ChatId, EmailAddress, HttpUrl, Language, Nip
from agent.config.cluster import ClusterModel
from agent.config.fields import (
    Address,
    AtLeastOne,
    AuthProtocol,
    AwareDatetime,
    ClockTime,
    Database,
    JournalPath,
    Listen,
    LogLevel,
    Name,
    Percent,
    PositiveSeconds,
    PrivProtocol,
    Role,
    SecretField,
    SnmpVersion,
    Text,
    Weekday,
    Zone,
)
from agent.config.notify import NotifyModel, NotifyParsed, validate_notify
from agent.config.problems import Issue, Loc, suggest, translate, typed
from agent.config.reports import ReportsModel
from agent.config.traps import TrapsModel

# ---------------------------------------------------------------------------------------------
# Models, one per TOML table


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class AgentModel(_Table):
    listen: Listen | None = None
    database: Database | None = None
    journal: JournalPath | None = None
    timezone: Zone | None = None
    log_level: LogLevel | None = None
    max_body_bytes: Annotated[int, Field(ge=1024, le=1024 ** 3)] | None = None
    metrics_token: SecretField | None = None  # /metrics asks for it (bearer or basic auth)


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
    version: SnmpVersion
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
    address: Address
    owner: Text
    site: Text | None = None
    snmp_auth: Text | None = None
    snmp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    parent: Text | None = None
    interfaces: list[Text] | None = None


class WeeklyModel(_Table):
    days: Annotated[list[Weekday], Field(min_length=1)]
    start: ClockTime
    duration_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)]


class MaintenanceModel(_Table):
    name: Name
    devices: list[Text] | None = None
    owners: list[Text] | None = None
    sites: list[Text] | None = None
    weekly: WeeklyModel | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
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
    work_start: ClockTime | None = None
    work_end: ClockTime | None = None
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
    full_name: Text | None = None
    nip: Nip | None = None  # shown under the signature of the letters this user signs
    jabatan: Text | None = None  # the position, e.g. "Kepala Seksi Infrastruktur"
    telegram_chat_id: ChatId | None = None
    email: EmailAddress | None = None
    language: Language | None = None


class WebModel(_Table):
    session_key: SecretField | None = None  # signs the session cookie; default: random per start
    session_hours: Annotated[float, Field(gt=0, le=720)] | None = None
    secure_cookie: bool | None = None
    kop: Annotated[list[Text], Field(min_length=1, max_length=6)] | None = None
    city: Text | None = None
    letter_code: Text | None = None
    letter_unit: Text | None = None
    base_url: HttpUrl | None = None


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
    "notify": NotifyModel,  # its tables are validated one by one (agent/config/notify.py)
    "traps": TrapsModel,  # agent/config/traps.py
    "cluster": ClusterModel,  # agent/config/cluster.py
    "reports": ReportsModel,  # agent/config/reports.py
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
    notify: NotifyParsed | None = None
    traps: TrapsModel | None = None
    cluster: ClusterModel | None = None
    reports: ReportsModel | None = None


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
                "sop", "traps", "cluster", "reports"):
        if key in doc:
            setattr(parsed, key, one(SECTIONS[key], doc[key], (key,)))

    if "notify" in doc:
        parsed.notify, found = validate_notify(doc["notify"], one)
        issues.extend(found)

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
            if key == "users" and isinstance(item, dict) and not any(
                    k in item for k in ("token", "password_hash", "telegram_chat_id", "email")):
                issues.append(Issue((key, index), "missing: a token (for the API), a "
                                                  "password_hash (for the pages) or a "
                                                  "telegram_chat_id or email (for messages)"))
            model = one(SECTIONS[key], item, (key, index))
            if model is not None:
                getattr(parsed, key).append((index, model))
    return parsed, issues

