"""Refusal codes: the closed set of why the ticket workflow refuses what a person asked (a
closed ticket, the wrong role, a missing field, step 7's gate), with parameters, in English
(`str(exc)`, the logs and the API's `detail`) and Indonesian (`Refused.text("id")`).

Not here, English only on purpose: refusals that only a programming error or a damaged store
can cause (event folding in ticketing/workflow.py: "event N does not follow", "unexpected
event", "the first event must be 'opened'", "malformed opened event", "no events to fold",
"event of ticket X applied to Y", "closed while at step N", "reopened while ...").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from agent.core.reasons import Reason, render


@dataclass(frozen=True, slots=True)
class Cause:
    """A reason as stored: its English text (shown as written, with its detail) and its code
    when known (shown in any other language; without one, the English text is shown)."""

    english: str
    code: Reason | None = None

    def text(self, lang: str) -> str:
        return self.english if lang == "en" or self.code is None else self.code.text(lang)


RefusalParam = str | int | float | Reason | Cause

_GATE_EN = "connectivity not verified: "
_GATE_ID = "konektivitas belum terverifikasi: "

#: code -> (English template, Indonesian template); str.format names, the same in both.
CATALOG: Mapping[str, tuple[str, str]] = MappingProxyType({
    # the ticket and its steps (ticketing/workflow.py, ticketing/service.py)
    "ticket_closed": ("ticket {ticket} is closed", "tiket {ticket} sudah ditutup"),
    "ticket_not_closed": (
        "ticket {ticket} is open: only a closed ticket is reopened",
        "tiket {ticket} masih terbuka: hanya tiket yang sudah ditutup yang dibuka kembali"),
    "no_such_step": ("there is no step {step}: SOP-{sop} has steps 1..{steps}",
                     "tidak ada langkah {step}: SOP-{sop} memiliki langkah 1..{steps}"),
    "step_not_open": ("step {step} is not open: the ticket is at step {current}",
                      "langkah {step} belum dapat dikerjakan: tiket berada di langkah {current}"),
    "wrong_role": ("step {step} is for {role}; {name} is {actor_role}",
                   "langkah {step} dikerjakan oleh {role}; peran {name} adalah {actor_role}"),
    "automatic_filer": (
        "an automatic request is filed by the agent; {name} is {role}",
        "permohonan otomatis hanya diajukan oleh agen pantau; peran {name} adalah {role}"),
    "note_empty": ("a note needs text", "catatan harus berisi teks"),
    "unknown_gate": ("step {step} has an unknown gate '{gate}'",
                     "langkah {step} memakai syarat '{gate}' yang tidak dikenal"),
    # step 7's gate (ticketing/gates.py)
    "gate_no_verification": (_GATE_EN + "no verification yet",
                             _GATE_ID + "belum ada verifikasi langsung"),
    "gate_bad_times": (
        _GATE_EN + "the last verification has no valid start and finish times",
        _GATE_ID + "waktu mulai dan selesai verifikasi terakhir tidak sah"),
    "gate_too_old": (_GATE_EN + "the last verification is older than {seconds:g} s",
                     _GATE_ID + "verifikasi terakhir lebih lama dari {seconds:g} detik"),
    "gate_before_failure": (
        _GATE_EN + "the last verification started before the last failure was observed",
        _GATE_ID + "verifikasi terakhir dimulai sebelum gangguan terakhir teramati"),
    "gate_failed": (_GATE_EN + "{cause}", _GATE_ID + "{cause}"),
    "gate_not_passed": (_GATE_EN + "the verification did not pass",
                        _GATE_ID + "verifikasi tidak lulus"),
    # an output document (ticketing/documents.py)
    "field_missing": ("{document} needs '{field}' ({label})",
                      "{document} wajib memuat isian '{field}' ({label})"),
    "field_not_text": ("{document}: '{field}' ({label}) must be text",
                       "{document}: isian '{field}' ({label}) harus berupa teks"),
    "field_not_bool": ("{document}: '{field}' ({label}) must be true or false",
                       "{document}: isian '{field}' ({label}) harus ya atau tidak"),
    "field_not_list": ("{document}: '{field}' ({label}) must be a list of non-empty texts",
                       "{document}: isian '{field}' ({label}) harus berupa daftar teks yang "
                       "tidak kosong"),
    "field_bad_kind": ("{document}: '{field}' has an unknown kind '{kind}'",
                       "{document}: jenis isian '{field}' ('{kind}') tidak dikenal"),
    "field_unknown": ("{document} has no field {names} (its fields: {known})",
                      "{document} tidak memiliki isian {names} (isiannya: {known})"),
    # a manual request (ticketing/policy.py)
    "filer_role": ("requests are filed by {agency} or {admin}; {name} is {role}",
                   "permohonan diajukan oleh {agency} atau {admin}; peran {name} adalah {role}"),
    "filer_agency": ("{name} files requests only for {agency}",
                     "{name} hanya dapat mengajukan permohonan untuk {agency}"),
    "owner_needed": ("owner is needed: the device is not in the inventory",
                     "instansi pemilik wajib diisi: perangkat tidak ada di inventaris"),
    "blank": ("must not be blank", "wajib diisi"),
    "too_long": ("longer than {limit} characters", "melebihi {limit} karakter"),
    # the command line (agent/tickets_cli.py)
    "cli_set_pair": ("--set {pair}: expected FIELD=VALUE",
                     "--set {pair}: seharusnya berbentuk ISIAN=NILAI"),
    "cli_set_bool": ("--set {name}: expected yes or no, got {value}",
                     "--set {name}: seharusnya ya atau tidak, bukan {value}"),
    "cli_owner_needed": (
        "--owner is needed: the device is not in the inventory and the user acts for no agency",
        "--owner wajib diisi: perangkat tidak ada di inventaris dan pengguna tidak mewakili "
        "instansi mana pun"),
})


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal code with its parameters (a Reason parameter is rendered in the reader's
    language). ValueError for an unknown code or a missing parameter."""

    code: str
    params: tuple[tuple[str, RefusalParam], ...] = ()

    def __post_init__(self) -> None:
        if self.code not in CATALOG:
            raise ValueError(f"unknown refusal code {self.code!r}")
        try:
            self.text("en")
        except (KeyError, IndexError) as exc:
            raise ValueError(f"refusal {self.code!r} needs {exc}") from None

    def text(self, lang: str = "en") -> str:
        """The refusal in `lang` ("en", else Indonesian)."""
        en = lang == "en"
        values: dict[str, object] = {}
        for name, value in self.params:
            if isinstance(value, Reason | Cause):
                values[name] = value.text("en" if en else "id")
            else:
                values[name] = value
        en_text, id_text = CATALOG[self.code]
        return render(en_text if en else id_text, values, lang)


def refused(code: str, /, **params: RefusalParam) -> Refused:
    """`Refused(code, params)` from keywords: `refused("ticket_closed", ticket=...)`."""
    return Refused(code, tuple(params.items()))
