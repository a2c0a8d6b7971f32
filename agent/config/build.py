"""Validated models → the frozen values the rest of pantau sees, with the rules across keys.

`Builder` turns each validated section into its frozen settings, filling defaults that
depend on other keys (a retry interval from the polling interval, a device's time zone from
its site), resolving secrets, and collecting an issue for every rule that spans keys or
sections. A key that was rejected is not read by those rules: it would read as its default.
The ticket clocks' sections ([sla], [sop]) are built in `agent/config/sla.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from agent.config.cluster import cluster_settings
from agent.config.fields import WEEKDAYS, SecretRef, split_listen
from agent.config.notify import notify_settings
from agent.config.problems import Issue, Loc, number, quote, suggest
from agent.config.reports import report_settings
from agent.config.rules import (
    duplicate_names,
    maintenance_time_rules,
    parent_cycles,
    snmp_auth_rules,
)
from agent.config.schema import Parsed, SnmpAuthModel
from agent.config.secret_sources import resolve_secret
from agent.config.sla import effective_sop, sla_settings
from agent.config.traps import trap_settings
from agent.config.values import Config, NotifySettings
from agent.core.model import Device, Secret
from agent.core.settings import (
    AgentSettings,
    AlertmanagerSettings,
    FlappingSettings,
    IcmpSettings,
    MaintenanceWindow,
    PollingSettings,
    SlaSettings,
    SnmpAuth,
    SnmpSettings,
    TicketSettings,
    User,
    WebSettings,
)
from agent.web.i18n import DEFAULT_LANG
from agent.web.passwords import FORMAT_HINT, is_password_hash
from ticketing.sop import Sop

#: users' API tokens and the metrics token: long enough that guessing one is hopeless
TOKEN_MIN_LENGTH = 32

def _given(model: BaseModel | None) -> dict[str, Any]:
    """The keys written in the file (TOML has no null, so a None field was absent)."""
    if model is None:
        return {}
    return {key: getattr(model, key) for key in model.model_fields_set}


def sqlite_file(database: str) -> str | None:
    """The file of a "sqlite:///PATH" URL (None for another database or SQLite in memory)."""
    if not database.startswith("sqlite:///"):
        return None
    path = database.removeprefix("sqlite:///").partition("?")[0]
    return path if path and path != ":memory:" else None


def default_journal(database: str) -> str:
    """The observation journal's default: beside the SQLite database file (the directory the
    operator chose for pantau's state, already writable by it), named after it
    ("pantau.db" -> "pantau-observations.db"); with PostgreSQL, in the working directory."""
    db_file = sqlite_file(database)
    if db_file is None:
        return AgentSettings().journal
    path = Path(db_file)
    return str(path.with_name(f"{path.stem}-observations.db"))


class Builder:
    """Turns validated sections into the frozen Config, collecting rule issues on the way."""

    def __init__(self, parsed: Parsed, *, environ: Mapping[str, str], base_dir: Path) -> None:
        self.p = parsed
        self.environ = environ
        self.base_dir = base_dir
        self.issues: list[Issue] = []

    def _issue(self, loc: Loc, message: str) -> None:
        self.issues.append(Issue(loc, message))

    def _ok(self, loc: Loc, *keys: str) -> bool:
        """Whether rules may read these keys of the table at `loc`: the table validated and
        none of the keys was rejected (a rejected key would read as its default)."""
        if len(loc) == 1 and loc[0] in self.p.present and getattr(self.p, str(loc[0])) is None:
            return False
        return not any((*loc, key) in self.p.broken for key in keys)

    def build(self, source: str) -> Config:
        agent = self._agent()
        polling = self._polling()
        flapping = self._flapping()
        snmp = self._snmp(polling)
        devices = self._devices(agent, snmp)
        users = self._users()
        return Config(
            source=source,
            agent=agent,
            polling=polling,
            icmp=IcmpSettings(**_given(self.p.icmp)),
            flapping=flapping,
            snmp=snmp,
            devices=devices,
            maintenance=self._maintenance(devices),
            users=users,
            tickets=TicketSettings(**_given(self.p.tickets)),
            alertmanager=self._alertmanager(),
            web=self._web(),
            sla=self._sla(agent),
            sop=self._sop(),
            notify=self._notify(),
            traps=trap_settings(self.p.traps, self.p.broken, self.issues),
            cluster=cluster_settings(self.p.cluster, agent.database, self.p.broken,
                                     self.issues),
            reports=report_settings(self.p.reports, users, self.base_dir, self.p.broken,
                                    self.issues),
        )

    def _agent(self) -> AgentSettings:
        kw = _given(self.p.agent)
        listen = kw.pop("listen", None)
        if listen is not None:
            kw["listen_host"], kw["listen_port"] = split_listen(listen) or ("", 0)
        ref = kw.pop("metrics_token", None)
        token = self._secret(ref, ("agent", "metrics_token"), min_length=TOKEN_MIN_LENGTH)
        agent = AgentSettings(**kw, metrics_token=token)
        db_file = sqlite_file(agent.database)
        if "journal" not in kw:
            agent = replace(agent, journal=default_journal(agent.database))
        elif self._ok(("agent",), "journal", "database"):
            journal = Path(agent.journal)
            if journal.is_dir():
                self._issue(("agent", "journal"),
                            f"expected the path of a file, got the directory {quote(str(journal))}")
            elif db_file is not None and journal.resolve() == Path(db_file).resolve():
                self._issue(("agent", "journal"), "must not be the database file "
                            f"{quote(db_file)}: the journal keeps what the database has not")
        return agent

    def _polling(self) -> PollingSettings:
        kw = _given(self.p.polling)
        polling = PollingSettings(**kw)
        if "retry_interval_seconds" not in kw:
            # A third of the interval (Icinga-like quick re-checks), between 1 and 10 seconds.
            retry = min(polling.retry_interval_seconds,
                        max(1.0, polling.interval_seconds / 3), polling.interval_seconds)
            polling = replace(polling, retry_interval_seconds=retry)

        def show(key: str) -> str:
            note = "" if key in kw else ", the default"
            return f"{key} ({number(getattr(polling, key))}{note})"

        ok = partial(self._ok, ("polling",), "interval_seconds")
        if ok("timeout_seconds") and polling.timeout_seconds >= polling.interval_seconds:
            self._issue(
                ("polling",),
                f"{show('timeout_seconds')} must be less than {show('interval_seconds')}",
            )
        if ok("retry_interval_seconds") and (
            polling.retry_interval_seconds > polling.interval_seconds
        ):
            self._issue(
                ("polling",),
                f"{show('retry_interval_seconds')} must not exceed {show('interval_seconds')}",
            )
        return polling

    def _flapping(self) -> FlappingSettings:
        kw = _given(self.p.flapping)
        flapping = FlappingSettings(**kw)
        ok = self._ok(("flapping",), "low_percent", "high_percent")
        if ok and flapping.low_percent > flapping.high_percent:
            self._issue(
                ("flapping",),
                f"low_percent ({number(flapping.low_percent)}) must not exceed high_percent "
                f"({number(flapping.high_percent)})",
            )
        return flapping

    def _sla(self, agent: AgentSettings) -> SlaSettings:
        sla, issues = sla_settings(_given(self.p.sla), timezone=agent.timezone,
                                   base_dir=self.base_dir, ok=self._ok)
        self.issues.extend(issues)
        return sla

    def _sop(self) -> Sop:
        sop, issues = effective_sop(self.p.sop, ok=self._ok)
        self.issues.extend(issues)
        return sop

    def _notify(self) -> NotifySettings:
        notify, issues = notify_settings(self.p.notify, secret=self._secret, ok=self._ok,
                                         base_dir=self.base_dir)
        self.issues.extend(issues)
        return notify

    def _snmp(self, polling: PollingSettings) -> SnmpSettings:
        kw = _given(self.p.snmp)
        kw.pop("auth", None)
        if "interfaces" in kw:
            kw["interfaces"] = tuple(kw["interfaces"])
        auth = {name: self._snmp_auth(name, model) for name, model in self.p.auth.items()}
        snmp = SnmpSettings(**kw, auth=MappingProxyType(auth))
        uses_snmp = "snmp" in self.p.present or any(d.snmp_auth for _, d in self.p.devices)
        ok = self._ok(("snmp",), "timeout_seconds", "retries") and self._ok(
            ("polling",), "timeout_seconds"
        )
        if uses_snmp and ok:
            budget = snmp.timeout_seconds * (snmp.retries + 1)
            if budget > polling.timeout_seconds:
                self._issue(
                    ("snmp",),
                    f"timeout_seconds ({number(snmp.timeout_seconds)}) × (retries "
                    f"({snmp.retries}) + 1) = {number(budget)} must not exceed "
                    f"polling.timeout_seconds ({number(polling.timeout_seconds)})",
                )
        return snmp

    def _snmp_auth(self, name: str, model: SnmpAuthModel) -> SnmpAuth:
        self.issues.extend(snmp_auth_rules(name, model))
        loc: Loc = ("snmp", "auth", name)
        return SnmpAuth(
            name=name,
            version=model.version,
            community=self._secret(model.community, (*loc, "community")),
            username=model.username,
            auth_protocol=model.auth_protocol or "none",
            auth_key=self._secret(model.auth_key, (*loc, "auth_key"), min_length=8),
            priv_protocol=model.priv_protocol or "none",
            priv_key=self._secret(model.priv_key, (*loc, "priv_key"), min_length=8),
            context=model.context or "",
        )

    def _secret(self, ref: SecretRef | None, loc: Loc, *, min_length: int = 1,
                about: str = "") -> Secret | None:
        """Resolve a secret; a problem names the variable or file (and `about`, e.g. the
        user), never the value."""
        if ref is None:
            return None
        found = resolve_secret(
            ref, environ=self.environ, base_dir=self.base_dir, min_length=min_length
        )
        if isinstance(found, str):
            self._issue(loc, f"{about}: {found}" if about else found)
            return None
        return found

    def _devices(self, agent: AgentSettings, snmp: SnmpSettings) -> tuple[Device, ...]:
        zones = {name: site.timezone for name, site in self.p.sites.items() if site.timezone}
        written = {name for _, name in self.p.device_names}
        self.issues.extend(duplicate_names("devices", "device", self.p.device_names))
        devices = []
        for index, model in self.p.devices:
            kw = _given(model)
            kw["timezone"] = zones.get(model.site or "", agent.timezone)
            kw["interfaces"] = tuple(kw.get("interfaces", snmp.interfaces))
            devices.append(Device(**kw))
            if model.snmp_auth is not None and model.snmp_auth not in self.p.auth_names:
                defined = ", ".join(sorted(self.p.auth_names)) or "none"
                self._issue(
                    ("devices", index, "snmp_auth"),
                    f"unknown credential set {quote(model.snmp_auth)}; defined: {defined}",
                )
            if model.parent == model.name:
                self._issue(("devices", index, "parent"), "a device cannot be its own parent")
            elif model.parent is not None and model.parent not in written:
                self._issue(
                    ("devices", index, "parent"),
                    f"unknown device {quote(model.parent)}{suggest(model.parent, written)}",
                )
        self.issues.extend(parent_cycles(self.p.devices))
        return tuple(devices)

    def _maintenance(self, devices: tuple[Device, ...]) -> tuple[MaintenanceWindow, ...]:
        known = {
            "devices": {name for _, name in self.p.device_names},
            "owners": {d.owner for d in devices},
            "sites": set(self.p.sites) | {d.site for d in devices if d.site},
        }
        unknown = {
            "devices": "unknown device {}",
            "owners": "no device has owner {}",
            "sites": "no device is at site {} and [sites] does not list it",
        }
        windows = []
        first: dict[str, int] = {}
        for index, model in self.p.maintenance:
            loc: Loc = ("maintenance", index)
            if model.name in first:
                self._issue(
                    (*loc, "name"),
                    f"duplicate maintenance window name {quote(model.name)} "
                    f"(first at maintenance[{first[model.name]}])",
                )
            first.setdefault(model.name, index)
            selectors = {key: tuple(getattr(model, key) or ()) for key in known}
            if not any(selectors.values()) and self._ok(loc, *known):
                self._issue(loc, "no selector: give at least one of devices, owners or sites")
            for key, values in selectors.items():
                for i, value in enumerate(values):
                    if value not in known[key]:
                        message = unknown[key].format(quote(value)) + suggest(value, known[key])
                        self._issue((*loc, key, i), message)
            if self._ok(loc, "weekly", "start", "end"):
                self.issues.extend(maintenance_time_rules(loc, model))
            weekly = model.weekly
            windows.append(
                MaintenanceWindow(
                    name=model.name,
                    devices=frozenset(selectors["devices"]),
                    owners=frozenset(selectors["owners"]),
                    sites=frozenset(selectors["sites"]),
                    start=model.start,
                    end=model.end,
                    weekdays=frozenset(WEEKDAYS.index(d) for d in weekly.days)
                    if weekly
                    else frozenset(),
                    start_time=weekly.start if weekly else None,
                    duration=timedelta(minutes=weekly.duration_minutes) if weekly else None,
                    timezone=model.timezone,
                )
            )
        return tuple(windows)

    def _alertmanager(self) -> AlertmanagerSettings:
        model = self.p.alertmanager
        if model is None:
            return AlertmanagerSettings()
        token = self._secret(model.token, ("alertmanager", "token"), min_length=16)
        if model.device_label is None:
            return AlertmanagerSettings(token=token)
        return AlertmanagerSettings(token=token, device_label=model.device_label)

    def _users(self) -> tuple[User, ...]:
        self.issues.extend(duplicate_names("users", "user", self.p.user_names))
        users = []
        token_owner: dict[str, int] = {}
        for index, model in self.p.users:
            loc: Loc = ("users", index)
            if model.role == "perangkat_daerah" and model.owner is None and self._ok(loc, "owner"):
                self._issue((*loc, "owner"), 'missing: required for role "perangkat_daerah"')
            if model.role != "perangkat_daerah" and model.owner is not None:
                self._issue(
                    (*loc, "owner"),
                    f'only used with role "perangkat_daerah", not {quote(model.role)}',
                )
            if not (model.token or model.password_hash or model.telegram_chat_id or model.email):
                continue  # reported by the schema, or a channel key was rejected
            token = self._secret(model.token, (*loc, "token"), min_length=TOKEN_MIN_LENGTH,
                                 about=f"user {quote(model.name)}")
            password = self._secret(model.password_hash, (*loc, "password_hash"))
            if password is not None and not is_password_hash(password.reveal()):
                self._issue((*loc, "password_hash"), f"expected {FORMAT_HINT}; store the hash "
                                                      "of the password, never the password")
                password = None
            if (token is None) == (model.token is not None) or (
                    password is None) == (model.password_hash is not None):
                continue  # a secret that did not resolve was reported by _secret
            if token is not None:
                same = token_owner.setdefault(token.reveal(), index)
                if same != index:
                    self._issue((*loc, "token"),
                                f"the same token as users[{same}]; give each user their own")
            users.append(User(name=model.name, role=model.role, token=token, owner=model.owner,
                              password_hash=password, full_name=model.full_name,
                              nip=model.nip, jabatan=model.jabatan,
                              telegram_chat_id=model.telegram_chat_id, email=model.email,
                              language=model.language or DEFAULT_LANG))
        return tuple(users)

    def _web(self) -> WebSettings:
        model = self.p.web
        if model is None:
            return WebSettings()
        kw = _given(model)
        kw.pop("session_key", None)
        if "kop" in kw:
            kw["kop"] = tuple(kw["kop"])
        if "base_url" in kw:
            kw["base_url"] = kw["base_url"].rstrip("/")
        key = self._secret(model.session_key, ("web", "session_key"), min_length=32)
        return WebSettings(session_key=key, **kw)

