"""The frozen configuration values, section by section, as the rest of pantau sees them.

`agent.config` reads and checks the TOML file and builds these; collectors and ticketing
take them without importing the loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from agent.core.model import Secret


@dataclass(frozen=True, slots=True)
class AgentSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9806
    database: str = "sqlite:///pantau.db"
    # observations not yet stored (agent/journal.py); beside the database file by default
    journal: str = "pantau-observations.db"
    timezone: str = "Asia/Jakarta"  # default zone for sites and maintenance windows
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024  # a larger request body gets a 413
    metrics_token: Secret | None = None  # None: /metrics is open; else bearer or basic auth


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
class TrapSettings:
    """`[traps]`: the SNMP notification receiver (present only when the section is).

    Rates are datagrams per second (token buckets); `confirm_after` is how many failing
    (or, after a linkUp, good) results of a trap-announced interface make its state hard
    instead of `down_after` (`up_after`); `ring_size` how many other notifications are kept
    per device for its page and the API, newest first.
    """

    listen_host: str = "0.0.0.0"
    listen_port: int = 162
    per_device_per_second: float = 20.0
    per_device_burst: int = 100
    overall_per_second: float = 1000.0
    match_agent_address: bool = False  # also match a device by a v1 agent-addr / varbind
    confirm_after: int = 1
    ring_size: int = 50


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """`[cluster]` with `enabled = true`: this agent is one member of several sharing one
    PostgreSQL. A member is live while its lease (renewed every heartbeat) is fresh."""

    node: str = ""  # unique among the members
    address: str = ""  # where the others and operators reach it; default: [agent] listen
    heartbeat_seconds: float = 5.0  # agent/config/cluster.py has the same default
    lease_seconds: float = 15.0  # default 3 x heartbeat_seconds


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """`[reports]`: last month's report written as files on the 1st (by the leader)."""

    directory: str  # absolute (a relative one is read from the config file's folder)
    formats: tuple[str, ...] = ("pdf", "csv", "json")
    lang: str = "id"
    signer: str | None = None  # a user's name; default: the first kepala_dinas user


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
    full_name: str | None = None  # as messages and letters address the person
    nip: str | None = None  # Nomor Induk Pegawai (18 digits), under a letter's signature
    jabatan: str | None = None  # the position, under a letter's signature
    telegram_chat_id: str | None = None  # digits, "-digits" (a group) or "@channelname"
    email: str | None = None  # a bare address: local@domain
    language: str = "id"  # of the messages sent to this user: "id" | "en"


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The pages: the session cookie and the letterhead of the printable output documents."""

    session_key: Secret | None = None  # None: a random key per start (sign-ins end on restart)
    session_hours: float = 12.0  # a sign-in ends this long after it began (hard lifetime)
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
    # The pages' public address, without a trailing "/": links in notifications are made
    # from it. None: messages carry no link.
    base_url: str | None = None


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
    sla_sweep_seconds: float = 15.0  # how often open steps are checked for breaches, warnings


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
