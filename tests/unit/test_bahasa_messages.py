"""Messages and the CLI say why in the reader's language: the reason code of a new ticket's
evidence or of a verification, rendered in Indonesian for "id" (never its English text)."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from agent.core.reasons import Reason
from agent.tickets_cli import _dispatch, add_parser
from tests.reason_examples import CODES, english_left, example
from tests.unit.test_service import make
from tests.workflow_support import T0, Run, auto_draft
from ticketing.messages import Notice, reason_text, render
from ticketing.models import Fault, Ticket
from ticketing.observation import FAILING, Observation
from ticketing.payloads import Evidence, Probe, Verification
from ticketing.sop import SOP_006

BASE = "https://pantau.kotabogor.example"


def coded_ticket(r: Reason) -> Ticket:
    run = Run()
    run.open(auto_draft(evidence=Evidence.of_detection(
        fault="device_down", state="down", since=T0, reason=r.text(), last={},
        cause=r).to_json()))
    return run.t


def every_text(notice: Notice, lang: str) -> str:
    text = render(notice, lang, "Asia/Jakarta", BASE)
    return "\n".join([text.subject, text.text, text.html])


class TestMessages:
    """A new ticket's message says why, in the reader's language."""

    @pytest.mark.parametrize("code", CODES)
    def test_ticket_opened(self, code: str) -> None:
        r = example(code)
        t = coded_ticket(r)
        notice = Notice("ticket_opened", t, SOP_006.step(2), t.steps[1].due_at)
        indonesian = every_text(notice, "id")
        assert f"Keterangan: {r.text('id')}" in indonesian
        assert english_left(indonesian, r) == []
        assert f"Reason: {r.text('en')}" in every_text(notice, "en")

    @pytest.mark.parametrize("code", CODES)
    def test_verification_failed(self, code: str) -> None:
        r = example(code)
        t = coded_ticket(example("no_result_yet"))
        v = Verification(passed=False, started_at=T0, finished_at=T0, reason=r.text(), cause=r,
                         probes=(Probe(1, "sw-dinkes-01", "icmp", "down", T0, False,
                                       reason=r.text(), cause=r),))
        notice = Notice("verification_failed", replace(t, last_verification=v), None, None)
        assert r.text("id") in every_text(notice, "id")
        assert english_left(every_text(notice, "id"), r) == []

    def test_free_text_is_left_out(self) -> None:
        run = Run()
        run.open(auto_draft())  # its evidence: "no echo reply (3 of 3 lost)", no code
        notice = Notice("ticket_opened", run.t, SOP_006.step(2), run.t.steps[1].due_at)
        assert reason_text(notice, "id") == ""
        assert "Keterangan" not in every_text(notice, "id")

    def test_other_notices_say_no_reason(self) -> None:
        t = coded_ticket(example("icmp_no_reply"))
        notice = Notice("step_ready", t, SOP_006.step(2), t.steps[1].due_at)
        assert reason_text(notice, "id") == ""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"), lambda p: p.add_argument("-c"))
    return parser.parse_args(["tickets", *argv])


class TestCli:
    """`pantau tickets show --lang id` writes the reason in Indonesian; English by default."""

    @pytest.mark.parametrize("code", CODES)
    async def test_show(self, code: str) -> None:
        r = example(code)
        service, clock, _, _ = make()
        ticket = await service.observe(Observation(
            device="sw-1", owner="Dinas Kesehatan", fault=Fault.DEVICE_DOWN,
            kind=FAILING, at=clock.now(), reason=r.text(),
            evidence=Evidence.of_detection(fault="device_down", state="down", since=clock.now(),
                                           reason=r.text(), last={}, cause=r), cause=r))
        assert ticket is not None
        config: Any = SimpleNamespace(sla=SimpleNamespace(timezone="Asia/Jakarta"))
        out = io.StringIO()
        assert await _dispatch(config, service, parse("show", ticket.id, "--lang", "id"),
                               out) == 0
        assert f"reason: {r.text('id')}\n" in out.getvalue()
        assert english_left(out.getvalue(), r) == []
        out = io.StringIO()
        assert await _dispatch(config, service, parse("show", ticket.id), out) == 0
        assert f"reason: {r.text('en')}\n" in out.getvalue()
