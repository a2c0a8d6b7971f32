"""`[notify.rules.<kind>]` in the configuration: built into Rules, wired into NoticeRules,
and every bad input named at its key path (never with a secret)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from agent.check_config import check_config
from agent.config import loads
from agent.notifications import build_rules
from tests.unit.test_config_notify import ENV, EXAMPLE, EXAMPLE_ENV, problems_of, rendered
from ticketing.audiences import Rule
from ticketing.calendar import CalendarTime

RULES = """\
[notify.rules.ticket_opened]
roles = ["kepala_dinas", "kabid", "perangkat_daerah"]
wait_for_working_hours = false

[notify.rules.restoration_observed]
roles = []

[notify.rules.step_ready]
roles = ["kabid"]
step_role = false

[notify.rules.sla_breached]
wait_for_working_hours = true
"""
TELEGRAM = '[notify.telegram]\nbot_token = { env = "PANTAU_TELEGRAM_TOKEN" }\n'
KINDS_LISTED = ('"ticket_opened", "step_ready", "sla_warning", "sla_breached", '
                '"restoration_observed", "verification_passed", "verification_failed", '
                '"ticket_closed" or "ticket_reopened"')
ROLES_LISTED = '"perangkat_daerah", "kepala_dinas", "kabid", "kasi", "teknisi" or "admin"'


class TestBuilt:
    """Each key arrives in the Rule of its kind; what is not written keeps the default."""

    def test_every_key(self) -> None:
        assert dict(loads(RULES).notify.rules) == {
            "ticket_opened": Rule(roles=("kepala_dinas", "kabid", "perangkat_daerah"),
                                  wait_for_working_hours=False),
            "restoration_observed": Rule(roles=()),
            "step_ready": Rule(roles=("kabid",), step_role=False),
            "sla_breached": Rule(wait_for_working_hours=True),
        }

    def test_defaults(self) -> None:
        assert dict(loads("").notify.rules) == {}
        assert dict(loads("[notify.rules]\n").notify.rules) == {}
        assert dict(loads("[notify.rules.ticket_closed]\n").notify.rules) == {
            "ticket_closed": Rule()}

    def test_admin_is_a_role_too(self) -> None:
        rule = loads('[notify.rules.sla_breached]\nroles = ["admin"]\n').notify.rules
        assert rule["sla_breached"].roles == ("admin",)

    def test_read_only(self) -> None:
        with pytest.raises(TypeError):
            loads(RULES).notify.rules["x"] = Rule()  # type: ignore[index]

    def test_wired_into_the_notice_rules(self) -> None:
        config = loads(TELEGRAM + RULES, environ=ENV)
        made = build_rules(config, CalendarTime())
        assert made is not None
        assert dict(made.rules) == dict(config.notify.rules)
        assert made.rules["restoration_observed"] == Rule(roles=())


# One bad value each: (TOML, its one problem as check-config prints it).
BAD = [
    ("[notify.rules.ticket_open]\nroles = []\n",
     f't.toml:1: notify.rules.ticket_open: unknown message kind "ticket_open"; expected one '
     f'of {KINDS_LISTED}; did you mean "ticket_opened"?'),
    ('[notify.rules.ticket_opened]\nroles = ["kepala_dinas", "kabidd"]\n',
     f't.toml:2: notify.rules.ticket_opened.roles[1]: unknown role "kabidd"; expected one of '
     f'{ROLES_LISTED}; did you mean "kabid"?'),
    ('[notify.rules.sla_warning]\nroles = ["bupati"]\n',
     f't.toml:2: notify.rules.sla_warning.roles[0]: unknown role "bupati"; expected one of '
     f"{ROLES_LISTED}"),
    ('[notify.rules.ticket_opened]\nroles = "kabid"\n',
     't.toml:2: notify.rules.ticket_opened.roles: expected an array, got the string "kabid"'),
    ("[notify.rules.ticket_opened]\nroles = [3]\n",
     "t.toml:2: notify.rules.ticket_opened.roles[0]: expected a role name (a string), got "
     "the integer 3"),
    ('[notify.rules.ticket_closed]\nroles = ["kasi", "kabid", "kasi"]\n',
     't.toml:2: notify.rules.ticket_closed.roles[2]: duplicate role "kasi" (first at index 0)'),
    ('[notify.rules.ticket_closed]\nrole = ["kasi"]\n',
     't.toml:2: notify.rules.ticket_closed.role: unknown key; did you mean "roles"?'),
    ('[notify.rules.ticket_closed]\nwait_for_working_hours = "no"\n',
     't.toml:2: notify.rules.ticket_closed.wait_for_working_hours: expected true or false, '
     'got the string "no"'),
    ("[notify.rules.step_ready]\nstep_role = 0\n",
     "t.toml:2: notify.rules.step_ready.step_role: expected true or false, got the integer 0"),
    ("[notify.rules.ticket_closed]\nstep_role = false\n",
     't.toml:2: notify.rules.ticket_closed.step_role: only for a kind about one step: '
     '"step_ready", "sla_warning" or "sla_breached"'),
    ("[notify]\nrules = 1\n", "t.toml:2: notify.rules: expected a table, got the integer 1"),
    ('[notify.rules]\nticket_opened = ["kasi"]\n',
     "t.toml:2: notify.rules.ticket_opened: expected a table, got an array"),
]


class TestBad:
    """Each bad input is one problem at its exact key path and line."""

    @pytest.mark.parametrize(("text", "expected"), BAD)
    def test_one_problem(self, text: str, expected: str) -> None:
        assert rendered(text) == [expected]

    def test_problems_in_many_kinds_are_all_reported(self) -> None:
        text = ('[notify.rules.ticket_open]\n'
                '[notify.rules.ticket_opened]\nroles = ["kabidd"]\n'
                '[notify.rules.ticket_closed]\nroles = ["kasi", "kasi"]\nstep_role = true\n'
                '[notify.rules.step_ready]\nwait = true\n')
        assert [(p.path, p.line) for p in problems_of(text)] == [
            ("notify.rules.ticket_open", 1),
            ("notify.rules.ticket_opened.roles[0]", 3),
            ("notify.rules.ticket_closed.roles[1]", 5),
            ("notify.rules.ticket_closed.step_role", 6),
            ("notify.rules.step_ready.wait", 8),
        ]


class TestNoSecret:
    """A rules problem beside every secret prints none of them."""

    def test_check_config(self, tmp_path: Path) -> None:
        hook = ('[[notify.webhook]]\nname = "wa"\nurl = "https://gw.example/h?key=LEAK-url"\n'
                'secret = { env = "PANTAU_WEBHOOK_SECRET" }\nroles = ["kabid"]\n')
        path = tmp_path / "bad.toml"
        path.write_text(TELEGRAM + hook + '[notify.rules.ticket_opened]\nroles = ["kadis"]\n',
                        encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ=ENV) == 2
        report = out.getvalue()
        assert 'notify.rules.ticket_opened.roles[0]: unknown role "kadis"' in report
        for secret in (*ENV.values(), "LEAK-url"):
            assert secret not in report


BAD_FILE = Path(__file__).resolve().parents[1] / "data" / "config" / "bad" / "notify_rules"


class TestBadFile:
    """tests/data/config/bad/notify_rules.toml prints exactly its .expected (as every bad
    file does in test_config.py), with no secret."""

    def test_output(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(BAD_FILE.parent)
        out = io.StringIO()
        assert check_config("notify_rules.toml", out, environ={}) == 2
        expected = BAD_FILE.with_suffix(".expected").read_text(encoding="utf-8")
        assert out.getvalue() == expected
        assert "hunter2" in BAD_FILE.with_suffix(".toml").read_text(encoding="utf-8")
        assert "hunter2" not in expected


class TestExample:
    """examples/notifications.example.toml shows an override, and it is built as written."""

    def test_the_override(self) -> None:
        config = loads(EXAMPLE.read_text(encoding="utf-8"), environ=EXAMPLE_ENV)
        assert dict(config.notify.rules) == {
            "ticket_opened": Rule(roles=("kepala_dinas", "kabid", "perangkat_daerah"))}
