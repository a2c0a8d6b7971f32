"""The store's JSON codec: every field of a ticket and an event survives the round trip."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ticketing.models import (
    EventKind,
    Fault,
    StepRecord,
    Ticket,
    TicketEvent,
    TicketStatus,
    Trigger,
)
from ticketing.payloads import Evidence, OutputDocument, Verification
from ticketing.store import codec

JAKARTA = ZoneInfo("Asia/Jakarta")
AT = datetime(2026, 3, 20, 8, 15, 30, 250001, tzinfo=JAKARTA)


def full_ticket() -> Ticket:
    """A ticket with no field at its default, so a forgotten field cannot go unnoticed."""
    step = StepRecord(no=7, role="teknisi", started_at=AT, due_at=AT + timedelta(days=1),
                      completed_at=AT + timedelta(hours=3), completed_by="andi", breached=True,
                      output=OutputDocument(
                          {"done": "ganti SFP", "probes": [{"ok": True, "rtt": 0.0021}]}))
    return Ticket(
        id="SOP006-2026-000042", device="sw-dinkes-01", owner="Dinas Kesehatan",
        fault=Fault.INTERFACE_DOWN, trigger=Trigger.MANUAL, status=TicketStatus.CLOSED,
        current_step=10, sop_version=3, opened_at=AT, steps=(step,), item="ge-0/0/1",
        dedup_key="sw-dinkes-01/interface_down/ge-0/0/1", flapping=True,
        affected=("ap-1", "ap-2"), evidence=Evidence({"since": "x", "loss": 1.0, "n": None}),
        restored=True, restoration_observed_at=AT + timedelta(minutes=5),
        closed_at=AT + timedelta(days=2), reopened=2,
        last_verification=Verification.from_json({"passed": False, "reason": "icmp timeout"}),
        seq=17,
        last_failure_at=AT - timedelta(minutes=1),
    )


class TestTicketCodec:
    """Tickets round-trip exactly, with times in UTC."""

    def test_every_field_is_encoded_and_differs_from_its_default(self) -> None:
        ticket = full_ticket()
        encoded = codec.ticket_to_json(ticket)
        assert set(encoded) == {f.name for f in fields(Ticket)}
        assert set(encoded["steps"][0]) == {f.name for f in fields(StepRecord)}
        defaults = Ticket(id="x", device="d", owner="o", fault=Fault.MANUAL,
                          trigger=Trigger.AUTO, status=TicketStatus.OPEN, current_step=1,
                          sop_version=1, opened_at=AT, steps=())
        same = [f.name for f in fields(Ticket) if f.name not in ("opened_at",)
                and getattr(ticket, f.name) == getattr(defaults, f.name)]
        assert same == []

    def test_a_ticket_round_trips_through_json_text(self) -> None:
        ticket = full_ticket()
        text = codec.dumps(codec.ticket_to_json(ticket))
        back = codec.ticket_from_json(codec.loads(text))
        assert back == ticket
        assert back.opened_at.tzinfo is UTC
        assert back.opened_at.microsecond == 250001

    def test_times_are_written_as_utc_iso_strings(self) -> None:
        encoded = codec.ticket_to_json(full_ticket())
        assert encoded["opened_at"] == "2026-03-20T01:15:30.250001+00:00"
        assert encoded["fault"] == "interface_down"
        assert encoded["affected"] == ["ap-1", "ap-2"]

    def test_fields_with_defaults_may_be_missing(self) -> None:
        encoded = codec.ticket_to_json(full_ticket())
        required = {"id", "device", "owner", "fault", "trigger", "status", "current_step",
                    "sop_version", "opened_at", "steps"}
        old = {k: v for k, v in encoded.items() if k in required}
        back = codec.ticket_from_json(old)
        # Evidence is a mapping equal to its JSON (mypy sees a dict and a Mapping type apart).
        assert (back.seq, back.last_failure_at, back.evidence, back.affected) == (  # type: ignore[comparison-overlap]
            0, None, {}, ())

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            codec.encode_time(datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="offset"):
            codec.decode_time("2026-01-01T00:00:00")


class TestEventCodec:
    """Events round-trip exactly."""

    def test_an_event_round_trips(self) -> None:
        event = TicketEvent("SOP006-2026-000001", 4, EventKind.VERIFICATION, AT, "andi",
                            "teknisi", step=7, data={"passed": True, "probes": []})
        encoded = codec.event_to_json(event)
        assert set(encoded) == {f.name for f in fields(TicketEvent)}
        assert codec.event_from_json(codec.loads(codec.dumps(encoded))) == event


class TestStrictJson:
    """JSON text is strict: what PostgreSQL's jsonb refuses, SQLite refuses too."""

    @pytest.mark.parametrize("value", [float("nan"), float("inf")])
    def test_non_finite_numbers_are_refused(self, value: float) -> None:
        with pytest.raises(ValueError, match="JSON compliant"):
            codec.dumps({"x": value})

    def test_non_json_values_are_refused(self) -> None:
        with pytest.raises(TypeError):
            codec.dumps({"x": {1, 2}})

    def test_text_stays_readable(self) -> None:
        assert codec.dumps({"teks": "perangkat — mati"}) == '{"teks":"perangkat — mati"}'
        assert json.loads(codec.dumps({"a": [1, 2.5]})) == {"a": [1, 2.5]}
