"""`pantau run` sends the workflow's messages: the real Agent on SQLite, a manual request
filed through the API, and the Kepala Dinas gets it on Telegram (a local Bot API server) and
by e-mail (aiosmtpd); the desk the pages use sees them sent. The full lab scenarios (SIGKILL,
SMTP outage, a 1-minute SLA) are in their own files; this one checks the wiring."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agent.app import Agent
from agent.config import loads
from agent.core.outbox import Delivery
from tests.notify_email_support import Recorder, smtp_server
from tests.notify_telegram_support import BotApi, serve

TOKEN = "123456789:LEAK-telegram-token"
KADIS_CHAT = "123456789"
USER_TOKEN = "token-dinkes-0123456789abcdef0123456789"


def config_text(db: Path, bot_url: str, smtp_port: int) -> str:
    return f"""\
[agent]
listen = "127.0.0.1:0"
database = "sqlite:///{db}"

[sla]
calendar = "calendar"  # 24x7: a manual request's message does not wait for a working morning

[web]
base_url = "https://pantau.kotabogor.example"

[notify.telegram]
bot_token = "{TOKEN}"
api_url = "{bot_url}"

[notify.email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "pantau@kotabogor.example"

[[users]]
name = "kadis"
role = "kepala_dinas"
token = "token-kadis-0123456789abcdef0123456789"
full_name = "Drs. Contoh, M.Si"
telegram_chat_id = "{KADIS_CHAT}"
email = "kadis@kotabogor.example"

[[users]]
name = "dinkes"
role = "perangkat_daerah"
owner = "Dinas Kesehatan"
token = "{USER_TOKEN}"
"""


async def until(cond: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_filed_request_reaches_the_kepala_dinas_on_telegram_and_by_email(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = BotApi(token=TOKEN, now=time.monotonic, chats={KADIS_CHAT})
    mails = Recorder()
    with serve(api) as bot_url:
        async with smtp_server(mails) as smtp_port:
            agent = Agent(loads(config_text(tmp_path / "pantau.db", bot_url, smtp_port)))
            stop = asyncio.Event()
            running = asyncio.create_task(agent.run(stop))
            try:
                await until(lambda: agent.ready.is_set() or running.done(), 20, "the agent")
                assert agent.listening is not None
                host, port = agent.listening
                async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
                    filed = await http.post(
                        "/api/v1/tickets", headers={"Authorization": f"Bearer {USER_TOKEN}"},
                        json={"device": "ap-puskesmas-9", "subject": "Pemasangan AP baru",
                              "description": "Mohon dipasang AP di ruang tunggu"})
                assert filed.status_code == 201, filed.text
                ticket_id = filed.json()["id"]
                await until(lambda: api.delivered and mails.received, 15, "both messages")
                # nothing more for the kadis once the round is done (each once)
                assert agent.notifications is not None
                desk = agent.notifications.desk
                assert desk is not None
                await asyncio.sleep(0.5)  # a second round would send nothing more
                sent = await desk.messages(Delivery.SENT, 10)
                assert {(q.envelope.channel, q.envelope.recipient) for q in sent} == {
                    ("telegram", "kadis"), ("email", "kadis")}
            finally:
                stop.set()
                async with asyncio.timeout(10):
                    await running
    [chat] = api.delivered
    assert str(chat["chat_id"]) == KADIS_CHAT
    assert ticket_id in chat["shown"]
    assert f"https://pantau.kotabogor.example/tickets/{ticket_id}" in chat["text"]
    [mail] = mails.received
    assert mail.rcpt_tos == ("kadis@kotabogor.example",)
    assert ticket_id in str(mail.message["Subject"]) + mail.message.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    assert TOKEN not in mail.message.as_string()
    assert TOKEN not in caplog.text
    assert "notification sent" in caplog.text
