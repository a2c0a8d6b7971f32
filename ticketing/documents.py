"""The output document of each step: validation against the step's FieldSpecs (a DocumentError
names the field), and the Surat Permohonan the agent writes for an automatic request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agent.core.errors import DocumentError
from agent.core.refusals import Refused, refused
from ticketing.indonesian import MONTHS, offset_zone_name
from ticketing.models import TicketDraft, aware_utc
from ticketing.payloads import REASON_CODE, OutputDocument
from ticketing.sop import FieldSpec, StepSpec

#: Measurements listed at most in an automatic request's description.
MEASUREMENT_LINES = 40


def _field_problem(spec: StepSpec, f: FieldSpec, value: Any) -> Refused | None:
    """Why `value` does not fit field `f` of `spec`'s document, or None."""
    where = {"document": spec.output, "field": f.name, "label": f.label_id}
    if f.kind == "text":
        return None if isinstance(value, str) else refused("field_not_text", **where)
    if f.kind == "bool":
        return None if isinstance(value, bool) else refused("field_not_bool", **where)
    if f.kind == "list":
        if not isinstance(value, list | tuple) or not all(
                isinstance(x, str) and x.strip() for x in value):
            return refused("field_not_list", **where)
        return None
    return refused("field_bad_kind", document=spec.output, field=f.name, kind=f.kind)


def validate_output(spec: StepSpec, output: Mapping[str, Any]) -> OutputDocument:
    """The output document of `spec`, checked and cleaned (texts stripped, lists as lists),
    from the fields a person entered.

    Raises DocumentError, naming the field, for a missing or empty required field ("Lembar
    Disposisi needs 'to' (Diteruskan kepada)"), a wrongly typed field, or a field the document
    does not have. A required list may be empty (e.g. no device needs replacing); a required
    text may not.
    """
    clean: dict[str, Any] = {}
    for f in spec.fields:
        value = output.get(f.name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if f.required:
                raise DocumentError(f.name, refused("field_missing", document=spec.output,
                                                    field=f.name, label=f.label_id))
            continue
        problem = _field_problem(spec, f, value)
        if problem is not None:
            raise DocumentError(f.name, problem)
        clean[f.name] = [x.strip() for x in value] if f.kind == "list" else value
    unknown = sorted(set(output) - {f.name for f in spec.fields})
    if unknown:
        names = ", ".join(f"'{u}'" for u in unknown)
        known = ", ".join(f.name for f in spec.fields)
        raise DocumentError(unknown[0], refused("field_unknown", document=spec.output,
                                                names=names, known=known))
    return OutputDocument(clean)


#: A result's reasons are in English (and coded): the Penyebab line says why in Indonesian.
_UNLISTED = frozenset({"reason", REASON_CODE, "error"})


def _flat(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, Mapping):
        out: list[str] = []
        for k in sorted(value, key=str):
            if k not in _UNLISTED:
                out += _flat(value[k], f"{prefix}{k}.")
        return out
    if isinstance(value, list | tuple):
        return [f"{prefix[:-1]}={', '.join(map(str, value))}"] if value else []
    return [f"{prefix[:-1]}={value}"]


def _since(text: str) -> str:
    """"24 November 2026 pukul 08.00 WITA": the evidence's start in its own offset (the
    device's zone, as the agent's bridge writes it); "" when it is not an aware ISO time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return ""
    if moment.utcoffset() is None:
        return ""
    return (f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} pukul "
            f"{moment:%H.%M} {offset_zone_name(moment)}")


def automatic_request(draft: TicketDraft) -> OutputDocument:
    """The Surat Permohonan the agent files for the agency, on its behalf: subject and
    description from the evidence (what failed, since when, the last measurements)."""
    what = draft.fault.phrase_id(draft.item or "?")
    subject = draft.subject.strip() or f"Gangguan jaringan {draft.device}: {what}"
    ev = draft.evidence
    lines = [
        f"Permohonan penanganan gangguan diajukan otomatis oleh pantau atas nama {draft.owner}.",
        f"Perangkat: {draft.device}" + (f", antarmuka {draft.item}" if draft.item else ""),
        f"Gangguan: {what}",
        f"Sejak: {_since(ev.since_text) or aware_utc(draft.opened_at, 'opened_at').isoformat()}",
    ]
    if ev.reason:
        lines.append(f"Penyebab: {ev.reason_in('id')}")
    if draft.affected:
        lines.append(f"Perangkat terdampak: {', '.join(draft.affected)}")
    measurements = _flat(ev.measurements)
    if measurements:
        lines.append("Pengukuran terakhir:")
        lines += [f"  {m}" for m in measurements[:MEASUREMENT_LINES]]
    description = draft.description.strip() or "\n".join(lines)
    return OutputDocument({"subject": subject, "description": description,
                           "on_behalf_of": draft.owner})
