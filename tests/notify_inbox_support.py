"""What the notification lab's receivers accepted, as the people read it: the fake Bot API
(optionally slow, and knowing what was in flight), an SMTP handler that notes arrival times,
and `Seen`, one message either way."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.notify_email_support import Recorder
from tests.notify_telegram_support import BotApi


@dataclass
class LabBotApi(BotApi):
    """The fake Bot API, optionally slow (`delay` seconds before each answer), that also
    knows which requests were in flight at a given moment."""

    delay: float = 0.0
    pending: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    finished: list[tuple[float, float, dict[str, Any]]] = field(default_factory=list)
    _count: int = 0

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._count += 1
            number = self._count
            self.pending[number] = (time.time(), body)
        try:
            if self.delay:
                time.sleep(self.delay)
            return super().answer(path, body)
        finally:
            with self._lock:
                arrived, _ = self.pending.pop(number)
                self.finished.append((arrived, time.time(), body))

    def in_flight(self, grace: float) -> list[dict[str, Any]]:
        """Requests not answered now, or answered less than `grace` seconds ago (the agent
        may not have recorded them as sent yet)."""
        now = time.time()
        with self._lock:
            return [b for _, b in self.pending.values()] + [
                b for _, done, b in self.finished if now - done < grace]


class TimedRecorder(Recorder):
    """A Recorder that also notes when each mail was accepted (epoch seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        before = len(self.received)
        reply = await super().handle_DATA(server, session, envelope)
        self.times += [time.time()] * (len(self.received) - before)
        return reply


@dataclass(frozen=True, slots=True)
class Seen:
    """One message as its receiver has it: `text` what the person reads (Telegram's parsed
    HTML, the mail's plain part), `raw` what was sent (the HTML, the whole mail), `key` what a
    resend repeats (chat and text; the Message-ID), `at` when it was accepted (epoch s)."""

    to: str
    text: str
    raw: str
    key: str
    at: float
    html: str = ""

    @property
    def headline(self) -> str:
        return self.text.splitlines()[0] if self.text else ""


def ticket_of(seen: Seen) -> str:
    """The ticket number a message names ("Tiket: ..." or "Ticket: ...")."""
    found = re.search(r"^(?:Tiket|Ticket): (\S+)$", seen.text, re.M)
    assert found, seen.text
    return found.group(1)


def reasons(value: Any) -> list[str]:
    """Every collector reason in a ticket's evidence."""
    if isinstance(value, dict):
        return [r for k, v in value.items()
                for r in ([v] if k == "reason" and isinstance(v, str) and v else reasons(v))]
    if isinstance(value, list):
        return [r for v in value for r in reasons(v)]
    return []


def duplicates(seen: Sequence[Seen]) -> Counter[str]:
    counts = Counter(s.key for s in seen)
    return Counter({k: c for k, c in counts.items() if c > 1})


