"""The notification lab: the real agent (`pantau run`) with its [notify] channels pointed at a
fake Telegram Bot API and an aiosmtpd relay that run inside the lab namespace, the people of
one agency's SOP-006 chain as configured users, and their inboxes as they read them."""

from __future__ import annotations

import email.policy
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.notify_email_support import SmtpThread, mail_text
from tests.notify_inbox_support import LabBotApi, Seen, TimedRecorder
from tests.notify_telegram_support import serve
from tests.notify_webhook_support import Receiver

OWNER = "Dinas Kesehatan"
BASE_URL = "https://pantau.kotabogor.example"
BOT_TOKEN = "7012345678:AAlabBotTokenThatMustNeverBeShown0123"
WEBHOOK_SECRET = "lab-webhook-hmac-secret-0123456789"
MAIL_FROM = "pantau@kotabogor.example"
SETTLE_SECONDS = 3.0  # after the last expected message: time for a wrong extra one to arrive


@dataclass(frozen=True, slots=True)
class Person:
    """A configured user with both channels."""

    name: str
    role: str
    chat: str
    full_name: str = ""
    language: str = "id"

    @property
    def email(self) -> str:
        return f"{self.name}@kotabogor.example"

    @property
    def token(self) -> str:
        return f"token-{self.name}-0123456789abcdef0123456789"


PEOPLE = {p.name: p for p in (
    Person("dinkes", "perangkat_daerah", "1001", "Operator Dinas Kesehatan"),
    Person("kadis", "kepala_dinas", "1002", "Drs. Contoh, M.Si"),
    Person("kabid", "kabid", "1003", "Ir. Bidang", language="en"),
    Person("kasi", "kasi", "1004", "Seksi Jaringan"),
    Person("joko", "teknisi", "1005", "Joko Susilo, S.Kom"),
    Person("rudi", "teknisi", "1006", "Rudi Hartono"),
)}
SECRETS = (BOT_TOKEN, WEBHOOK_SECRET, *(p.token for p in PEOPLE.values()))


class NotifyLab:
    """`with NotifyLab(lab, tmp_path, devices, sections) as n:` starts the receivers in the
    lab namespace and the agent configured for them; `n.agent`, `n.bot`, `n.mail`, `n.smtp`."""

    def __init__(self, lab: Lab, workdir: Path, devices: Sequence[LabDevice],
                 sections: Mapping[str, Mapping[str, TomlValue]] | None = None, *,
                 webhook: bool = False, telegram_delay: float = 0.0) -> None:
        self.lab = lab
        self.workdir = workdir
        self.devices = devices
        self.extra = dict(sections or {})
        self.bot = LabBotApi(token=BOT_TOKEN, now=time.time, delay=telegram_delay,
                             chats={p.chat for p in PEOPLE.values()})
        self.mail = TimedRecorder()
        self.smtp = SmtpThread(self.mail)
        self.hook: Receiver | None = None
        self._webhook = webhook
        self._stack = ExitStack()
        self.agent: AgentProcess
        self.started = 0.0

    def __enter__(self) -> NotifyLab:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        with self.lab.inside():  # the sockets and threads made here live in the lab
            api_url = self._stack.enter_context(serve(self.bot))
            self.smtp.start()
            self._stack.callback(self.smtp.stop)
            if self._webhook:
                self.hook = Receiver()
        if self.hook is not None:
            self._stack.enter_context(self.hook)
        sections: dict[str, Mapping[str, TomlValue]] = {
            "polling": {"interval_seconds": 1, "timeout_seconds": 0.5, "down_after": 2,
                        "up_after": 2, "retry_interval_seconds": 0.5},
            "icmp": {"count": 2},
            "tickets": {"verification_probes": 2, "verification_hold_seconds": 1,
                        "sla_sweep_seconds": 1},
            "sla": {"calendar": "calendar", "timezone": "Asia/Jakarta"},  # 24x7: no holding
            "web": {"base_url": BASE_URL},
            "notify.telegram": {"bot_token": {"env": "PANTAU_TELEGRAM_TOKEN"},
                                "api_url": api_url},
            "notify.email": {"host": "127.0.0.1", "port": self.smtp.port, "security": "none",
                             "from": MAIL_FROM},
            **self.extra,
        }
        env = {"PANTAU_TELEGRAM_TOKEN": BOT_TOKEN, "PANTAU_WEBHOOK_SECRET": WEBHOOK_SECRET,
               **{f"TOKEN_{p.name.upper()}": p.token for p in PEOPLE.values()}}
        self.agent = AgentProcess(self.lab, self.workdir, self.devices, sections, env=env)
        self.agent.config.write_text(self.agent.config.read_text() + self._users())
        self._stack.callback(self.agent.stop)
        self.agent.start()
        self.started = time.time()  # the agent answers: its periodic jobs have begun
        names = {d.name for d in self.devices}
        self.wait(lambda: names <= {d for d, s in self.agent.states().items() if s == "up"},
                  30)

    def _users(self) -> str:
        lines = []
        for p in PEOPLE.values():
            lines += ["", "[[users]]", f'name = "{p.name}"', f'role = "{p.role}"',
                      f'token = {{ env = "TOKEN_{p.name.upper()}" }}',
                      f'full_name = "{p.full_name}"', f'telegram_chat_id = "{p.chat}"',
                      f'email = "{p.email}"', f'language = "{p.language}"']
            if p.role == "perangkat_daerah":
                lines.append(f'owner = "{OWNER}"')
        if self.hook is not None:
            lines += ["", "[[notify.webhook]]", 'name = "wa-gateway"',
                      f'url = "{self.hook.url}/hook"',
                      'secret = { env = "PANTAU_WEBHOOK_SECRET" }',
                      'roles = ["kepala_dinas", "kabid"]']
        return "\n".join(lines) + "\n"

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- acting as a person, through the API ----------------------------------------------

    def api(self, user: str, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {PEOPLE[user].token}"}
        with self.lab.inside(), httpx.Client(base_url=f"http://127.0.0.1:{self.agent.port}",
                                             headers=headers, timeout=60) as client:
            return client.request(method, f"/api/v1{path}", json=body)

    def complete(self, user: str, ticket_id: str, step: int, fields: Mapping[str, Any]
                 ) -> dict[str, Any]:
        r = self.api(user, "POST", f"/tickets/{ticket_id}/steps/{step}/complete", dict(fields))
        assert r.status_code == 200, (step, user, r.status_code, r.text)
        return dict(r.json())

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        r = self.api("kadis", "GET", f"/tickets/{ticket_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def open_ticket(self, device: str) -> dict[str, Any] | None:
        r = self.api("kadis", "GET", "/tickets?status=open")
        assert r.status_code == 200, r.text
        found = [t for t in r.json()["tickets"] if t["device"] == device]
        assert len(found) <= 1, found
        return dict(found[0]) if found else None

    # -- what arrived ----------------------------------------------------------------------

    def telegram(self, person: str | None = None) -> list[Seen]:
        """Every sendMessage the Bot API accepted (for one person's chat), in order."""
        chat = None if person is None else PEOPLE[person].chat
        with self.bot._lock:
            delivered = list(self.bot.delivered)
        return [Seen(str(d["chat_id"]), str(d["shown"]), str(d["text"]),
                     f"{d['chat_id']}|{d['text']}", float(d["at"]), str(d["text"]))
                for d in delivered if chat is None or str(d["chat_id"]) == chat]

    def mails(self, person: str | None = None) -> list[Seen]:
        """Every mail the relay accepted (for one person's address), in order."""
        address = None if person is None else PEOPLE[person].email
        out = []
        for got, at in zip(list(self.mail.received), list(self.mail.times), strict=False):
            if address is not None and address not in got.rcpt_tos:
                continue
            plain, html = mail_text(got.message)
            raw = got.message.as_bytes(policy=email.policy.SMTPUTF8).decode(errors="replace")
            out.append(Seen(",".join(got.rcpt_tos), plain, raw, str(got.message["Message-ID"]),
                            at, html))
        return out

    def wait(self, cond: Callable[[], Any], timeout: float) -> Any:
        return self.agent.wait(cond, timeout)

    def wait_inboxes(self, expected: Mapping[str, Sequence[str]], timeout: float,
                     inbox: Callable[[str], list[Seen]]) -> dict[str, list[str]]:
        """Wait until each person's inbox holds at least the expected count; returns their
        headlines (all of them, so the caller sees extras too)."""

        def headlines() -> dict[str, list[str]]:
            return {p: [s.headline for s in inbox(p)] for p in PEOPLE}

        def done() -> bool:
            got = headlines()
            return all(len(got[p]) >= len(e) for p, e in expected.items())

        try:
            self.agent.wait(done, timeout)
        except AssertionError:
            raise AssertionError(f"inboxes not complete within {timeout}s: expected "
                                 f"{dict(expected)}, got {headlines()}\n"
                                 f"{self.agent.logs()}") from None
        return headlines()

    def settled(self, expected: Mapping[str, Sequence[str]]
                ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Both inboxes of everyone once `expected` has arrived on both channels and a little
        more time has passed: (telegram headlines, mail headlines) per person."""
        self.wait_inboxes(expected, 30, self.telegram)
        self.wait_inboxes(expected, 30, self.mails)
        time.sleep(SETTLE_SECONDS)
        return ({p: [s.headline for s in self.telegram(p)] for p in expected},
                {p: [s.headline for s in self.mails(p)] for p in expected})

    def arrives(self, person: str, headline: str, after: float, timeout: float = 20.0
                ) -> tuple[Seen, Seen]:
        """`person`'s Telegram message and mail with `headline`, both accepted after `after`."""

        def find(inbox: Callable[[str], list[Seen]]) -> Seen | None:
            return next((s for s in inbox(person) if s.headline == headline), None)

        deadline = time.monotonic() + timeout
        while (tg := find(self.telegram)) is None or (mail := find(self.mails)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{person} was not told {headline!r} within {timeout:g}s (Telegram: "
                    f"{[s.headline for s in self.telegram(person)]}, e-mail: "
                    f"{[s.headline for s in self.mails(person)]})\n{self.agent.logs()}")
            time.sleep(0.2)
        assert tg.at >= after, (headline, tg.at, after)
        assert mail.at >= after, (headline, mail.at, after)
        return tg, mail

    def no_secret(self, *seen: Seen) -> None:
        """No token or HMAC secret in a message nor anywhere in the agent's log."""
        log = self.agent.log.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in log, f"a secret ({secret[:6]}...) in the agent's log"
        for s in seen:
            for secret in SECRETS:
                assert secret not in s.raw, (secret[:6], s.headline)
                assert secret not in s.text, (secret[:6], s.headline)
