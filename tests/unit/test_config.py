"""Configuration loading: TOML → frozen Config, defaults, secrets, and every problem reported."""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.check_config import check_config
from agent.config import (
    AgentSettings,
    Config,
    FlappingSettings,
    IcmpSettings,
    MaintenanceWindow,
    PollingSettings,
    SlaSettings,
    SnmpAuth,
    SnmpSettings,
    TicketSettings,
    User,
    load,
    loads,
)
from agent.config.problems import translate
from agent.core.errors import ConfigError, ConfigProblem
from agent.core.model import Device, Secret
from ticketing.sop import SOP_006, Sla

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "data" / "config" / "bad"
EXAMPLE = REPO / "examples" / "pantau.example.toml"

# The environment the bad files are checked under (see env_secret_missing.toml).
BAD_ENV = {
    "PANTAU_SNMP_AUTH": "authkey-123",
    "PANTAU_SHORT": "short",
    "PANTAU_TOKEN_BUDI": "token-budi-0001-0123456789abcdef01",
}
EXAMPLE_ENV = {
    "PANTAU_SNMP_COMMUNITY": "community-1",
    "PANTAU_SNMP_AUTH": "auth-key-1",
    "PANTAU_SNMP_PRIV": "priv-key-1",
    "PANTAU_TOKEN_BUDI": "token-1-0123456789abcdef0123456789",
    "PANTAU_TOKEN_SARI": "token-2-0123456789abcdef0123456789",
    "PANTAU_TOKEN_ANDI": "token-3-0123456789abcdef0123456789",
    "PANTAU_PASSWORD_HASH_BUDI": "scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA==$"
                                 "YmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmE=",
}

WIB = timezone(timedelta(hours=7))
KEY = "abcdefgh" * 4  # a user token is at least 32 characters
INJECTED = "injected-0123456789abcdef01234567"

FULL = """
[agent]
listen = "[::1]:9900"
database = "postgresql://pantau@db.example.invalid/pantau"
timezone = "Asia/Makassar"
log_level = "debug"

[polling]
interval_seconds = 60
timeout_seconds = 5
down_after = 4
up_after = 3
retry_interval_seconds = 15
max_in_flight = 200

[icmp]
count = 3
spacing_seconds = 0.5
privileged = "no"

[flapping]
enabled = false
window = 11
high_percent = 40
low_percent = 20.5

[snmp]
timeout_seconds = 1.5
retries = 2
max_repetitions = 50
max_oids_per_request = 5
interfaces = ["uplink*", "Gi0/0/*"]

[snmp.auth.default]
version = "2c"
community = "c0mmunity-literal"

[snmp.auth.core_v3]
version = "3"
username = "pantau"
auth_protocol = "sha256"
auth_key = { env = "PANTAU_SNMP_AUTH" }
priv_protocol = "aes128"
priv_key = { file = "secrets/priv" }
context = "vrf-1"

[sites."Gedung A"]
timezone = "Asia/Jayapura"

[sites."Gedung B"]

[[devices]]
name = "core-balaikota"
address = "127.0.0.1"
owner = "Diskominfo"
snmp_auth = "core_v3"
snmp_port = 1161

[[devices]]
name = "sw-dinkes-01"
address = "sw-dinkes-01.example.invalid"
owner = "Dinas Kesehatan"
site = "Gedung A"
snmp_auth = "default"
parent = "core-balaikota"
interfaces = ["ether1"]

[[devices]]
name = "ap-dinkes"
address = "::1"
owner = "Dinas Kesehatan"
site = "Gedung B"
parent = "sw-dinkes-01"

[[maintenance]]
name = "weekly-core"
devices = ["core-balaikota"]
weekly = { days = ["sat", "sun"], start = "22:00", duration_minutes = 240 }
timezone = "Asia/Jakarta"

[[maintenance]]
name = "migration"
owners = ["Dinas Kesehatan"]
sites = ["Gedung A"]
start = 2026-12-01T22:00:00+07:00
end = 2026-12-02T02:00:00+07:00

[[users]]
name = "budi"
role = "kasi"
token = { env = "PANTAU_TOKEN_BUDI" }

[[users]]
name = "sari"
role = "perangkat_daerah"
owner = "Dinas Kesehatan"
token = "token-sari-literal-0123456789abcdef"
"""

FULL_ENV = {"PANTAU_SNMP_AUTH": "auth-from-env",
            "PANTAU_TOKEN_BUDI": "token-budi-env-0123456789abcdef01"}


def problems_of(text: str, **kwargs: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        loads(text, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def rendered(text: str, **kwargs: object) -> list[str]:
    return [p.render("t.toml") for p in problems_of(text, **kwargs)]


@pytest.fixture
def full_config(tmp_path: Path) -> Config:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "priv").write_text("priv-from-file\n", encoding="utf-8")
    path = tmp_path / "pantau.toml"
    path.write_text(FULL, encoding="utf-8")
    return load(path, environ=FULL_ENV)


class TestFullFile:
    """A file that sets every key loads into exactly those frozen values."""

    def test_agent(self, full_config: Config) -> None:
        assert full_config.agent == AgentSettings(
            listen_host="::1",
            listen_port=9900,
            database="postgresql://pantau@db.example.invalid/pantau",
            timezone="Asia/Makassar",
            log_level="DEBUG",
        )

    def test_polling_icmp_flapping(self, full_config: Config) -> None:
        assert full_config.polling == PollingSettings(
            interval_seconds=60,
            timeout_seconds=5,
            down_after=4,
            up_after=3,
            retry_interval_seconds=15,
            max_in_flight=200,
        )
        assert full_config.icmp == IcmpSettings(count=3, spacing_seconds=0.5, privileged="no")
        assert full_config.flapping == FlappingSettings(
            enabled=False, window=11, high_percent=40, low_percent=20.5
        )

    def test_snmp(self, full_config: Config) -> None:
        snmp = full_config.snmp
        assert (snmp.timeout_seconds, snmp.retries, snmp.max_repetitions) == (1.5, 2, 50)
        assert snmp.max_oids_per_request == 5
        assert snmp.interfaces == ("uplink*", "Gi0/0/*")
        assert list(snmp.auth) == ["default", "core_v3"]
        assert snmp.auth["default"] == SnmpAuth(
            name="default", version="2c", community=Secret("c0mmunity-literal")
        )
        assert snmp.auth["core_v3"] == SnmpAuth(
            name="core_v3",
            version="3",
            username="pantau",
            auth_protocol="sha256",
            auth_key=Secret("auth-from-env"),
            priv_protocol="aes128",
            priv_key=Secret("priv-from-file"),
            context="vrf-1",
        )

    def test_devices(self, full_config: Config) -> None:
        assert full_config.devices == (
            Device(
                name="core-balaikota",
                address="127.0.0.1",
                owner="Diskominfo",
                timezone="Asia/Makassar",
                snmp_auth="core_v3",
                snmp_port=1161,
                interfaces=("uplink*", "Gi0/0/*"),
            ),
            Device(
                name="sw-dinkes-01",
                address="sw-dinkes-01.example.invalid",
                owner="Dinas Kesehatan",
                site="Gedung A",
                timezone="Asia/Jayapura",
                snmp_auth="default",
                parent="core-balaikota",
                interfaces=("ether1",),
            ),
            Device(
                name="ap-dinkes",
                address="::1",
                owner="Dinas Kesehatan",
                site="Gedung B",
                timezone="Asia/Makassar",
                parent="sw-dinkes-01",
                interfaces=("uplink*", "Gi0/0/*"),
            ),
        )
        assert full_config.device("ap-dinkes").parent == "sw-dinkes-01"

    def test_maintenance(self, full_config: Config) -> None:
        assert full_config.maintenance == (
            MaintenanceWindow(
                name="weekly-core",
                devices=frozenset({"core-balaikota"}),
                weekdays=frozenset({5, 6}),
                start_time=time(22, 0),
                duration=timedelta(minutes=240),
                timezone="Asia/Jakarta",
            ),
            MaintenanceWindow(
                name="migration",
                owners=frozenset({"Dinas Kesehatan"}),
                sites=frozenset({"Gedung A"}),
                start=datetime(2026, 12, 1, 22, 0, tzinfo=WIB),
                end=datetime(2026, 12, 2, 2, 0, tzinfo=WIB),
            ),
        )

    def test_users(self, full_config: Config) -> None:
        assert full_config.users == (
            User(name="budi", role="kasi", token=Secret("token-budi-env-0123456789abcdef01")),
            User(
                name="sari",
                role="perangkat_daerah",
                owner="Dinas Kesehatan",
                token=Secret("token-sari-literal-0123456789abcdef"),
            ),
        )

    def test_source_is_the_path_given(self, full_config: Config, tmp_path: Path) -> None:
        assert full_config.source == str(tmp_path / "pantau.toml")

    def test_values_are_frozen(self, full_config: Config) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            full_config.polling.interval_seconds = 1  # type: ignore[misc]
        with pytest.raises(TypeError):
            full_config.snmp.auth["x"] = full_config.snmp.auth["default"]  # type: ignore[index]


class TestDefaults:
    """Absent sections and keys take the dataclasses' defaults."""

    def test_empty_file_is_the_default_config(self) -> None:
        assert loads("", source="empty.toml") == Config(source="empty.toml")

    def test_partial_section_keeps_other_defaults(self) -> None:
        config = loads("[polling]\ndown_after = 5\n")
        assert config.polling == PollingSettings(down_after=5)
        assert config.snmp == SnmpSettings()

    def test_device_defaults(self) -> None:
        config = loads('[[devices]]\nname = "a"\naddress = "127.0.0.1"\nowner = "X"\n')
        assert config.devices == (Device(name="a", address="127.0.0.1", owner="X"),)

    def test_v3_protocols_default_to_none(self) -> None:
        config = loads('[snmp.auth.u]\nversion = "3"\nusername = "pantau"\n')
        assert config.snmp.auth["u"] == SnmpAuth(name="u", version="3", username="pantau")


class TestRetryInterval:
    """retry_interval_seconds defaults to a third of the interval, between 1 and 10 s."""

    @pytest.mark.parametrize(
        ("interval", "expected"),
        [(2, 1.0), (6, 2.0), (15, 5.0), (30, 10.0), (60, 10.0)],
    )
    def test_default_follows_interval(self, interval: float, expected: float) -> None:
        config = loads(f"[polling]\ninterval_seconds = {interval}\ntimeout_seconds = 1\n")
        assert config.polling.retry_interval_seconds == expected

    def test_explicit_value_is_kept(self) -> None:
        config = loads("[polling]\ninterval_seconds = 60\nretry_interval_seconds = 30\n")
        assert config.polling.retry_interval_seconds == 30

    def test_longer_than_interval_is_a_problem(self) -> None:
        assert rendered("[polling]\ninterval_seconds = 20\nretry_interval_seconds = 30\n") == [
            "t.toml:1: polling: retry_interval_seconds (30) must not exceed interval_seconds (20)"
        ]


class TestTicketSections:
    """[tickets], [sla] and [sop] load into TicketSettings, SlaSettings and the effective SOP."""

    def test_defaults(self) -> None:
        config = loads('[agent]\ntimezone = "Asia/Makassar"\n')
        assert config.tickets == TicketSettings()
        assert config.sla == SlaSettings(timezone="Asia/Makassar")  # follows agent.timezone
        assert config.sop is SOP_006
        assert Config().sla.work_days == frozenset({0, 1, 2, 3, 4})

    def test_every_key(self, tmp_path: Path) -> None:
        (tmp_path / "libur").mkdir()
        (tmp_path / "libur" / "bogor.toml").write_text(
            '[[holiday]]\ndate = 2026-06-03\nname = "Hari Jadi Kota Bogor"\n'
            '[[workday]]\ndate = 2026-06-06\nname = "Sabtu pengganti"\n',
            encoding="utf-8",
        )
        path = tmp_path / "pantau.toml"
        path.write_text(
            "[tickets]\nreopen_window_minutes = 0\nverification_probes = 5\n"
            "verification_hold_seconds = 30\nverification_max_age_seconds = 120.5\n"
            "sla_sweep_seconds = 5\n"
            '[sla]\ncalendar = "calendar"\ntimezone = "Asia/Jayapura"\n'
            'work_days = ["sat", "mon"]\nwork_start = 08:00:00\nwork_end = "17:30"\n'
            'national_holidays = false\nholidays_file = "libur/bogor.toml"\n'
            '[sop]\nversion = 2\n[sop.sla]\n"5" = "2 hours"\n"9" = " 1 minute "\n'
            '"2" = "3 days"\n',
            encoding="utf-8",
        )
        config = load(path)
        assert config.tickets == TicketSettings(
            reopen_window_minutes=0,
            verification_probes=5,
            verification_hold_seconds=30,
            verification_max_age_seconds=120.5,
            sla_sweep_seconds=5,
        )
        assert config.sla == SlaSettings(
            calendar="calendar",
            timezone="Asia/Jayapura",
            work_days=frozenset({5, 0}),
            work_start=time(8, 0),
            work_end=time(17, 30),
            national_holidays=False,
            holidays_file=str(tmp_path / "libur" / "bogor.toml"),
            extra_holidays={date(2026, 6, 3): "Hari Jadi Kota Bogor"},
            extra_workdays=frozenset({date(2026, 6, 6)}),
        )
        assert config.sop.version == 2
        assert [step.sla for step in config.sop.steps] == [
            Sla(1, "day"),
            Sla(3, "day"),
            Sla(1, "day"),
            Sla(1, "day"),
            Sla(2, "hour"),
            Sla(1, "day"),
            Sla(10, "minute"),
            Sla(10, "minute"),
            Sla(1, "minute"),
        ]
        assert config.sop.steps[4] == dataclasses.replace(SOP_006.steps[4], sla=Sla(2, "hour"))

    def test_version_alone_renumbers_the_built_in_steps(self) -> None:
        sop = loads("[sop]\nversion = 3\n").sop
        assert (sop.version, sop.steps) == (3, SOP_006.steps)

    def test_problems_in_several_sections_at_once(self) -> None:
        text = (
            '[sla]\nwork_end = "07:00"\n'
            '[sop.sla]\n"1" = "1 week"\n'
            "[tickets]\nsla_sweep_seconds = 0\n"
        )
        assert rendered(text) == [
            "t.toml:1: sla: work_start (07:30, the default) must be before work_end (07:00)",
            't.toml:3: sop.version: missing: required when [sop.sla] overrides a step (each '
            "ticket records the SOP version it was opened under)",
            't.toml:4: sop.sla.1: expected "<n> day(s)", "<n> hour(s)" or "<n> minute(s)" '
            'such as "2 hours", got "1 week"',
            "t.toml:6: tickets.sla_sweep_seconds: must be greater than 0, got 0",
        ]


class TestSiteTimezone:
    """A device's zone is its listed site's zone, else agent.timezone."""

    def test_zones(self) -> None:
        config = loads(
            """
            [agent]
            timezone = "Asia/Makassar"
            [sites.timur]
            timezone = "Asia/Jayapura"
            [sites.barat]
            [[devices]]
            name = "at-timur"
            address = "127.0.0.1"
            owner = "X"
            site = "timur"
            [[devices]]
            name = "at-barat"
            address = "127.0.0.2"
            owner = "X"
            site = "barat"
            [[devices]]
            name = "unlisted-site"
            address = "127.0.0.3"
            owner = "X"
            site = "elsewhere"
            [[devices]]
            name = "no-site"
            address = "127.0.0.4"
            owner = "X"
            """
        )
        zones = {d.name: d.timezone for d in config.devices}
        assert zones == {
            "at-timur": "Asia/Jayapura",
            "at-barat": "Asia/Makassar",
            "unlisted-site": "Asia/Makassar",
            "no-site": "Asia/Makassar",
        }


class TestSecrets:
    """Secrets come from literals, the environment or files, and never print."""

    def test_file_is_relative_to_the_config_folder(self, tmp_path: Path) -> None:
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "token").write_text("from-file-0123456789abcdef01234567\n",
                                                 encoding="utf-8")
        path = tmp_path / "conf" / "pantau.toml"
        path.write_text(
            '[[users]]\nname = "a"\nrole = "admin"\ntoken = { file = "token" }\n',
            encoding="utf-8",
        )
        assert load(path).users[0].token == Secret("from-file-0123456789abcdef01234567")

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            (f"{KEY}\n", KEY),
            (f"{KEY}\r\n", KEY),
            (f"{KEY}\n\n", f"{KEY}\n"),
            (KEY, KEY),
            (f" {KEY} \n", f" {KEY} "),
        ],
    )
    def test_one_trailing_newline_is_stripped(
        self, tmp_path: Path, content: str, expected: str
    ) -> None:
        (tmp_path / "key").write_bytes(content.encode())
        text = '[[users]]\nname = "a"\nrole = "admin"\ntoken = { file = "key" }\n'
        assert loads(text, base_dir=tmp_path).users[0].token == Secret(expected)

    def test_env_comes_from_the_given_mapping(self, monkeypatch: pytest.MonkeyPatch) -> None:
        text = '[[users]]\nname = "a"\nrole = "admin"\ntoken = { env = "PANTAU_T" }\n'
        monkeypatch.setenv("PANTAU_T", "from-process-env-0123456789abcdef")
        assert loads(text).users[0].token == Secret("from-process-env-0123456789abcdef")
        assert loads(text, environ={"PANTAU_T": INJECTED}).users[0].token == Secret(INJECTED)

    def test_repr_shows_placeholders(self, full_config: Config) -> None:
        text = repr(full_config) + str(full_config)
        assert "<secret>" in text
        for value in ("c0mmunity-literal", "auth-from-env", "priv-from-file", "token-sari"):
            assert value not in text


# Secret values planted in every way a file can get them wrong; none may be printed.
LEAKY = """
[snmp.auth.a]
version = "2c"
community = 87654321

[snmp.auth.b]
version = "2c"
community = ["LEAK-array-community"]

[snmp.auth.c]
version = "3"
username = "u"
auth_protocol = "sha"
auth_key = "LEAK-s"
priv_protocol = "none"
priv_key = "LEAK-priv-without-protocol"

[snmp.auth.d]
version = "2c"
comunity = "LEAK-typo-key"

[snmp.auth.e]
version = "3"
username = "u"
auth_protocol = "md5"
auth_key = { env = "PANTAU_SHORT_KEY" }
priv_protocol = "des"
priv_key = { file = "short" }

[snmp.auth.f]
version = "3"
community = "LEAK-community-on-v3"
username = "u"

[snmp.auth.g]
version = "2c"
community = { env = "PANTAU_X", extra = "LEAK-in-table" }

[[users]]
name = "a"
role = "admin"
token = "LEAK-shared-token-0123456789abcdef"

[[users]]
name = "b"
role = "admin"
token = "LEAK-shared-token-0123456789abcdef"

[[users]]
name = "c"
role = "admin"
token = { file = "LEAK" }
owner = 12

[[users]]
name = "d"
role = "admin"
token = { env = "PANTAU_MISSING" }
"""


class TestNoSecretLeak:
    """No problem message ever contains a secret value."""

    def test_no_value_in_any_message(self, tmp_path: Path) -> None:
        (tmp_path / "short").write_text("LEAK-f\n", encoding="utf-8")
        (tmp_path / "LEAK").mkdir()
        environ = {"PANTAU_SHORT_KEY": "LEAK-e"}
        problems = problems_of(LEAKY, base_dir=tmp_path, environ=environ)
        paths = {p.path for p in problems}
        # Each planted mistake is reported...
        assert {
            "snmp.auth.a.community",
            "snmp.auth.b.community",
            "snmp.auth.c.auth_key",
            "snmp.auth.c.priv_key",
            "snmp.auth.d.comunity",
            "snmp.auth.e.auth_key",
            "snmp.auth.e.priv_key",
            "snmp.auth.f.community",
            "snmp.auth.g.community",
            "users[1].token",
            "users[2].token",
            "users[3].token",
        } <= paths
        # ...and no message shows a value.
        text = "\n".join(p.render("x") for p in problems)
        assert "LEAK-" not in text
        assert "87654321" not in text

    def test_check_config_output_has_no_value(self, tmp_path: Path) -> None:
        path = tmp_path / "leaky.toml"
        path.write_text(LEAKY, encoding="utf-8")
        (tmp_path / "short").write_text("LEAK-f", encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ={"PANTAU_SHORT_KEY": "LEAK-e"}) == 2
        assert "LEAK-" not in out.getvalue()
        assert "87654321" not in out.getvalue()

    def test_safety_net_for_a_secret_key_typed_as_plain_string(self) -> None:
        # Should a secret ever be declared as a plain `str`, type errors still hide its value.
        class Plain(BaseModel):
            model_config = ConfigDict(strict=True)
            token: str
            count: int

        with pytest.raises(ValidationError) as info:
            Plain.model_validate({"token": 98765432, "count": "12345"})
        messages = [i.message for i in translate(info.value, ("itsm",), Plain)]
        assert messages == [
            "expected a string, got an integer",
            'expected an integer, got the string "12345"',
        ]

    def test_database_password_is_not_echoed(self) -> None:
        problems = problems_of('[agent]\ndatabase = "mysql://u:hunter2@127.0.0.1/db"\n')
        assert "hunter2" not in problems[0].message


class TestProblems:
    """Problems carry their key path, line and a precise message, and all are reported."""

    def test_paths_lines_and_order(self) -> None:
        text = (
            "[polling]\n"  # 1
            "interval_seconds = 30\n"  # 2
            "timeout_seconds = 30\n"  # 3
            "\n"
            "[[devices]]\n"  # 5
            'name = "a"\n'
            'address = "127.0.0.1"\n'
            'owner = "X"\n'
            "\n"
            "[[devices]]\n"  # 10
            'name = "b"\n'
            'address = "127.0.0.2"\n'
            'owner = "X"\n'
            'snmp_auth = "v3core"\n'  # 14
            "naem = 1\n"  # 15
        )
        assert problems_of(text) == [
            ConfigProblem(
                "polling", "timeout_seconds (30) must be less than interval_seconds (30)", 1
            ),
            ConfigProblem(
                "devices[1].snmp_auth", 'unknown credential set "v3core"; defined: none', 14
            ),
            ConfigProblem("devices[1].naem", 'unknown key; did you mean "name"?', 15),
        ]

    def test_error_message_lists_every_problem(self) -> None:
        with pytest.raises(ConfigError) as info:
            loads('[agent]\nlisten = "x"\n[icmp]\ncount = 0\n', source="f.toml")
        assert str(info.value).splitlines() == [
            'f.toml:2: agent.listen: expected "host:port" or "[IPv6]:port" with a port from 0 '
            'to 65535, got "x"',
            "f.toml:4: icmp.count: must be at least 1, got 0",
        ]
        assert info.value.file == "f.toml"

    def test_lines_for_dotted_quoted_and_multiline_keys(self) -> None:
        text = (
            "[snmp]\n"  # 1
            "interfaces = [\n"  # 2
            '  "a",\n'
            "  [1],\n"  # a line that looks like a table header
            "]\n"
            'auth.default.version = "9"\n'  # 6
            '[sites."Gedung A"]\n'  # 7
            'timezone = "Mars/Base"\n'  # 8
            "[[maintenance]]\n"  # 9
            'name = "m"\n'
            'devices = ["x"]\n'  # 11
            'weekly = { days = ["mon"], start = "9:00", duration_minutes = 5 }\n'  # 12
            'description = """\n'  # 13
            "[polling]\n"
            '"""\n'
        )
        found = {p.path: p.line for p in problems_of(text)}
        assert found == {
            "snmp.interfaces[1]": 2,
            "snmp.auth.default.version": 6,
            'sites."Gedung A".timezone': 8,
            "maintenance[0].devices[0]": 11,
            "maintenance[0].weekly.start": 12,
            "maintenance[0].description": 13,
        }

    def test_rules_run_on_the_valid_rest_of_a_table(self) -> None:
        text = "[polling]\ninterval_seconds = 5\ntimeout_seconds = 5\nup_after = 0\n"
        assert [p.path for p in problems_of(text)] == ["polling", "polling.up_after"]

    def test_rejected_key_is_not_read_as_its_default(self) -> None:
        # interval_seconds is rejected, so the rule must not compare against the default 30.
        text = '[polling]\ninterval_seconds = "1"\ntimeout_seconds = 40\n'
        assert [p.path for p in problems_of(text)] == ["polling.interval_seconds"]

    def test_version_must_be_a_string(self) -> None:
        assert rendered('[snmp.auth.x]\nversion = 3\nusername = "u"\n') == [
            't.toml:2: snmp.auth.x.version: expected a string "1", "2c" or "3", got the number '
            '3 (write version = "3", in quotes)'
        ]

    def test_listen_forms(self) -> None:
        for listen, host, port in [
            ("0.0.0.0:80", "0.0.0.0", 80),
            ("[::]:9806", "::", 9806),
            ("localhost:0", "localhost", 0),
        ]:
            agent = loads(f'[agent]\nlisten = "{listen}"\n').agent
            assert (agent.listen_host, agent.listen_port) == (host, port)
        for bad in ("localhost", "::1:80", "[::1]", "host:99999", "[127.0.0.1]:80", ":80"):
            assert [p.path for p in problems_of(f'[agent]\nlisten = "{bad}"\n')] == ["agent.listen"]


class TestReading:
    """Reading failures are ConfigErrors too."""

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load(tmp_path / "nope.toml")
        assert str(info.value) == f"{tmp_path / 'nope.toml'}: cannot read: no such file"

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load(tmp_path)
        assert info.value.problems[0].message.startswith("cannot read: ")

    def test_syntax_error_has_its_line(self) -> None:
        assert rendered('[agent]\nlisten = "127.0.0.1:1"\nlog_level = \n') == [
            "t.toml:3: invalid TOML: invalid value (column 13)"
        ]

    def test_utf8_bom_is_accepted(self, tmp_path: Path) -> None:
        path = tmp_path / "bom.toml"
        path.write_bytes(b'\xef\xbb\xbf[agent]\nlog_level = "WARNING"\n')
        assert load(path).agent.log_level == "WARNING"


class TestBadConfigs:
    """Each file in tests/data/config/bad gives exactly the output in its .expected file."""

    @pytest.mark.parametrize("name", sorted(p.stem for p in BAD.glob("*.toml")))
    def test_bad_config(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(BAD)  # so that the file name printed is the bare name
        out = io.StringIO()
        assert check_config(f"{name}.toml", out, environ=BAD_ENV) == 2
        assert out.getvalue() == (BAD / f"{name}.expected").read_text(encoding="utf-8")

    def test_enough_cases(self) -> None:
        assert len(list(BAD.glob("*.toml"))) >= 14
        assert {p.stem for p in BAD.glob("*.toml")} == {p.stem for p in BAD.glob("*.expected")}


class TestExample:
    """The documented example is valid and check-config summarises it."""

    def test_example_is_valid(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(REPO)
        out = io.StringIO()
        assert check_config("examples/pantau.example.toml", out, environ=EXAMPLE_ENV) == 0
        assert out.getvalue() == (
            "examples/pantau.example.toml: valid: 4 devices, 2 SNMP credential sets, 3 users, "
            "2 maintenance windows; notify: none\n"
        )

    def test_demo_users_sign_in(self, tmp_path: Path) -> None:
        """`scripts/demo` writes one user per role with the hash of the password it prints."""
        from agent.web.passwords import verify_password
        from lab.demo import DEMO_USERS, demo_users

        path = tmp_path / "demo.toml"
        path.write_text('[[devices]]\nname = "a"\naddress = "127.0.0.1"\nowner = "X"\n'
                        + demo_users("sandi-demo-123"))
        users = load(path).users
        assert {u.name: u.role for u in users} == DEMO_USERS
        for user in users:
            assert user.password_hash is not None
            assert verify_password("sandi-demo-123", user.password_hash.reveal())
            assert user.token is None

    def test_example_uses_only_loopback_addresses(self) -> None:
        config = load(EXAMPLE, environ=EXAMPLE_ENV)
        assert all(d.address.startswith("127.") or d.address == "::1" for d in config.devices)

    def test_singular_summary(self, tmp_path: Path) -> None:
        path = tmp_path / "one.toml"
        path.write_text(
            '[snmp.auth.a]\nversion = "1"\ncommunity = "c"\n'
            '[[devices]]\nname = "a"\naddress = "127.0.0.1"\nowner = "X"\n'
            '[[users]]\nname = "u"\nrole = "admin"\ntoken = "tttttttttttttttttttttttttttttttt"\n'
            '[[maintenance]]\nname = "m"\ndevices = ["a"]\n'
            'weekly = { days = ["mon"], start = "01:00", duration_minutes = 5 }\n',
            encoding="utf-8",
        )
        out = io.StringIO()
        assert check_config(path, out) == 0
        assert out.getvalue() == (
            f"{path}: valid: 1 device, 1 SNMP credential set, 1 user, 1 maintenance window; "
            "notify: none\n"
        )
