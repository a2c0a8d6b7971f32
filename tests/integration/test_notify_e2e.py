"""Issue 12 end to end in the lab: the real agent (`pantau run`) tells the person whose turn it
is, on a fake Telegram Bot API and a real SMTP relay inside the lab namespace. A blackholed
device reaches the Kepala Dinas within 30 s; each SOP-006 step's completion reaches the next
role; a 1-minute SLA warns at 80 % and escalates its breach; a SIGKILL mid-delivery and an SMTP
outage still end with every message delivered, each once.

Each receiver records everything it accepted, so the counts below are exact: the Bot API
every sendMessage (a resend is the same chat and text), the relay every mail (a resend has the
same Message-ID)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.conftest import Figure
from tests.notify_inbox_support import duplicates, reasons, ticket_of
from tests.notify_lab_support import BASE_URL, OWNER, SETTLE_SECONDS, WEBHOOK_SECRET, NotifyLab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

OPENED = "Tiket baru: Perangkat tidak dapat dijangkau"
RESTORED = "Gangguan sudah tidak teramati (pemulihan teramati)"
VERIFIED = "Verifikasi langsung berhasil"
CLOSED = "Tiket selesai"
#: The SMTP outage. The issue says two minutes; with the delivery's backoff (10 s doubling,
#: tries at 0, 10, 30, 70, 150 s) two minutes end with mail at ~150 s and this test near 3
#: minutes, which would take the file past its budget: one minute (tries at 0, 10, 30 fail,
#: the one at 70 s delivers) keeps the same shape.
OUTAGE_SECONDS = 120.0  # issue 12: a 2-minute SMTP outage
#: Words of the collectors' (English) reasons that must never reach an Indonesian message.
ENGLISH = re.compile(r"\b(timeout|timed out|unreachable|no reply|packet loss|request|"
                     r"failed|error)\b", re.I)


def ready(no: int) -> str:
    return f"Langkah {no} menunggu tindakan"


def ready_en(no: int) -> str:
    return f"Step {no} is waiting for action"


def device(name: str, lab: Lab, index: int) -> LabDevice:
    return LabDevice(name, lab.address(index), OWNER)


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.xdist_group("notify-filing")
class TestFiling:
    """A blackholed device: the Kepala Dinas (and the agency) read it on Telegram and by
    e-mail within 30 s of the ticket, in Indonesian, with the one link to the ticket."""

    @pytest.mark.timeout(120)
    def test_kepala_dinas_told(self, lab: Lab, tmp_path: Path, figure: Figure) -> None:
        dev = device("sw-notify-a", lab, 801)
        with NotifyLab(lab, tmp_path, [dev]) as n:
            lab.blackhole(dev.address)
            ticket = n.wait(lambda: n.open_ticket(dev.name), 30)
            filed = epoch(ticket["opened_at"])
            tg, mail = n.settled({"kadis": [OPENED], "dinkes": [OPENED]})
            assert tg == mail == {"kadis": [OPENED], "dinkes": [OPENED]}, (tg, mail)
            assert not n.telegram("kabid") + n.telegram("kasi") + n.telegram("joko")
            (tg_msg,), (mail_msg,) = n.telegram("kadis"), n.mails("kadis")
            late = max(tg_msg.at, mail_msg.at) - filed
            assert late <= 30.0, f"told {late:.1f}s after the ticket was filed"
            figure(f"Kepala Dinas told {tg_msg.at - filed:.1f}s (Telegram), "
                   f"{mail_msg.at - filed:.1f}s (e-mail) after the ticket")

            tid, link = ticket["id"], f"{BASE_URL}/tickets/{ticket['id']}"
            evidence = n.ticket(tid)["evidence"]
            for seen in (tg_msg, mail_msg):
                lines = seen.text.splitlines()
                assert lines[0] == OPENED
                for line in (f"Tiket: {tid}", f"Perangkat: {dev.name}",
                             f"Perangkat Daerah: {OWNER}"):
                    assert line in lines, (line, seen.text)
                assert not ENGLISH.search(seen.text), seen.text
                for reason in reasons(evidence):
                    assert reason not in seen.raw, reason
            assert f'<a href="{link}">Buka tiket</a>' in tg_msg.raw
            assert f"Buka tiket: {link}" in mail_msg.text.splitlines()
            assert f'href="{link}"' in mail_msg.html
            assert re.findall(r"https?://\S+?(?=[\"<\s]|$)", tg_msg.raw) == [link]
            got = n.mail.received[[s.key for s in n.mails()].index(mail_msg.key)]
            assert got.rcpt_tos == ("kadis@kotabogor.example",)
            assert tid in str(got.message["Subject"])
            assert dev.name in str(got.message["Subject"])
            n.no_secret(*n.telegram(), *n.mails())


#: step -> (who completes it, the output document, who is told next, what they read)
WALK: dict[int, tuple[str, dict[str, Any], str, str]] = {
    2: ("kadis", {"note": "Mohon ditindaklanjuti", "to": "kabid"}, "kabid", ready_en(3)),
    3: ("kabid", {"note": "Segera cek", "to": "kasi"}, "kasi", ready(4)),
    4: ("kasi", {"note": "Tugaskan teknisi", "to": "Joko Susilo, S.Kom"}, "joko", ready(5)),
    5: ("joko", {"findings": "Switch mati", "devices": ["sw-notify-b"]}, "joko", ready(6)),
    6: ("joko", {"findings": "Stok ada di gudang", "stock_available": True}, "joko",
        ready(7)),
    7: ("joko", {"action": "Switch diganti dan dinyalakan"}, "kasi", ready(8)),
    8: ("kasi", {"action": "Dilaporkan ke Kabid"}, "kabid", ready_en(9)),
    9: ("kabid", {"action": "Dilaporkan ke Kepala Dinas"}, "kasi", CLOSED),
}


def walk(n: NotifyLab, tid: str, steps: Sequence[int], device_name: str = "sw-notify-b"
         ) -> None:
    """Complete `steps` as their roles; each completion must reach the next person."""
    for no in steps:
        user, fields, told, headline = WALK[no]
        fields = {**fields, **({"devices": [device_name]} if no == 5 else {})}
        done_at = time.time()
        n.complete(user, tid, no, fields)
        n.arrives(told, headline, done_at)
        # A person's next step comes a moment later, not within Telegram's 1 message/s per
        # chat: the delivery would otherwise hold the next message for its 10 s backoff.
        time.sleep(1.0)


@pytest.mark.xdist_group("notify-sop")
class TestSopWalk:
    """SOP-006 from filing to closure through the API as each role: every completion reaches
    the next role (step 5-7: only the teknisi the disposition names), restoration,
    verification and closure reach the agency and the kasi, and the kepala_dinas/kabid
    webhook gets their roles' messages, signed."""

    @pytest.mark.timeout(180)
    def test_walk(self, lab: Lab, tmp_path: Path) -> None:
        dev = device("sw-notify-b", lab, 802)
        with NotifyLab(lab, tmp_path, [dev], webhook=True) as n:
            lab.blackhole(dev.address)
            ticket = n.wait(lambda: n.open_ticket(dev.name), 30)
            tid = ticket["id"]
            n.arrives("kadis", OPENED, epoch(ticket["opened_at"]) - 1)
            walk(n, tid, range(2, 7))

            restored_at = time.time()
            lab.restore(dev.address)
            n.arrives("dinkes", RESTORED, restored_at)
            n.arrives("kasi", RESTORED, restored_at)
            walk(n, tid, [7])
            n.arrives("dinkes", VERIFIED, restored_at)
            walk(n, tid, [8, 9])
            assert n.ticket(tid)["status"] == "closed"

            expected = {
                "kadis": [OPENED],
                "dinkes": [OPENED, RESTORED, VERIFIED, CLOSED],
                "kabid": [ready_en(3), ready_en(9)],  # kabid reads English
                "kasi": [ready(4), RESTORED, VERIFIED, ready(8), CLOSED],
                "joko": [ready(5), ready(6), ready(7)],  # named in the disposition
                "rudi": [],  # a teknisi the disposition did not name
            }
            tg, mail = n.settled(expected)
            assert tg == expected, tg
            assert mail == expected, mail
            every = n.telegram() + n.mails()
            assert all(ticket_of(s) == tid for s in every)
            assert len({s.key for s in every}) == len(every), "a message came twice"
            n.no_secret(*every)

            assert n.hook is not None
            hooks = [json.loads(r.body) for r in n.hook.received]
            for r in n.hook.received:
                mac = hmac.new(WEBHOOK_SECRET.encode(), r.body, hashlib.sha256).hexdigest()
                assert r.headers["X-Pantau-Signature"] == f"sha256={mac}"
                assert WEBHOOK_SECRET not in r.body.decode()
            assert [(h["kind"], h["data"]["step"]) for h in hooks] == [
                ("ticket_opened", 2), ("step_ready", 3), ("step_ready", 9)], hooks
            assert {h["data"]["link"] for h in hooks} == {f"{BASE_URL}/tickets/{tid}"}
            assert len({h["key"] for h in hooks}) == 3


@pytest.mark.xdist_group("notify-sla")
class TestOneMinuteSla:
    """Step 4 (kasi) with a 1-minute SLA on a 24x7 calendar: the kasi is warned at 80 % of
    it, before the due time, and told of the breach after it, together with the kabid (the
    role above on the escalation chain), whose message says so; nobody else hears of it."""

    @pytest.mark.timeout(180)
    def test_warning_and_breach(self, lab: Lab, tmp_path: Path, figure: Figure) -> None:
        dev = device("sw-notify-c", lab, 803)
        sections: dict[str, dict[str, TomlValue]] = {
            "sop": {"version": 2}, "sop.sla": {"4": "1 minute"}}
        with NotifyLab(lab, tmp_path, [dev], sections) as n:
            lab.blackhole(dev.address)
            ticket = n.wait(lambda: n.open_ticket(dev.name), 30)
            tid = ticket["id"]
            walk(n, tid, [2], dev.name)
            # Step 4 starts 20 s after the agent did, so a check for warnings that ran only
            # once a minute (on the agent's start) would fall outside [48 s, 60 s) of it.
            time.sleep(max(0.0, n.started + 20 - time.time()))
            walk(n, tid, [3], dev.name)
            step4 = n.ticket(tid)["steps"][3]
            started, due = epoch(step4["started_at"]), epoch(step4["due_at"])
            assert due - started == pytest.approx(60.0)

            warn = "Batas waktu langkah 4 hampir habis"
            breach, breach_en = "Langkah 4 melewati batas waktu", "Step 4 is past its due time"
            w_tg, w_mail = n.arrives("kasi", warn, started, timeout=75)
            for seen in (w_tg, w_mail):
                # not before 80 % of the minute (a second's slack for the clocks' rounding),
                # and before the step is due
                assert started + 48 - 1 <= seen.at < due, (seen.at - started)
                local = datetime.fromtimestamp(due, ZoneInfo("Asia/Jakarta"))
                assert any(line.startswith("Batas waktu: ") and line.endswith(
                    f"{local:%H.%M} WIB") for line in seen.text.splitlines()), seen.text
            b_tg, b_mail = n.arrives("kasi", breach, due, timeout=30)
            e_tg, e_mail = n.arrives("kabid", breach_en, due, timeout=30)
            for seen in (b_tg, b_mail, e_tg, e_mail):
                assert seen.at - due <= 15.0, seen.at - due
            assert "Dieskalasi kepada: Kepala Bidang TI" in b_tg.text.splitlines()
            assert "Escalated to: Head of IT division" in e_tg.text.splitlines()
            figure(f"1-minute SLA: warned {w_tg.at - started:.1f}s after the step started, "
                   f"breach told {b_tg.at - due:.1f}s after it was due")

            expected = {
                "kadis": [OPENED], "dinkes": [OPENED],
                "kabid": [ready_en(3), breach_en],
                "kasi": [ready(4), warn, breach],
                "joko": [], "rudi": [],
            }
            tg, mail = n.settled(expected)
            assert tg == expected, tg
            assert mail == expected, mail
            assert n.ticket(tid)["steps"][3]["breached"] is True


@pytest.mark.xdist_group("notify-kill")
class TestKillDuringDelivery:
    """SIGKILL while slow Telegram sends are in flight, then a restart on the same database:
    every expected message is delivered, each once, except those in flight at the kill (at
    most once more each); e-mail likewise."""

    @pytest.mark.timeout(150)
    def test_kill_nine(self, lab: Lab, tmp_path: Path, figure: Figure) -> None:
        devs = [device(f"sw-notify-k{i}", lab, 810 + i) for i in range(3)]
        with NotifyLab(lab, tmp_path, devs, telegram_delay=2.0) as n:
            lab.blackhole(*(d.address for d in devs))
            tickets = n.wait(lambda: (ts := [n.open_ticket(d.name) for d in devs])
                             and all(ts) and ts, 30)
            ids = sorted(t["id"] for t in tickets)
            for tid in ids:  # the kabid's three hand-offs queue behind the filing messages
                n.complete("kadis", tid, 2, WALK[2][1])

            def mid_delivery() -> bool:
                with n.bot._lock:
                    pending = [at for at, _ in n.bot.pending.values()]
                    return bool(n.bot.delivered) and any(time.time() - at > 0.3
                                                         for at in pending)

            n.wait(mid_delivery, 30)
            in_flight = {f"{b['chat_id']}|{b['text']}" for b in n.bot.in_flight(grace=1.0)}
            mails_in_flight = {s.key for s in n.mails() if time.time() - s.at < 1.0}
            before = len(n.telegram())
            proc = n.agent.proc
            assert proc is not None
            proc.send_signal(signal.SIGKILL)  # by PID: the agent this test started
            assert proc.wait(timeout=10) == -signal.SIGKILL
            n.agent.start()

            expected = {"kadis": [OPENED] * 3, "dinkes": [OPENED] * 3,
                        "kabid": [ready_en(3)] * 3}
            n.wait_inboxes(expected, 60, n.telegram)
            n.wait_inboxes(expected, 30, n.mails)
            time.sleep(SETTLE_SECONDS + 2.0)  # a resend would be 2 s slow too
            figure(f"SIGKILL after {before} of 9 Telegram messages, {len(in_flight)} in "
                   f"flight; {len(duplicates(n.telegram()))} sent twice")
            for inbox in (n.telegram, n.mails):
                for person, headlines in expected.items():
                    got = inbox(person)
                    # each expected message (per ticket) at least once...
                    assert sorted((s.headline, ticket_of(s)) for s in {
                        s.key: s for s in got}.values()) == sorted(
                        (h, tid) for h, tid in zip(headlines, ids, strict=True)), got
                assert {p: [] for p in ("kasi", "joko", "rudi")} == {
                    p: inbox(p) for p in ("kasi", "joko", "rudi")}
            # ...and once, but for what was in flight at the kill (at most once more each)
            tg_twice, mail_twice = duplicates(n.telegram()), duplicates(n.mails())
            assert set(tg_twice) <= in_flight, (tg_twice, in_flight)
            assert set(mail_twice) <= mails_in_flight, (mail_twice, mails_in_flight)
            assert all(c == 2 for c in (tg_twice + mail_twice).values())
            # one message in flight per chat: the outbox offers one per chat at a time
            assert max(Counter(k.split("|")[0] for k in tg_twice).values(), default=0) <= 1


@pytest.mark.xdist_group("notify-outage")
class TestSmtpOutage:
    """The SMTP relay down while a ticket is filed and walked to step 7 (OUTAGE_SECONDS),
    then back on the same port: Telegram went on meanwhile, and every mail then arrives
    once, in order per recipient."""

    @pytest.mark.timeout(360)
    def test_outage(self, lab: Lab, tmp_path: Path, figure: Figure) -> None:
        dev = device("sw-notify-d", lab, 804)
        with NotifyLab(lab, tmp_path, [dev]) as n:
            n.smtp.stop()
            down_at = time.monotonic()
            lab.blackhole(dev.address)
            ticket = n.wait(lambda: n.open_ticket(dev.name), 30)
            tid = ticket["id"]
            for no in range(2, 7):
                user, fields, _, _ = WALK[no]
                n.complete(user, tid, no, {**fields, **(
                    {"devices": [dev.name]} if no == 5 else {})})
            expected = {
                "kadis": [OPENED], "dinkes": [OPENED], "kabid": [ready_en(3)],
                "kasi": [ready(4)], "joko": [ready(5), ready(6), ready(7)], "rudi": [],
            }
            n.wait_inboxes(expected, 30, n.telegram)  # one channel down holds no other
            assert n.mails() == []
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
            assert n.mails() == []
            back = time.time()
            with lab.inside():
                n.smtp.start()  # the same port as before
            # the retries back off (10 s, doubling: tries at 0, 10, 30, 70, 150 s); the wait
            # after the relay returned is at most the last backoff, 80 s
            n.wait_inboxes(expected, 120, n.mails)
            time.sleep(SETTLE_SECONDS)
            mails = n.mails()
            assert all(s.at >= back for s in mails)
            assert {p: [s.headline for s in n.mails(p)] for p in expected} == expected
            assert len({s.key for s in mails}) == len(mails) == 7, "a mail came twice"
            assert all(ticket_of(s) == tid for s in mails)
            figure(f"SMTP down {OUTAGE_SECONDS:.0f}s: all 7 mails in "
                   f"{max(s.at for s in mails) - back:.1f}s after it returned, each once")
