"""Refusal codes: the closed catalog in two languages, every refusal a person can meet raised
with its code (workflow, service, gate, documents, policy, CLI), and the CLI's --lang."""

from __future__ import annotations

import argparse
import io
import json
import re
import string
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import Request

from agent import cli
from agent.core.errors import DocumentError, InvalidTransition
from agent.core.reasons import reason
from agent.core.refusals import CATALOG, RefusalParam, Refused, refused
from agent.tickets_cli import _dispatch, add_parser, parse_fields
from tests.reason_examples import english_left
from tests.unit.test_service import make, walk_to
from tests.workflow_support import T0, valid_output
from ticketing import documents, gates, policy, workflow
from ticketing.payloads import Probe, Verification
from ticketing.sop import SOP_006

CODES = tuple(sorted(CATALOG))
ROOT = Path(__file__).resolve().parents[2]
CAUSE = reason("icmp_no_reply", sent=5, address="127.9.8.7", seconds=1.5)
#: a value for every parameter: Indonesian or neutral words, so English found in a rendering
#: comes from a template
FILL: dict[str, RefusalParam] = {
    "ticket": "SOP006-2026-000001", "step": 7, "sop": "006", "steps": 9, "current": 2,
    "role": "teknisi", "name": "budi", "actor_role": "kasi", "gate": "syarat_x",
    "seconds": 600.5, "cause": CAUSE, "document": "Lembar Disposisi", "field": "kepada",
    "label": "Diteruskan kepada", "kind": "tabel", "names": "'isian_x'",
    "known": "catatan, kepada", "agency": "Dinkes", "admin": "admin", "limit": 500,
    "pair": "'catatan'", "value": "'mungkin'"}


def names(template: str) -> set[str]:
    return {n for _, n, _, _ in string.Formatter().parse(template) if n}


def example(code: str) -> Refused:
    return refused(code, **{n: FILL[n] for n in names(CATALOG[code][0])})


#: words both languages write: the name of the SOP, and the CLI's options --set and --owner
SHARED = frozenset({"sop", "set", "owner"})


def english_words(code: str) -> set[str]:
    """The English template's own words (3 letters or more, parameters left out), but for
    the few both languages write (SHARED)."""
    literal = " ".join(lit for lit, _, _, _ in string.Formatter().parse(CATALOG[code][0]))
    return {w for w in re.findall(r"[A-Za-z]{3,}", literal) if w.lower() not in SHARED}


def english_in(text: str, code: str) -> list[str]:
    return sorted(w for w in english_words(code)
                  if re.search(rf"(?<![A-Za-z]){w}(?![A-Za-z])", text, re.IGNORECASE))


class TestCatalog:
    """Every code is written in both languages with the same parameters."""

    @pytest.mark.parametrize("code", CODES)
    def test_same_parameters_in_both_languages(self, code: str) -> None:
        en, id_ = CATALOG[code]
        assert names(en) == names(id_)

    @pytest.mark.parametrize("code", CODES)
    def test_indonesian_has_no_english_wording(self, code: str) -> None:
        r = example(code)
        assert english_in(r.text("id"), code) == []
        assert english_left(r.text("id"), CAUSE) == []  # a nested reason too

    @pytest.mark.parametrize("code", CODES)
    def test_the_languages_differ(self, code: str) -> None:
        r = example(code)
        assert r.text("en") != r.text("id")
        assert r.text() == r.text("en")

    @pytest.mark.parametrize("code", CODES)
    def test_the_error_keeps_english_and_renders_indonesian(self, code: str) -> None:
        exc = InvalidTransition(example(code))
        assert str(exc) == example(code).text("en")
        assert exc.code == code
        assert exc.text("id") == example(code).text("id")

    @pytest.mark.parametrize("code", CODES)
    def test_every_code_is_raised_somewhere(self, code: str) -> None:
        """No dead code in the catalog: each is built by product code."""
        sources = [p.read_text() for d in ("agent", "ticketing") for p in (ROOT / d).rglob("*.py")]
        assert any(f'refused("{code}"' in s for s in sources), code

    def test_an_unknown_code_or_a_missing_parameter_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown refusal code"):
            refused("no_such_code")
        with pytest.raises(ValueError, match="ticket"):
            refused("ticket_closed")

    def test_numbers_take_a_decimal_comma_in_indonesian(self) -> None:
        r = refused("gate_too_old", seconds=600.5)
        assert "600.5 s" in r.text("en")
        assert "600,5 detik" in r.text("id")

    def test_a_plain_message_stays_as_it_is(self) -> None:
        exc = InvalidTransition("ticket T: event 5 does not follow 3")
        assert exc.code is None
        assert exc.text("id") == str(exc)


Actor = workflow.Actor
KASI, TEKNISI = Actor("kasi", "kasi"), Actor("teknisi", "teknisi")


async def refusal_of(coro: Any) -> InvalidTransition:
    with pytest.raises(InvalidTransition) as caught:
        await coro
    return caught.value


class TestSources:
    """Each refusal a person meets carries its code; its English text is unchanged."""

    async def test_workflow_refusals(self) -> None:
        service, _, _, _ = make()
        ticket = await service.file_manual(Actor("admin", "admin"), device="ap-1",
                                           owner="Dinkes", subject="mati", description="pagi")
        spec2 = SOP_006.step(2)
        wrong = await refusal_of(service.complete(ticket.id, 2, TEKNISI, valid_output(spec2)))
        assert wrong.code == "wrong_role"
        assert str(wrong) == "step 2 is for kepala_dinas; teknisi is teknisi"
        assert wrong.text("id") == "langkah 2 dikerjakan oleh kepala_dinas; peran teknisi adalah " \
                                   "teknisi"
        ahead = await refusal_of(service.complete(ticket.id, 4, KASI, {}))
        assert (ahead.code, str(ahead)) == (
            "step_not_open", "step 4 is not open: the ticket is at step 2")
        nowhere = await refusal_of(service.complete(ticket.id, 12, KASI, {}))
        assert nowhere.code == "no_such_step"
        empty = await refusal_of(service.note(ticket.id, KASI, "  "))
        assert (empty.code, empty.text("id")) == ("note_empty", "catatan harus berisi teks")
        missing = await refusal_of(service.complete(ticket.id, 2, Actor("kadis", "kepala_dinas"),
                                                    {}))
        assert isinstance(missing, DocumentError)
        assert missing.code == "field_missing"
        closed = await walk_to(service, ticket, 10)
        for late in (lambda: service.complete(closed.id, 9, KASI, {}),
                     lambda: service.verify(closed.id, TEKNISI)):
            exc = await refusal_of(late())
            assert exc.code == "ticket_closed"
            assert exc.text("id") == f"tiket {closed.id} sudah ditutup"

    async def test_the_gate_renders_the_probe_reason_in_indonesian(self) -> None:
        """An old verifier's English reason (text only) is read back into its code."""
        service, _, verifier, _ = make()
        ticket = await service.file_manual(Actor("admin", "admin"), device="ap-1",
                                           owner="Dinkes", subject="mati", description="pagi")
        ticket = await walk_to(service, ticket, 7)
        verifier.verdicts = [(False, CAUSE.text())]
        exc = await refusal_of(service.complete(ticket.id, 7, TEKNISI,
                                                valid_output(SOP_006.step(7))))
        assert exc.code == "gate_failed"
        assert str(exc) == f"connectivity not verified: {CAUSE.text()}"
        assert exc.text("id") == f"konektivitas belum terverifikasi: {CAUSE.text('id')}"

    def test_the_english_keeps_the_verifier_detail(self) -> None:
        """The verifier's English may carry detail its code lacks: the log keeps it."""
        v = Verification(passed=False, started_at=T0, finished_at=T0,
                         reason="sw icmp: no reply (ENETUNREACH)",
                         cause=reason("verify_failed", device="sw", check="icmp", item="",
                                      cause=CAUSE))
        refusal, _ = gates.connectivity_verified(
            cast(Any, SimpleNamespace(last_failure_at=None, last_verification=None)),
            gates.Facts(now=T0, verification=v))
        assert refusal is not None
        assert refusal.text("en") == "connectivity not verified: sw icmp: no reply (ENETUNREACH)"
        assert refusal.text("id") == ("konektivitas belum terverifikasi: sw ICMP (ping): "
                                      + CAUSE.text("id"))
        silent = Verification(passed=False, started_at=T0, finished_at=T0, reason="")
        refusal, _ = gates.connectivity_verified(
            cast(Any, SimpleNamespace(last_failure_at=None, last_verification=None)),
            gates.Facts(now=T0, verification=silent))
        assert refusal is not None
        assert refusal.code == "gate_not_passed"

    def test_a_probe_cause_is_named_with_its_device(self) -> None:
        probe = Probe(round=1, device="sw-1", check="icmp", status="down", at=None,
                      healthy=False, reason=CAUSE.text(), cause=CAUSE)
        v = Verification(passed=False, started_at=None, finished_at=None, reason="",
                         probes=(probe,))
        assert v.failing_reason() == f"sw-1 icmp: {CAUSE.text()}"  # the English as before
        cause = v.failing_cause()
        assert cause is not None
        assert cause.text("id") == f"sw-1 ICMP (ping): {CAUSE.text('id')}"

    def test_gate_without_verification(self) -> None:
        _, clock, _, _ = make()
        ticket: Any = SimpleNamespace(last_verification=None)
        refusal, _ = gates.connectivity_verified(ticket, gates.Facts(now=clock.now()))
        assert refusal is not None
        assert refusal.code == "gate_no_verification"

    def test_document_and_policy_refusals(self) -> None:
        spec = SOP_006.step(2)
        with pytest.raises(DocumentError) as caught:
            documents.validate_output(spec, {**valid_output(spec), "lain": "x"})
        assert caught.value.code == "field_unknown"
        with pytest.raises(policy.Refusal) as refusal:
            policy.request_owner("budi", "teknisi", None, "Dinkes", None)
        assert refusal.value.code == "filer_role"
        assert str(refusal.value) == "requests are filed by perangkat_daerah or admin; budi " \
                                     "is teknisi"
        blank = policy.request_problem({"device": "", "subject": "s", "description": "d"})
        assert blank is not None
        assert blank.text("id") == "wajib diisi"

    def test_cli_fields(self) -> None:
        with pytest.raises(InvalidTransition) as caught:
            parse_fields(SOP_006, 6, ["stock_available=mungkin"])
        assert caught.value.code == "cli_set_bool"
        with pytest.raises(InvalidTransition) as caught:
            parse_fields(SOP_006, 6, ["findings"])
        assert caught.value.code == "cli_set_pair"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"), lambda p: p.add_argument("-c"))
    return parser.parse_args(["tickets", *argv])


class TestCommandLine:
    """`pantau tickets ... --lang id` words the refusal in Indonesian; English by default."""

    async def test_dispatch_raises_the_coded_refusal(self) -> None:
        service, _, _, _ = make()
        ticket = await service.file_manual(Actor("admin", "admin"), device="ap-1",
                                           owner="Dinkes", subject="mati", description="pagi")
        config: Any = SimpleNamespace(sla=SimpleNamespace(timezone="Asia/Jakarta"),
                                      users=[SimpleNamespace(name="teknisi", role="teknisi")],
                                      sop=SOP_006)
        args = parse("note", ticket.id, " ", "--as", "teknisi", "--lang", "id")
        assert args.lang == "id"
        with pytest.raises(InvalidTransition) as caught:
            await _dispatch(config, service, args, io.StringIO())
        assert caught.value.code == "note_empty"

    @pytest.mark.parametrize(("lang", "expected"), [
        ("id", "pantau: ditolak: tiket T-1 sudah ditutup"),
        ("en", "pantau: refused: ticket T-1 is closed")])
    def test_main_prints_it_in_the_language(self, lang: str, expected: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
        def closed(config: Any, args: Any) -> int:
            raise InvalidTransition(refused("ticket_closed", ticket="T-1"))

        monkeypatch.setattr("agent.config.load", lambda path: object())
        monkeypatch.setattr("agent.tickets_cli.main_tickets", closed)
        code = cli.main(["tickets", "complete", "T-1", "9", "--as", "kasi", "-c", "x.yaml",
                         "--lang", lang])
        assert code != 0
        assert capsys.readouterr().err.strip() == expected


class TestApi:
    """The API's 409 keeps the English `detail` and adds the code (none for a plain one)."""

    @pytest.mark.parametrize(("exc", "expected"), [
        (InvalidTransition(refused("ticket_closed", ticket="T-1")),
         {"detail": "ticket T-1 is closed", "code": "ticket_closed"}),
        (InvalidTransition("ticket T-1: unexpected note event"),
         {"detail": "ticket T-1: unexpected note event"})])
    async def test_conflict_body(self, exc: InvalidTransition, expected: dict[str, str]) -> None:
        from agent.api import _conflict

        answer = await _conflict(cast(Request, None), exc)
        assert answer.status_code == 409
        assert json.loads(bytes(answer.body)) == expected
