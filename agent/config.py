"""TOML → frozen Config: every key, every default, every cross-field rule.

The frozen dataclasses below are the configuration the rest of pantau sees. `load()` reads
the file with tomllib, validates it with the pydantic models in `agent/config_schema.py`
(unknown keys are errors), collects every problem with its dotted key path and line, and
raises one ConfigError, or returns a Config. `pantau check-config` runs exactly this path.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from agent.config_schema import (
    WEEKDAYS,
    Issue,
    Loc,
    MaintenanceModel,
    Parsed,
    SecretRef,
    SnmpAuthModel,
    number,
    parse_sla,
    quote,
    snmp_auth_rules,
    split_listen,
    suggest,
    validate_document,
)
from agent.errors import ConfigError, ConfigProblem
from agent.model import Device, Secret
from agent.web.passwords import FORMAT_HINT, is_password_hash
from ticketing.calendar import NO_SUCH_FILE, load_overrides
from ticketing.sop import SOP_006, Sla, Sop

if sys.version_info >= (3, 11):  # noqa: UP036 - SPEC §1 keeps tomli where tomllib is missing
    import tomllib
else:  # pragma: no cover - the tomli backport for older Pythons
    import tomli as tomllib


@dataclass(frozen=True, slots=True)
class AgentSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9806
    database: str = "sqlite:///pantau.db"
    timezone: str = "Asia/Jakarta"  # default zone for sites and maintenance windows
    log_level: str = "INFO"


@dataclass(frozen=True, slots=True)
class PollingSettings:
    interval_seconds: float = 30.0
    timeout_seconds: float = 2.0
    down_after: int = 3  # consecutive failed results before DOWN (hard)
    up_after: int = 2  # consecutive good results before UP again
    retry_interval_seconds: float = 10.0  # quick re-check while a state is soft
    max_in_flight: int = 1000  # checks running at once, all devices together


@dataclass(frozen=True, slots=True)
class IcmpSettings:
    count: int = 5  # echo requests per device per cycle
    spacing_seconds: float = 0.02  # between the echoes to one device
    privileged: str = "auto"  # "auto" | "yes" | "no"


@dataclass(frozen=True, slots=True)
class FlappingSettings:
    """Icinga's flap detection: weighted share of state changes over the last `window` results."""

    enabled: bool = True
    window: int = 21
    high_percent: float = 30.0  # start flapping above this
    low_percent: float = 25.0  # stop flapping below this


@dataclass(frozen=True, slots=True)
class SnmpAuth:
    name: str
    version: str  # "1" | "2c" | "3"
    community: Secret | None = None
    username: str | None = None
    auth_protocol: str = "none"  # none | md5 | sha | sha224 | sha256 | sha384 | sha512
    auth_key: Secret | None = None
    priv_protocol: str = "none"  # none | des | 3des | aes128 | aes192 | aes256
    priv_key: Secret | None = None
    context: str = ""


@dataclass(frozen=True, slots=True)
class SnmpSettings:
    timeout_seconds: float = 1.0  # per request; x (retries + 1) fits in polling.timeout_seconds
    retries: int = 0
    max_repetitions: int = 25
    max_oids_per_request: int = 10
    interfaces: tuple[str, ...] = ()  # default monitored interface patterns (fnmatch)
    auth: Mapping[str, SnmpAuth] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A period in which matching devices raise no ticket.

    One-off: `start`/`end` are aware datetimes. Weekly: `weekdays` (0=Monday), `start_time`
    and `duration`, evaluated in `timezone` (or, when None, each device's own zone).
    A window matches a device named in `devices`, owned by one of `owners`, or at one of
    `sites`.
    """

    name: str
    devices: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    weekdays: frozenset[int] = frozenset()
    start_time: time | None = None
    duration: timedelta | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str  # perangkat_daerah | kepala_dinas | kabid | kasi | teknisi | admin
    token: Secret | None = None  # the API's bearer token (at least one of token and password)
    owner: str | None = None  # only for perangkat_daerah
    password_hash: Secret | None = None  # the pages' sign-in, from `pantau hash-password`


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The pages: the session cookie and the letterhead of the printable output documents."""

    session_key: Secret | None = None  # None: a random key per start (sign-ins end on restart)
    session_hours: float = 12.0  # a sign-in lasts this long
    secure_cookie: bool = False  # True behind HTTPS (a TLS proxy): the cookie is never sent
    # over plain HTTP
    kop: tuple[str, ...] = (
        "PEMERINTAH KOTA BOGOR",
        "DINAS KOMUNIKASI, INFORMATIKA, STATISTIK DAN PERSANDIAN",
        "Jl. Ir. H. Juanda No. 10, Bogor 16121",
    )  # kop surat: the lines of the letterhead, the first the government, the second the office
    city: str = "Bogor"  # the place in "Bogor, 24 November 2026"
    letter_code: str = "555"  # kode klasifikasi arsip (telecommunications)
    letter_unit: str = "Diskominfostandi"  # the office's short name in nomor surat


@dataclass(frozen=True, slots=True)
class AlertmanagerSettings:
    """The webhook at /api/v1/alertmanager: an optional token of its own (accepted there only;
    admin users' tokens are accepted too) and the label that names the device."""

    token: Secret | None = None
    device_label: str = "device"  # then the host part of `instance`


@dataclass(frozen=True, slots=True)
class TicketSettings:
    reopen_window_minutes: int = 60  # a recurrence within this after closing reopens the ticket
    verification_probes: int = 3  # live probes in one verification (the step 7 gate)
    verification_hold_seconds: float = 60.0  # the probes are spread over this; all must pass
    verification_max_age_seconds: float = 600.0  # an older passed verification opens no gate
    sla_sweep_seconds: float = 15.0  # how often open steps are checked for breaches


@dataclass(frozen=True, slots=True)
class SlaSettings:
    """How SLA time is counted; `ticketing.calendar.build_calendar(settings)` makes the Calendar.

    `extra_holidays` and `extra_workdays` come from `holidays_file` (the local override
    file, read and checked when the configuration is loaded).
    """

    calendar: str = "working"  # "working" | "calendar" (24x7)
    timezone: str = "Asia/Jakarta"  # default: agent.timezone
    work_days: frozenset[int] = frozenset(range(5))  # 0 = Monday
    work_start: time = time(7, 30)
    work_end: time = time(16, 0)
    national_holidays: bool = True  # public holidays and cuti bersama from `holidays`
    holidays_file: str | None = None  # as resolved against the configuration file's folder
    extra_holidays: Mapping[date, str] = field(default_factory=dict)
    extra_workdays: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True)
class Config:
    source: str = "<defaults>"
    agent: AgentSettings = field(default_factory=AgentSettings)
    polling: PollingSettings = field(default_factory=PollingSettings)
    icmp: IcmpSettings = field(default_factory=IcmpSettings)
    flapping: FlappingSettings = field(default_factory=FlappingSettings)
    snmp: SnmpSettings = field(default_factory=SnmpSettings)
    devices: tuple[Device, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    users: tuple[User, ...] = ()
    tickets: TicketSettings = field(default_factory=TicketSettings)
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    sop: Sop = SOP_006  # the effective SOP: the built-in one with [sop] overrides applied

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Loading


def load(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and convert the TOML file at `path`.

    Secrets given as `{ file = "PATH" }` are read relative to the file's folder, and
    `{ env = "VAR" }` from `environ` (default: `os.environ`). Raises ConfigError listing every
    problem found, including a missing or unreadable file and TOML syntax errors.
    """
    source = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(source, [ConfigProblem("", "cannot read: no such file")]) from exc
    except OSError as exc:
        problem = ConfigProblem("", f"cannot read: {exc.strerror or exc}")
        raise ConfigError(source, [problem]) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        problem = ConfigProblem(
            "", f"not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset}", line
        )
        raise ConfigError(source, [problem]) from exc
    return loads(text, source=source, base_dir=Path(path).parent, environ=environ)


def loads(
    text: str,
    *,
    source: str = "<string>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate and convert TOML text; `source` names it in problems and in `Config.source`.

    Relative `{ file = ... }` secrets are read from `base_dir` (default: the current folder).
    Raises ConfigError with every problem found, each with its key path and, where it can be
    found in `text`, its line.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [_syntax_problem(str(exc), text)]) from exc
    parsed, issues = validate_document(doc)
    builder = _Builder(
        parsed,
        environ=os.environ if environ is None else environ,
        base_dir=Path.cwd() if base_dir is None else base_dir,
    )
    config = builder.build(source)
    issues.extend(builder.issues)
    if issues:
        lines = _KeyLines(text)
        problems = [ConfigProblem(render_path(i.loc), i.message, lines.find(i.loc)) for i in issues]
        problems.sort(key=lambda p: (p.line is None, p.line or 0))  # stable: file order
        raise ConfigError(source, problems)
    return config


_POSITION_RE = re.compile(
    r"^(?P<msg>.*) \((?:at line (?P<line>\d+), column (?P<col>\d+)|"
    r"at end of document)\)$",
    re.DOTALL,
)


def _syntax_problem(message: str, text: str) -> ConfigProblem:
    match = _POSITION_RE.match(message)
    if match is None:  # pragma: no cover - tomllib always says where
        return ConfigProblem("", f"invalid TOML: {message}")
    what = match["msg"][:1].lower() + match["msg"][1:]
    if match["line"] is None:
        return ConfigProblem(
            "", f"invalid TOML: {what} (at the end of the file)", text.count("\n") + 1
        )
    return ConfigProblem("", f"invalid TOML: {what} (column {match['col']})", int(match["line"]))


def render_path(loc: Loc) -> str:
    """('devices', 2, 'snmp_auth') → "devices[2].snmp_auth"; keys that need it are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY_RE.fullmatch(part) else quote(part)
            out += f".{key}" if out else key
    return out


# ---------------------------------------------------------------------------------------------
# Building the frozen values and checking the rules that span keys and sections


def _given(model: BaseModel | None) -> dict[str, Any]:
    """The keys written in the file (TOML has no null, so a None field was absent)."""
    if model is None:
        return {}
    return {key: getattr(model, key) for key in model.model_fields_set}


class _Builder:
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
        return Config(
            source=source,
            agent=agent,
            polling=polling,
            icmp=IcmpSettings(**_given(self.p.icmp)),
            flapping=flapping,
            snmp=snmp,
            devices=devices,
            maintenance=self._maintenance(devices),
            users=self._users(),
            tickets=TicketSettings(**_given(self.p.tickets)),
            alertmanager=self._alertmanager(),
            web=self._web(),
            sla=self._sla(agent),
            sop=self._sop(),
        )

    def _agent(self) -> AgentSettings:
        kw = _given(self.p.agent)
        listen = kw.pop("listen", None)
        if listen is not None:
            kw["listen_host"], kw["listen_port"] = split_listen(listen) or ("", 0)
        return AgentSettings(**kw)

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
        kw = _given(self.p.sla)
        kw.setdefault("timezone", agent.timezone)
        loc: Loc = ("sla",)
        days = kw.pop("work_days", None)
        if days is not None:
            seen: set[str] = set()
            for index, day in enumerate(days):
                if day in seen:
                    self._issue((*loc, "work_days", index), f"duplicate day {quote(day)}")
                seen.add(day)
            kw["work_days"] = frozenset(WEEKDAYS.index(d) for d in days)
        sla = SlaSettings(**kw)
        if self._ok(loc, "work_start", "work_end") and sla.work_start >= sla.work_end:
            note = {key: "" if key in kw else ", the default" for key in ("work_start", "work_end")}
            self._issue(
                loc,
                f"work_start ({sla.work_start:%H:%M}{note['work_start']}) must be before "
                f"work_end ({sla.work_end:%H:%M}{note['work_end']})",
            )
        if sla.holidays_file is None:
            return sla
        path = self.base_dir / sla.holidays_file
        try:
            extra_holidays, extra_workdays = load_overrides(path)
        except ConfigError as exc:
            if [p.message for p in exc.problems] == [NO_SUCH_FILE]:
                self._issue(
                    (*loc, "holidays_file"), f"holidays file {quote(str(path))} does not exist"
                )
            else:
                for problem in exc.problems:
                    self._issue((*loc, "holidays_file"), f"in {problem.render(str(path))}")
            return sla
        return replace(
            sla,
            holidays_file=str(path),
            extra_holidays=extra_holidays,
            extra_workdays=extra_workdays,
        )

    def _sop(self) -> Sop:
        model = self.p.sop
        if model is None:
            return SOP_006
        if not model.sla:  # a version alone renumbers the built-in steps
            return SOP_006 if model.version is None else replace(SOP_006, version=model.version)
        loc: Loc = ("sop",)
        numbers = [str(step.no) for step in SOP_006.steps]
        slas: dict[int, Sla] = {}
        for key, value in model.sla.items():
            if key not in numbers:
                self._issue(
                    (*loc, "sla", key),
                    f"unknown step {quote(key)}; SOP-{SOP_006.number} has steps "
                    f"{quote(numbers[0])} to {quote(numbers[-1])}",
                )
                continue
            try:
                amount, unit = parse_sla(value)
            except ValueError as exc:
                self._issue((*loc, "sla", key), str(exc))
                continue
            slas[int(key)] = Sla(amount, unit)
        if model.version is None:
            if self._ok(loc, "version"):
                self._issue(
                    (*loc, "version"),
                    "missing: required when [sop.sla] overrides a step (each ticket records "
                    "the SOP version it was opened under)",
                )
            return SOP_006
        if model.version == SOP_006.version:
            self._issue(
                (*loc, "version"),
                f"must differ from the built-in SOP-{SOP_006.number} version "
                f"({SOP_006.version}) when steps are overridden",
            )
        steps = tuple(
            replace(step, sla=slas[step.no]) if step.no in slas else step
            for step in SOP_006.steps
        )
        return replace(SOP_006, version=model.version, steps=steps)

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

    def _secret(self, ref: SecretRef | None, loc: Loc, *, min_length: int = 1) -> Secret | None:
        """Resolve a secret; a problem names the variable or file, never the value."""
        if ref is None:
            return None
        origin = "the value"
        if ref.kind == "literal":
            value = ref.value
        elif ref.kind == "env":
            origin = f"environment variable {ref.value}"
            found = self.environ.get(ref.value)
            if found is None:
                self._issue(loc, f"{origin} is not set")
                return None
            value = found
        else:
            path = self.base_dir / ref.value
            origin = f"secret file {quote(str(path))}"
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._issue(loc, f"{origin} does not exist")
                return None
            except UnicodeDecodeError:
                self._issue(loc, f"{origin} is not UTF-8 text")
                return None
            except OSError as exc:
                self._issue(loc, f"cannot read {origin}: {exc.strerror or type(exc).__name__}")
                return None
            # One trailing newline is what editors and `echo` add; anything more is content.
            value = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
        if not value:
            self._issue(loc, f"{origin} is empty")
            return None
        if len(value) < min_length:
            source = f" (from {origin})" if ref.kind != "literal" else ""
            self._issue(loc, f"must be at least {min_length} characters long{source}")
            return None
        return Secret(value)

    def _devices(self, agent: AgentSettings, snmp: SnmpSettings) -> tuple[Device, ...]:
        zones = {name: site.timezone for name, site in self.p.sites.items() if site.timezone}
        written = {name for _, name in self.p.device_names}
        first: dict[str, int] = {}
        for index, name in self.p.device_names:
            if name in first:
                self._issue(
                    ("devices", index, "name"),
                    f"duplicate device name {quote(name)} (first at devices[{first[name]}])",
                )
            first.setdefault(name, index)
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
        self._parent_cycles()
        return tuple(devices)

    def _parent_cycles(self) -> None:
        """Report each parent cycle once, on the cycle's first device in the file."""
        parent_of: dict[str, str | None] = {}
        index_of: dict[str, int] = {}
        for index, model in self.p.devices:
            parent_of.setdefault(model.name, model.parent)
            index_of.setdefault(model.name, index)
        settled: set[str] = set()  # known to lead to no new cycle
        for start in parent_of:
            chain: list[str] = []
            node: str | None = start
            while node in parent_of and node not in settled and node not in chain:
                chain.append(node)
                node = parent_of[node]
            settled.update(chain)
            if node is None or node not in chain:
                continue
            cycle = chain[chain.index(node) :]
            if len(cycle) == 1:
                continue  # its own parent: reported already
            head = min(range(len(cycle)), key=lambda i: index_of[cycle[i]])
            cycle = cycle[head:] + cycle[:head]
            self._issue(
                ("devices", index_of[cycle[0]], "parent"),
                "parent cycle: " + " -> ".join([*cycle, cycle[0]]),
            )

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
                self._maintenance_time(loc, model)
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

    def _maintenance_time(self, loc: Loc, model: MaintenanceModel) -> None:
        once = model.start is not None or model.end is not None
        if model.weekly is not None:
            if once:
                self._issue(loc, "give either weekly or start and end, not both")
        elif not once:
            self._issue(loc, "no time: give weekly = { ... } or start and end")
        elif model.start is None:
            self._issue((*loc, "start"), "missing: required with end")
        elif model.end is None:
            self._issue((*loc, "end"), "missing: required with start")
        elif model.end <= model.start:
            self._issue(
                (*loc, "end"),
                f"must be after start ({model.start.isoformat()}), got {model.end.isoformat()}",
            )

    def _alertmanager(self) -> AlertmanagerSettings:
        model = self.p.alertmanager
        if model is None:
            return AlertmanagerSettings()
        token = self._secret(model.token, ("alertmanager", "token"), min_length=16)
        if model.device_label is None:
            return AlertmanagerSettings(token=token)
        return AlertmanagerSettings(token=token, device_label=model.device_label)

    def _users(self) -> tuple[User, ...]:
        first: dict[str, int] = {}
        for index, name in self.p.user_names:
            if name in first:
                self._issue(
                    ("users", index, "name"),
                    f"duplicate user name {quote(name)} (first at users[{first[name]}])",
                )
            first.setdefault(name, index)
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
            if model.token is None and model.password_hash is None:
                continue  # reported by the schema
            token = self._secret(model.token, (*loc, "token"))
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
                              password_hash=password))
        return tuple(users)

    def _web(self) -> WebSettings:
        model = self.p.web
        if model is None:
            return WebSettings()
        kw = _given(model)
        kw.pop("session_key", None)
        if "kop" in kw:
            kw["kop"] = tuple(kw["kop"])
        key = self._secret(model.session_key, ("web", "session_key"), min_length=32)
        return WebSettings(session_key=key, **kw)


# ---------------------------------------------------------------------------------------------
# Lines: tomllib reports no positions, so find each key path's line in the text


_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


class _KeyLines:
    """The 1-based line where each key path (with array-of-tables indexes) first appears.

    `find()` falls back to the nearest enclosing path that has a line: a key inside an
    inline table or a multi-line array is reported at the line of the key that holds it,
    a missing key at its table's header.
    """

    def __init__(self, text: str) -> None:
        self._at: dict[Loc, int] = {}
        self._arrays: dict[Loc, int] = {}  # array-of-tables path → tables seen so far
        table: Loc = ()
        depth, multiline = 0, ""
        for lineno, line in enumerate(text.split("\n"), start=1):  # as tomllib counts
            if depth > 0 or multiline:  # continuation of a multi-line array or string
                depth, multiline = _scan(line, 0, depth, multiline)
                continue
            stripped = line.lstrip()
            start = len(line) - len(stripped)
            if stripped.startswith("[["):
                parts, _ = _read_key(line, start + 2)
                path = (*self._resolve(parts[:-1]), *parts[-1:])
                self._arrays[path] = self._arrays.get(path, 0) + 1
                table = (*path, self._arrays[path] - 1)
                self._record(table, lineno)
            elif stripped.startswith("["):
                parts, _ = _read_key(line, start + 1)
                table = self._resolve(parts)
                self._record(table, lineno)
            elif stripped and not stripped.startswith("#"):
                parts, end = _read_key(line, start)
                if parts:
                    self._record((*table, *parts), lineno)
                    equals = line.find("=", end)
                    depth, multiline = _scan(line, equals + 1, 0, "")

    def _resolve(self, parts: list[str]) -> Loc:
        path: Loc = ()
        for part in parts:
            path = (*path, part)
            if path in self._arrays:  # [a.b] under [[a]] means the last table of a
                path = (*path, self._arrays[path] - 1)
        return path

    def _record(self, loc: Loc, line: int) -> None:
        for n in range(1, len(loc) + 1):
            self._at.setdefault(loc[:n], line)

    def find(self, loc: Loc) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self._at:
                return self._at[loc[:n]]
        return None


def _read_key(line: str, i: int) -> tuple[list[str], int]:
    """Parse a (dotted, maybe quoted) key at `line[i:]`; return its parts and the end index."""
    parts: list[str] = []
    while True:
        while i < len(line) and line[i] in " \t":
            i += 1
        if line.startswith('"', i) and (m := _BASIC_STRING_RE.match(line, i)):
            try:
                parts.append(json.loads(m.group(0)))
            except ValueError:  # a TOML-only escape: close enough for finding a line
                parts.append(m.group(1))
            i = m.end()
        elif line.startswith("'", i) and (end := line.find("'", i + 1)) >= 0:
            parts.append(line[i + 1 : end])
            i = end + 1
        elif m := _BARE_KEY_RE.match(line, i):
            parts.append(m.group(0))
            i = m.end()
        else:
            return parts, i
        while i < len(line) and line[i] in " \t":
            i += 1
        if not line.startswith(".", i):
            return parts, i
        i += 1


def _scan(line: str, i: int, depth: int, multiline: str) -> tuple[int, str]:
    """Follow a value through `line`: bracket depth and an open multi-line string, if any."""
    while i < len(line):
        if multiline:
            end = line.find(multiline, i)
            if end < 0:
                return depth, multiline
            i, multiline = end + 3, ""
            continue
        char = line[i]
        if char == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            multiline = line[i : i + 3]
            i += 3
            continue
        if char == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif char == "'":
            end = line.find("'", i + 1)
            i = end if end >= 0 else len(line)
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        i += 1
    return depth, multiline
