"""Configuration of notifications: [notify.*], [web] base_url and the users' message keys."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
from pathlib import Path

import certifi
import pytest

from agent.check_config import check_config
from agent.config import Config, NotifySettings, User, loads
from agent.config.notify import notify_settings
from agent.config.values import DEFAULT_ESCALATION
from agent.core.errors import ConfigError, ConfigProblem
from agent.core.model import Secret
from notify.channels.email import EmailSettings
from notify.channels.telegram import TelegramSettings
from notify.channels.webhook import WebhookSettings
from ticketing.sop import Role

# The Contract block, exactly as written there.
CONTRACT = """\
[web]
base_url = "https://pantau.kotabogor.example"   # links in messages

[notify.telegram]
bot_token = { env = "PANTAU_TELEGRAM_TOKEN" }
api_url = "https://api.telegram.org"            # default; POST {api_url}/bot{token}/sendMessage

[notify.email]
host = "smtp.kotabogor.example"
port = 587
security = "starttls"                           # starttls | tls | none (a local relay)
username = "pantau"                             # optional, with password
password = { env = "PANTAU_SMTP_PASSWORD" }
from = "pantau@kotabogor.example"

[[notify.webhook]]
name = "wa-gateway"
url = "https://wa-gateway.example/hook"
secret = { env = "PANTAU_WEBHOOK_SECRET" }     # X-Pantau-Signature: sha256=HEX(HMAC(body))
roles = ["kepala_dinas", "kabid"]               # whose messages go there too

[[users]]
name = "kadis"
role = "kepala_dinas"
full_name = "Drs. Contoh, M.Si"
nip = "19700101 199503 1 001"
jabatan = "Kepala Dinas Komunikasi dan Informatika"
telegram_chat_id = "123456789"
email = "kadis@kotabogor.example"
"""

TOKEN = "123456789:LEAK-telegram-token"
PASSWORD = "LEAK-smtp-password"
HOOK_SECRET = "LEAK-webhook-secret-0123456789"
ENV = {
    "PANTAU_TELEGRAM_TOKEN": TOKEN,
    "PANTAU_SMTP_PASSWORD": PASSWORD,
    "PANTAU_WEBHOOK_SECRET": HOOK_SECRET,
}
EMAIL = '[notify.email]\nhost = "smtp.example"\nfrom = "pantau@kota.example"\n'
HOOK = '[[notify.webhook]]\nname = "noc"\nurl = "https://hook.example/x"\nsecret = "{s}"\n'
USER = '[[users]]\nname = "u"\nrole = "teknisi"\n'


def problems_of(text: str, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        loads(text, environ=ENV if environ is None else environ)
    return info.value.problems


def paths_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    return [p.path for p in problems_of(text, environ)]


def rendered(text: str) -> list[str]:
    return [p.render("t.toml") for p in problems_of(text)]


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> Config:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return loads(CONTRACT)  # secrets from os.environ, as `pantau run` reads them


class TestContract:
    """Every key of the issue's Contract block is accepted and built as written."""

    def test_web_base_url(self, contract: Config) -> None:
        assert contract.web.base_url == "https://pantau.kotabogor.example"

    def test_telegram(self, contract: Config) -> None:
        assert contract.notify.telegram == TelegramSettings(
            bot_token=Secret(TOKEN), api_url="https://api.telegram.org")

    def test_email(self, contract: Config) -> None:
        assert contract.notify.email == EmailSettings(
            host="smtp.kotabogor.example", port=587, security="starttls",
            from_address="pantau@kotabogor.example", username="pantau",
            password=Secret(PASSWORD))

    def test_webhook(self, contract: Config) -> None:
        assert contract.notify.webhooks == (WebhookSettings(
            name="wa-gateway", url="https://wa-gateway.example/hook",
            secret=Secret(HOOK_SECRET)),)
        assert dict(contract.notify.webhook_roles) == {"wa-gateway": ("kepala_dinas", "kabid")}
        assert contract.notify.webhook("wa-gateway").url == "https://wa-gateway.example/hook"

    def test_user(self, contract: Config) -> None:
        assert contract.users == (User(
            name="kadis", role="kepala_dinas", full_name="Drs. Contoh, M.Si",
            nip="19700101 199503 1 001", jabatan="Kepala Dinas Komunikasi dan Informatika",
            telegram_chat_id="123456789", email="kadis@kotabogor.example", language="id"),)

    def test_rule_defaults(self, contract: Config) -> None:
        assert contract.notify.warn_at_percent == 80
        assert contract.notify.escalation == ("teknisi", "kasi", "kabid", "kepala_dinas")

    def test_values_are_frozen(self, contract: Config) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            contract.notify.warn_at_percent = 90  # type: ignore[misc]
        with pytest.raises(TypeError):
            contract.notify.webhook_roles["x"] = ()  # type: ignore[index]

    def test_no_secret_in_reprs(self, contract: Config) -> None:
        text = repr(contract)
        assert "<secret>" in text
        for value in ENV.values():
            assert value not in text

    def test_check_config_is_clean(self, tmp_path: Path) -> None:
        path = tmp_path / "pantau.toml"
        path.write_text(CONTRACT, encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ=ENV) == 0, out.getvalue()


class TestCheckConfigSummary:
    """check-config's summary names the configured channels, never a secret or a URL."""

    def summary(self, tmp_path: Path, text: str) -> str:
        path = tmp_path / "pantau.toml"
        path.write_text(text, encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ=ENV) == 0, out.getvalue()
        return out.getvalue()

    def test_every_channel(self, tmp_path: Path) -> None:
        text = self.summary(tmp_path, CONTRACT)
        assert text.endswith("; notify: telegram, email, 1 webhook (wa-gateway)\n"), text
        for value in (*ENV.values(), "wa-gateway.example", "/hook", "smtp.kotabogor",
                      "api.telegram.org", "kadis@"):
            assert value not in text

    def test_webhooks_only_named(self, tmp_path: Path) -> None:
        hooks = (HOOK.format(s=HOOK_SECRET)
                 + HOOK.format(s=HOOK_SECRET).replace('"noc"', '"wa-gateway"').replace(
                     "/x", "/y?token=LEAK-url-token"))
        text = self.summary(tmp_path, hooks)
        assert text.endswith("; notify: 2 webhooks (noc, wa-gateway)\n"), text
        for value in (HOOK_SECRET, "LEAK-url-token", "hook.example"):
            assert value not in text

    def test_email_only(self, tmp_path: Path) -> None:
        assert self.summary(tmp_path, EMAIL).endswith("; notify: email\n")

    def test_none(self, tmp_path: Path) -> None:
        assert self.summary(tmp_path, "").endswith("; notify: none\n")


class TestDefaults:
    """What is not written takes its documented default."""

    def test_no_notify_section(self) -> None:
        config = loads("")
        assert config.notify == NotifySettings()
        assert config.notify.telegram is None
        assert config.notify.email is None
        assert config.notify.webhooks == ()
        assert dict(config.notify.webhook_roles) == {}
        assert config.web.base_url is None

    def test_escalation_default_is_the_sop_roles(self) -> None:
        assert DEFAULT_ESCALATION == (Role.TEKNISI, Role.KASI, Role.KABID, Role.KEPALA_DINAS)

    def test_telegram_defaults(self) -> None:
        telegram = loads('[notify.telegram]\nbot_token = "1:a"\n').notify.telegram
        assert telegram == TelegramSettings(bot_token=Secret("1:a"))

    @pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465),
                                                     ("none", 25)])
    def test_email_port_follows_security(self, security: str, port: int) -> None:
        email = loads(f'{EMAIL}security = "{security}"\n').notify.email
        assert email is not None
        assert (email.security, email.port, email.username, email.password) == (
            security, port, None, None)

    def test_email_without_security_is_starttls_on_587(self) -> None:
        email = loads(EMAIL).notify.email
        assert email is not None
        assert (email.security, email.port) == ("starttls", 587)

    def test_webhook_roles_may_be_left_out_or_empty(self) -> None:
        text = HOOK.format(s=HOOK_SECRET) + HOOK.format(s=HOOK_SECRET).replace("noc", "b")
        notify = loads(text + "roles = []\n").notify
        assert dict(notify.webhook_roles) == {"noc": (), "b": ()}

    def test_user_language_defaults_to_indonesian(self) -> None:
        user = loads(USER + 'email = "u@kota.example"\n').users[0]
        assert (user.language, user.full_name, user.telegram_chat_id) == ("id", None, None)


class TestEveryKey:
    """Keys beyond the Contract block: their values arrive as written."""

    def test_optional_keys(self, tmp_path: Path) -> None:
        shutil.copy(certifi.where(), tmp_path / "kota-ca.pem")
        text = (
            '[web]\nbase_url = "http://127.0.0.1:9806/pantau/"\n'
            '[notify]\nwarn_at_percent = 75\nescalation = ["kasi", "kabid"]\n'
            '[notify.telegram]\nbot_token = "1:a"\napi_url = "http://127.0.0.1:8081/"\n'
            "timeout_seconds = 4.5\n"
            '[notify.email]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "tls"\n'
            'from = "Pantau <pantau@kota.example>"\nca_file = "kota-ca.pem"\n'
            "timeout_seconds = 7\n"
            '[[notify.webhook]]\nname = "wa-1"\nurl = "https://gw.example/h?token=abc"\n'
            f'secret = "{HOOK_SECRET}"\nroles = []\ntimeout_seconds = 3\n'
            + USER + 'telegram_chat_id = "-1001234"\nlanguage = "en"\n'
            + USER.replace('"u"', '"v"') + 'telegram_chat_id = "@noc_kota"\n'
        )
        (tmp_path / "p.toml").write_text(text, encoding="utf-8")
        config = loads(text, base_dir=tmp_path)
        assert config.web.base_url == "http://127.0.0.1:9806/pantau"  # no trailing "/"
        notify = config.notify
        assert (notify.warn_at_percent, notify.escalation) == (75, ("kasi", "kabid"))
        assert notify.telegram == TelegramSettings(
            bot_token=Secret("1:a"), api_url="http://127.0.0.1:8081", timeout_seconds=4.5)
        assert notify.email == EmailSettings(
            host="127.0.0.1", port=2525, security="tls",
            from_address="Pantau <pantau@kota.example>",
            ca_file=str(tmp_path / "kota-ca.pem"), timeout_seconds=7)
        assert notify.webhooks == (WebhookSettings(
            name="wa-1", url="https://gw.example/h?token=abc", secret=Secret(HOOK_SECRET),
            timeout_seconds=3),)
        assert "token=abc" not in repr(notify)  # WebhookSettings shows the URL without query
        assert [(u.telegram_chat_id, u.language) for u in config.users] == [
            ("-1001234", "en"), ("@noc_kota", "id")]

    def test_a_user_may_have_only_a_channel(self) -> None:
        assert [u.name for u in loads(USER + 'telegram_chat_id = "5"\n').users] == ["u"]

    def test_a_user_needs_some_way_in_or_out(self) -> None:
        assert rendered(USER) == [
            "t.toml:1: users[0]: missing: a token (for the API), a password_hash (for the "
            "pages) or a telegram_chat_id or email (for messages)"]


# One bad value each: (TOML, the key path of its one problem).
BAD_VALUES = [
    ('[web]\nbase_url = "pantau.kotabogor.example"\n', "web.base_url"),
    ('[web]\nbase_url = "ftp://pantau.example"\n', "web.base_url"),
    ('[web]\nbase_url = "https://pantau.example/?a=1"\n', "web.base_url"),
    ('[web]\nbase_url = "https://pantau.example/#top"\n', "web.base_url"),
    ('[web]\nbase_url = "https:///x"\n', "web.base_url"),
    ('[web]\nbase_url = "https://pan tau.example"\n', "web.base_url"),
    ('[notify]\nwarn_at_percent = 0\n', "notify.warn_at_percent"),
    ('[notify]\nwarn_at_percent = 100\n', "notify.warn_at_percent"),
    ('[notify]\nwarn_at_percent = 80.5\n', "notify.warn_at_percent"),
    ('[notify]\nescalation = ["teknisi", "kadis"]\n', "notify.escalation[1]"),
    ('[notify]\nescalation = ["kasi", "kabid", "kasi"]\n', "notify.escalation[2]"),
    ('[notify]\nwork_hours_only = true\n', "notify.work_hours_only"),
    ('[notify]\ntelegram = 1\n', "notify.telegram"),
    ('[notify.sms]\nx = 1\n', "notify.sms"),
    ("[notify.telegram]\n", "notify.telegram.bot_token"),
    ('[notify.telegram]\nbot_token = { env = "PANTAU_NOPE" }\n', "notify.telegram.bot_token"),
    ('[notify.telegram]\nbot_token = "1:a"\napi_url = "api.telegram.org"\n',
     "notify.telegram.api_url"),
    ('[notify.telegram]\nbot_token = "1:a"\ntimeout_seconds = 0\n',
     "notify.telegram.timeout_seconds"),
    ('[notify.email]\nfrom = "a@b.example"\n', "notify.email.host"),
    ('[notify.email]\nhost = "smtp.example"\n', "notify.email.from"),
    (EMAIL.replace("smtp.example", "smtp..example"), "notify.email.host"),
    (EMAIL.replace("pantau@kota.example", "pantau-at-kota.example"), "notify.email.from"),
    (EMAIL.replace("pantau@kota.example", "pantau@127.0.0.1"), "notify.email.from"),
    (EMAIL.replace("pantau@kota.example", "a@b.example, c@d.example"), "notify.email.from"),
    (EMAIL + "port = 0\n", "notify.email.port"),
    (EMAIL + "port = 65536\n", "notify.email.port"),
    (EMAIL + 'security = "ssl"\n', "notify.email.security"),
    (EMAIL + 'username = "pantau"\n', "notify.email.password"),
    (EMAIL + 'password = "rahasia"\n', "notify.email.username"),
    (EMAIL + 'username = "u"\npassword = { env = "PANTAU_NOPE" }\n', "notify.email.password"),
    (EMAIL + 'ca_file = "no-such-ca.pem"\n', "notify.email.ca_file"),
    (EMAIL + "timeout_seconds = -1\n", "notify.email.timeout_seconds"),
    (EMAIL + 'form = "x@y.example"\n', "notify.email.form"),
    ('[notify]\nwebhook = { name = "x" }\n', "notify.webhook"),
    (HOOK.format(s=HOOK_SECRET).replace('"noc"', '"NOC"'), "notify.webhook[0].name"),
    (HOOK.format(s=HOOK_SECRET).replace('"noc"', '"noc gw"'), "notify.webhook[0].name"),
    (HOOK.format(s=HOOK_SECRET).replace("https://", "ftp://"), "notify.webhook[0].url"),
    (HOOK.format(s=HOOK_SECRET).replace("https://hook.example", "https://"),
     "notify.webhook[0].url"),
    (HOOK.format(s=HOOK_SECRET).replace('secret = "LEAK-webhook-secret-0123456789"\n', ""),
     "notify.webhook[0].secret"),
    (HOOK.format(s="short"), "notify.webhook[0].secret"),
    (HOOK.format(s=HOOK_SECRET) + 'roles = ["kepala_dinas", "bupati"]\n',
     "notify.webhook[0].roles[1]"),
    (HOOK.format(s=HOOK_SECRET) + 'roles = ["kabid", "kabid"]\n', "notify.webhook[0].roles[1]"),
    (HOOK.format(s=HOOK_SECRET) * 2, "notify.webhook[1].name"),
    (USER + 'telegram_chat_id = "12a"\n', "users[0].telegram_chat_id"),
    (USER + "telegram_chat_id = 123\n", "users[0].telegram_chat_id"),
    (USER + 'telegram_chat_id = "@ab"\n', "users[0].telegram_chat_id"),
    (USER + 'email = "Kadis <kadis@kota.example>"\n', "users[0].email"),
    (USER + 'email = "kadis@"\n', "users[0].email"),
    (USER + 'token = "tttttttttttttttttttttttttttttttt"\nlanguage = "jv"\n', "users[0].language"),
    (USER + 'token = "tttttttttttttttttttttttttttttttt"\nfull_name = " "\n', "users[0].full_name"),
    (USER + 'token = "tttttttttttttttttttttttttttttttt"\nnip = "1980"\n', "users[0].nip"),
    (USER + 'token = "tttttttttttttttttttttttttttttttt"\nnip = "19800101 200501 1 00x"\n',
     "users[0].nip"),
    (USER + 'token = "tttttttttttttttttttttttttttttttt"\njabatan = ""\n', "users[0].jabatan"),
]


class TestBadValues:
    """Each bad value gives one problem, at its key path and line."""

    @pytest.mark.parametrize(("text", "path"), BAD_VALUES)
    def test_one_problem_at_its_key(self, text: str, path: str) -> None:
        problems = problems_of(text)
        assert [p.path for p in problems] == [path], problems
        assert problems[0].line is not None

    def test_messages(self) -> None:
        text = (
            '[web]\nbase_url = "https://pantau.example/?x"\n'  # 2
            '[notify]\nescalation = ["kasi", "kadis"]\n'  # 4
            '[notify.email]\nhost = "smtp.example"\nfrom = "pantau@"\n'  # 7
            '[[notify.webhook]]\nname = "noc"\nurl = "gw.example/hook?token=LEAK-url"\n'  # 10
            'secret = "LEAK-webhook-secret-0123456789"\nroles = ["kabid", "bupati"]\n'  # 12
            '[[users]]\nname = "u"\nrole = "kasi"\nemail = "u@127.0.0.9"\n'  # 16
        )
        roles = ('"perangkat_daerah", "kepala_dinas", "kabid", "kasi", "teknisi" or '
                 '"admin"')
        assert rendered(text) == [
            "t.toml:2: web.base_url: must not have a query (?...) or a fragment (#...)",
            f't.toml:4: notify.escalation[1]: expected one of {roles}, got the string "kadis"',
            't.toml:7: notify.email.from: expected an e-mail address such as '
            '"pantau@kotabogor.example" or "Pantau <pantau@kotabogor.example>", got "pantau@"',
            't.toml:10: notify.webhook[0].url: expected an absolute URL starting with '
            '"https://" or "http://", got a string without a scheme',
            f't.toml:12: notify.webhook[0].roles[1]: expected one of {roles}, got the string '
            '"bupati"',
            't.toml:16: users[0].email: expected an e-mail address such as '
            '"pantau@kotabogor.example", got "u@127.0.0.9" (the domain must be a name, not an '
            "IP address)",
        ]

    def test_missing_token_names_its_variable(self) -> None:
        assert rendered('[notify.telegram]\nbot_token = { env = "PANTAU_TG" }\n') == [
            "t.toml:2: notify.telegram.bot_token: environment variable PANTAU_TG is not set"]
        assert rendered("[notify.telegram]\napi_url = \"http://127.0.0.1:1\"\n") == [
            "t.toml:1: notify.telegram.bot_token: missing required key"]

    def test_username_and_password_go_together(self) -> None:
        assert rendered(EMAIL + 'username = "u"\n') == [
            "t.toml:1: notify.email.password: missing: required with username"]
        assert rendered(EMAIL + 'password = "p"\n') == [
            "t.toml:1: notify.email.username: missing: required with password"]

    def test_webhook_array_written_as_a_table(self) -> None:
        assert rendered('[notify.webhook]\nname = "x"\n') == [
            "t.toml:1: notify.webhook: expected an array of tables ([[notify.webhook]]), "
            "got a table"]

    def test_duplicate_webhook_names_the_first(self) -> None:
        assert rendered(HOOK.format(s=HOOK_SECRET) * 2)[0].endswith(
            'duplicate webhook name "noc" (first at notify.webhook[0])')

    def test_typo_in_from_suggests_the_toml_key(self) -> None:
        assert rendered(EMAIL + 'fron = "x@y.example"\n') == [
            't.toml:4: notify.email.fron: unknown key; did you mean "from"?']

    def test_ca_file_that_is_no_certificate(self, tmp_path: Path) -> None:
        (tmp_path / "ca.pem").write_text("not a certificate\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            loads(EMAIL + 'ca_file = "ca.pem"\n', base_dir=tmp_path)
        assert [p.message for p in info.value.problems] == [
            f'CA file "{tmp_path / "ca.pem"}" holds no PEM certificate']

    def test_one_bad_channel_leaves_the_others_checked(self) -> None:
        text = ('[notify.telegram]\nbot_token = "1:a"\napi_url = "x"\n'
                + EMAIL + "port = 0\n" + HOOK.format(s="short"))
        assert paths_of(text) == ["notify.telegram.api_url", "notify.email.port",
                                  "notify.webhook[0].secret"]


class TestEmailSettingsErrors:
    """A ValueError of EmailSettings becomes a problem at its key, never an escape."""

    def test_value_error_becomes_a_problem(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(self: EmailSettings) -> None:
            raise ValueError("from_address is not an e-mail address")

        monkeypatch.setattr(EmailSettings, "__post_init__", refuse)
        assert rendered(EMAIL) == [
            "t.toml:3: notify.email.from: from is not an e-mail address"]

    def test_the_error_of_each_field_lands_on_its_key(self) -> None:
        from agent.config.notify import _email_key

        for message, key in [("security must be one of starttls", "security"),
                             ("port must be 1..65535", "port"),
                             ("username and password go together", "password"),
                             ("give ca_file or tls_context, not both", "ca_file"),
                             ("something new", None)]:
            assert _email_key(message) == ("notify", "email", *([key] if key else []))

    def test_nothing_built_for_an_absent_section(self) -> None:
        assert notify_settings(None, secret=lambda *a, **k: None, ok=lambda *a: True,
                               base_dir=Path()) == (NotifySettings(), [])


class TestNoSecretLeak:
    """A problem report never contains a secret, even with every secret set."""

    BAD = CONTRACT.replace('port = 587', 'port = 0').replace(
        'from = "pantau@kotabogor.example"', 'from = "pantau"').replace(
        '"https://wa-gateway.example/hook"', '"wa-gateway.example/hook?token=LEAK-url"').replace(
        '["kepala_dinas", "kabid"]', '["kepala_dinas", "bupati"]').replace(
        'api_url = "https://api.telegram.org"', 'api_url = "telegram"') + (
        '[[notify.webhook]]\nname = "b"\nurl = "https://b.example"\nsecret = 12345678901234567\n'
        '[[notify.webhook]]\nname = "c"\nurl = "https://c.example"\nsecret = "LEAK-lit"\n'
    )

    def test_check_config_output(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.toml"
        path.write_text(self.BAD, encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ=ENV) == 2
        report = out.getvalue()
        assert "notify.email.port" in report
        assert "notify.webhook[0].roles[1]" in report
        assert "notify.webhook[2].secret" in report  # too short, said without the value
        for secret in (*ENV.values(), "LEAK-url", "LEAK-lit", "12345678901234567"):
            assert secret not in report, secret

    def test_the_bad_file_report_has_none(self) -> None:
        bad = Path(__file__).resolve().parents[1] / "data" / "config" / "bad"
        assert "hunter2" in (bad / "notify_channels.toml").read_text(encoding="utf-8")
        assert "hunter2" not in (bad / "notify_channels.expected").read_text(encoding="utf-8")

    def test_secrets_typed_wrong_are_not_echoed(self) -> None:
        text = ('[notify.telegram]\nbot_token = 987654321\n'
                + EMAIL + 'username = "u"\npassword = 987654322\n'
                + HOOK.format(s=HOOK_SECRET).replace(f'"{HOOK_SECRET}"', "987654323"))
        problems = problems_of(text)
        assert {p.path for p in problems} >= {"notify.telegram.bot_token",
                                              "notify.email.password", "notify.webhook[0].secret"}
        report = "\n".join(p.render("t") for p in problems)
        assert "98765432" not in report


REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "notifications.example.toml"
EXAMPLE_ENV = {
    "PANTAU_TELEGRAM_TOKEN": TOKEN,
    "PANTAU_WEBHOOK_SECRET": HOOK_SECRET,
    "PANTAU_TOKEN_ADMIN": "LEAK-admin-token-0001-0123456789abcdef",
}


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n### {title}\n")
    return text[start:text.index("\n### ", start + 1)]


class TestNotificationsExample:
    """The README's notifications example is examples/notifications.example.toml, and checks
    clean."""

    def test_checks_clean(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(REPO)
        out = io.StringIO()
        path = "examples/notifications.example.toml"
        assert check_config(path, out, environ=EXAMPLE_ENV) == 0, out.getvalue()
        assert out.getvalue() == (
            f"{path}: valid: 1 device, 0 SNMP credential sets, 7 users, 0 maintenance windows;"
            " notify: telegram, email, 1 webhook (wa-gateway)\n")
        for value in EXAMPLE_ENV.values():
            assert value not in out.getvalue()

    def test_every_channel_and_role_is_there(self) -> None:
        config = loads(EXAMPLE.read_text(encoding="utf-8"), environ=EXAMPLE_ENV)
        notify = config.notify
        assert notify.telegram is not None
        assert notify.email is not None
        assert [hook.name for hook in notify.webhooks] == ["wa-gateway"]
        assert {u.role for u in config.users} >= {r.value for r in Role}
        assert config.web.base_url == "https://pantau.kotabogor.example"

    def test_hosts_are_loopback(self) -> None:
        config = loads(EXAMPLE.read_text(encoding="utf-8"), environ=EXAMPLE_ENV)
        assert config.notify.email is not None
        assert config.notify.email.host == "127.0.0.1"
        assert all(hook.url.startswith("http://127.0.0.1:") for hook in config.notify.webhooks)
        assert all(d.address.startswith("127.") for d in config.devices)

    def test_the_readme_shows_the_file(self) -> None:
        section = readme_section("Notifications")
        start = section.index("```toml\n") + len("```toml\n")
        block = section[start:section.index("```\n", start)]
        assert block == EXAMPLE.read_text(encoding="utf-8")

    def test_the_readme_names_every_kind(self) -> None:
        from ticketing.messages import HEADLINES

        section = readme_section("Notifications")
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        kinds = {k for line in rows for k in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
        assert set(HEADLINES) <= kinds
