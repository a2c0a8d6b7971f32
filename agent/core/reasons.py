"""Reason codes: the closed set of why a check, a transition or a verification came out as it
did, with parameters, in English (the logs' text) and Indonesian (`Reason.text(lang)`), kept
beside the English text by collectors, detector and ticketing. A leaf: imports nothing of ours.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Union

Param = Union[str, int, float, "Reason"]

#: Words a parameter takes from a closed vocabulary: vocabulary -> key -> (English, Indonesian).
TERMS: Mapping[str, Mapping[str, tuple[str, str]]] = MappingProxyType({
    "check": MappingProxyType({"icmp": ("icmp", "ICMP (ping)"), "snmp": ("snmp", "SNMP"),
                               "interface": ("interface", "antarmuka")}),
    "upstream": MappingProxyType({"parent": ("parent", "perangkat induk"),
                                  "device": ("device", "perangkat")}),
    "status": MappingProxyType({"ok": ("ok", "baik"), "warning": ("warning", "sebagian"),
                                "down": ("down", "gagal"),
                                "unknown": ("unknown", "tak diketahui")}),
    "part": MappingProxyType({"system": ("system group", "grup system"),
                              "interfaces": ("interface walk", "pembacaan tabel antarmuka"),
                              "octets32": ("32-bit octet walk",
                                           "pembacaan penghitung oktet 32-bit")}),
})


@dataclass(frozen=True, slots=True)
class Spec:
    """One code: its English and Indonesian templates (str.format names and specs), and the
    parameters whose values are keys of a vocabulary in TERMS (a list: keys joined by ",")."""

    en: str
    id: str
    terms: Mapping[str, str] = field(default_factory=dict)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(self.en)
                                   if name))


_CHECK = {"check": "check"}
_UP = {"kind": "upstream"}
#: code -> Spec. The English templates keep the texts pantau always logged, so an old stored
#: reason (text only) is read back into its code (`parse_english`).
CATALOG: Mapping[str, Spec] = MappingProxyType({
    # a check's result (collectors and the scheduler)
    "icmp_no_reply": Spec(
        "no reply to {sent} echo requests to {address} in {seconds:.1f}s",
        "tidak ada balasan atas {sent} permintaan echo (ping) ke {address} dalam "
        "{seconds:.1f} detik"),
    "check_timeout": Spec(
        "{check} {address}: no answer in {seconds:.1f}s (timeout)",
        "{check} {address}: tidak ada jawaban dalam {seconds:.1f} detik (batas waktu habis)",
        _CHECK),
    "check_unreachable": Spec(
        "{check} {address}: unreachable (no route, or refused)",
        "{check} {address}: tidak dapat dijangkau (tidak ada rute, atau ditolak)", _CHECK),
    "check_auth": Spec(
        "{check} {address}: authentication failed (community or credentials)",
        "{check} {address}: autentikasi gagal (community atau kredensial salah)", _CHECK),
    "check_protocol": Spec(
        "{check} {address}: the answer could not be read (protocol error)",
        "{check} {address}: jawaban perangkat tidak dapat dibaca (galat protokol)", _CHECK),
    "check_probe": Spec(
        "{check} {address}: pantau could not send the probe",
        "{check} {address}: pantau tidak dapat mengirim probe", _CHECK),
    "check_deadline": Spec(
        "{check} {address}: cancelled at the {seconds:g}s deadline (possible timeout)",
        "{check} {address}: dibatalkan pada batas waktu {seconds:g} detik (kemungkinan "
        "tidak ada jawaban)", _CHECK),
    "check_late": Spec(
        "{check} {address}: pantau was late during the check: the agent stalled, not the "
        "device",
        "{check} {address}: pantau sendiri terlambat saat pemeriksaan: agen yang tersendat, bukan "
        "perangkat", _CHECK),
    "check_internal": Spec(
        "{check} {address}: internal error in pantau (see the log)",
        "{check} {address}: galat internal pantau (lihat log)", _CHECK),
    "snmp_partial": Spec(
        "{parts} failed", "{parts} gagal (data sebagian)", {"parts": "part"}),
    "interface_oper_down": Spec(
        "interface {interface} is admin-up but oper-down",
        "antarmuka {interface} aktif secara administratif tetapi mati secara operasional"),
    "interface_retired": Spec(
        "interface no longer reported", "antarmuka tidak lagi dilaporkan oleh perangkat"),
    # a hard transition (the detector)
    "result_failed": Spec("1 failed result", "1 hasil gagal"),
    "results_failed": Spec("{count} consecutive failed results",
                           "{count} hasil gagal berturut-turut"),
    "result_good": Spec("1 good result", "1 hasil baik"),
    "results_good": Spec("{count} consecutive good results", "{count} hasil baik berturut-turut"),
    "flapping_started": Spec(
        "flapping: {percent:.1f}% state changes over the last {window} results "
        "(above {high:g}%)",
        "tidak stabil (flapping): {percent:.1f}% perubahan status dalam {window} hasil "
        "terakhir (di atas {high:g}%)"),
    "flapping_stopped": Spec(
        "stopped flapping: {percent:.1f}% (below {low:g}%)",
        "tidak lagi flapping: {percent:.1f}% (di bawah {low:g}%)"),
    "upstream_failing": Spec("{kind} {name} failing", "{kind} {name} bermasalah", _UP),
    "upstream_recovered": Spec("{kind} {name} no longer failing",
                               "{kind} {name} tidak lagi bermasalah", _UP),
    "upstream_not_rechecked": Spec(
        "{kind} {name} not re-checked within {seconds:g}s",
        "{kind} {name} tidak diperiksa ulang dalam {seconds:g} detik", _UP),
    "no_result_yet": Spec("no result yet", "belum ada hasil"),
    "maintenance_ended": Spec("maintenance ended", "masa pemeliharaan berakhir"),
    "unreachable_behind": Spec("{device} unreachable behind {root}",
                               "{device} tidak terjangkau karena {root} bermasalah"),
    # a live verification
    "verify_not_in_inventory": Spec(
        "{devices} not in the inventory: pantau cannot probe them",
        "{devices} tidak ada di inventaris: pantau tidak dapat memeriksanya"),
    "verify_healthy": Spec(
        "{devices} device(s) healthy in {probes} probe(s) over {seconds:g} s",
        "{devices} perangkat sehat dalam {probes} kali probe selama {seconds:g} detik"),
    "verify_failed": Spec("{device} {check} {item}: {cause}", "{device} {check} {item}: {cause}",
                          _CHECK),
    "verify_status": Spec("{device} {check} {item} is {status}",
                          "{device} {check} {item} berstatus {status}",
                          {"check": "check", "status": "status"}),
})

#: code -> the parameters its templates need (parsed once: a mass outage makes many reasons)
_NEEDED = {code: spec.params for code, spec in CATALOG.items()}
#: The word before the optional "last" reason, written after the text: (English, Indonesian).
_LAST_WORDS = ("last", "terakhir")


class _Numbers(string.Formatter):
    """str.format with Indonesian numbers ("0,5"; "1.234") when `comma` is set."""

    def __init__(self, comma: bool) -> None:
        self._comma = comma

    def format_field(self, value: Any, format_spec: str) -> str:
        text = format(value, format_spec)
        if self._comma and isinstance(value, int | float) and not isinstance(value, bool):
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text


_TIGHT = re.compile(r" ([:;,)])")  # an empty parameter leaves no space before punctuation
_FORMATTERS = {"en": _Numbers(False), "id": _Numbers(True)}


def render(template: str, values: Mapping[str, Any], lang: str) -> str:
    """`template.format(**values)` with numbers written the way of `lang` ("en", else
    Indonesian: "0,5"; "1.234")."""
    return _FORMATTERS["en" if lang == "en" else "id"].vformat(template, (), values)


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code with its parameters (names as in the code's templates, plus the optional
    "note" and "last", each a Reason). ValueError for an unknown code or a missing parameter."""

    code: str
    params: tuple[tuple[str, Param], ...] = ()

    def __post_init__(self) -> None:
        needed = _NEEDED.get(self.code)
        if needed is None:
            raise ValueError(f"unknown reason code {self.code!r}")
        given = {name for name, _ in self.params}
        missing = [p for p in needed if p not in given]
        if missing:
            raise ValueError(f"reason {self.code!r} needs {', '.join(missing)}")

    def param(self, name: str) -> Param | None:
        return next((value for key, value in self.params if key == name), None)

    def text(self, lang: str = "en") -> str:
        """The reason in `lang` ("en", else Indonesian), numbers written the language's way."""
        lang = "en" if lang == "en" else "id"
        spec = CATALOG[self.code]
        values: dict[str, Any] = {}
        for name, value in self.params:
            if isinstance(value, Reason):
                values[name] = value.text(lang)
            elif name in spec.terms:
                values[name] = _terms(spec.terms[name], str(value), lang)
            else:
                values[name] = value
        text = _TIGHT.sub(r"\1", " ".join(render(
            spec.en if lang == "en" else spec.id, values, lang).split()))
        note, last = self.param("note"), self.param("last")
        if isinstance(note, Reason):
            text = f"{text}; {note.text(lang)}"
        if isinstance(last, Reason):
            word = _LAST_WORDS[0 if lang == "en" else 1]
            text = f"{text} ({word}: {last.text(lang)})"
        return text

    def flat(self) -> tuple[tuple[str, str | int | float], ...]:
        """The parameters as a CheckResult keeps them; ValueError when one is a Reason."""
        out: list[tuple[str, str | int | float]] = []
        for name, value in self.params:
            if isinstance(value, Reason):
                raise ValueError(f"reason {self.code!r}: {name} is a reason, not a value")
            out.append((name, value))
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": {
            k: v.to_json() if isinstance(v, Reason) else v for k, v in self.params}}

    @classmethod
    def from_json(cls, data: Any) -> Reason | None:
        """The Reason of `to_json`'s dict; None when `data` is not one (an unknown code, a
        missing parameter: data from another version is shown by its text instead)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("code"), str):
            return None
        raw = data.get("params")
        params: list[tuple[str, Param]] = []
        for key, value in (raw.items() if isinstance(raw, Mapping) else ()):
            if isinstance(value, Mapping):
                nested = cls.from_json(value)
                if nested is None:
                    return None
                params.append((str(key), nested))
            elif isinstance(value, str | int | float) and not isinstance(value, bool):
                params.append((str(key), value))
        try:
            return cls(data["code"], tuple(params))
        except ValueError:
            return None


def reason(code: str, /, **params: Param) -> Reason:
    """`Reason(code, params)` from keywords: `reason("icmp_no_reply", sent=5, ...)`."""
    return Reason(code, tuple(params.items()))


def of_result(code: str, params: tuple[tuple[str, str | int | float], ...]) -> Reason | None:
    """A CheckResult's `code` and `params` as a Reason; None without a (known) code."""
    try:
        return Reason(code, tuple(params)) if code else None
    except ValueError:
        return None


def _terms(vocabulary: str, keys: str, lang: str) -> str:
    words = TERMS[vocabulary]
    names = [words[k][0 if lang == "en" else 1] if k in words else k
             for k in keys.split(",") if k]
    if len(names) < 2:
        return "".join(names)
    joiner = " and " if lang == "en" else " dan "
    return ", ".join(names[:-1]) + joiner + names[-1]
