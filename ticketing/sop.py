"""SOP-006 as data: nine steps, each with its role, SLA, output document and optional gate.

Changing a step, a role or an SLA is an edit here (or `[sop]` in the config), never in
`workflow.py`. Each ticket records the SOP version it was opened under.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Who acts on a step (Pelaksana). `admin` may act for any role."""

    PERANGKAT_DAERAH = "perangkat_daerah"  # the agency that owns the device
    KEPALA_DINAS = "kepala_dinas"  # head of the IT department
    KABID = "kabid"  # head of the IT division
    KASI = "kasi"  # head of section
    TEKNISI = "teknisi"  # staff and technicians
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Sla:
    """`amount` units of time: "day" (calendar or working day), "hour" or "minute"."""

    amount: int
    unit: str  # "day" | "hour" | "minute"

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'s' if self.amount != 1 else ''}"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a step's output document."""

    name: str  # key in the step's output, e.g. "note"
    kind: str  # "text" | "bool" | "list" (of text)
    required: bool
    label_id: str  # Indonesian label
    label_en: str


@dataclass(frozen=True, slots=True)
class StepSpec:
    no: int  # 1..9, as numbered in SOP-006
    key: str  # stable, stored in the database
    role: Role  # who completes it
    hands_to: Role | None  # who receives the output (None for the technician's own checks)
    output: str  # the document recorded on completion
    sla: Sla
    fields: tuple[FieldSpec, ...]
    title_id: str
    title_en: str
    gate: str | None = None  # named precondition, e.g. "connectivity_verified"


@dataclass(frozen=True, slots=True)
class Sop:
    version: int
    number: str  # "006"
    title: str
    steps: tuple[StepSpec, ...]  # exactly 9, numbered 1..9

    def step(self, no: int) -> StepSpec:
        """Step `no` (1..N); KeyError for any other number."""
        spec = self.find(no)
        if spec is None:
            raise KeyError(f"SOP-{self.number} has no step {no} (steps are 1..{len(self.steps)})")
        return spec

    def find(self, no: int) -> StepSpec | None:
        """Step `no`, or None when the SOP has no such step: the one range check."""
        return self.steps[no - 1] if 1 <= no <= len(self.steps) else None

    def __post_init__(self) -> None:
        if [s.no for s in self.steps] != list(range(1, len(self.steps) + 1)):
            raise ValueError("SOP steps must be numbered 1..N in order")


NOTE = FieldSpec("note", "text", True, "Catatan", "Note")
TO = FieldSpec("to", "text", True, "Diteruskan kepada", "Passed to")
FINDINGS = FieldSpec("findings", "text", True, "Hasil pengecekan", "Findings")
DEVICES = FieldSpec("devices", "list", True, "Perangkat yang dipasang/diganti",
                    "Devices to install or replace")
STOCK = FieldSpec("stock_available", "bool", True, "Stok barang tersedia",
                  "Spare devices in stock")
ACTION = FieldSpec("action", "text", True, "Tindakan yang dilakukan", "What was done")
SUBJECT = FieldSpec("subject", "text", True, "Perihal", "Subject")
DESCRIPTION = FieldSpec("description", "text", True, "Uraian", "Description")

DAY, HOUR, TEN_MINUTES = Sla(1, "day"), Sla(1, "hour"), Sla(10, "minute")
R = Role

SOP_006 = Sop(
    version=1,
    number="006",
    title="Pemasangan dan Penggantian Perangkat Jaringan",
    steps=(
        StepSpec(1, "surat_permohonan", R.PERANGKAT_DAERAH, R.KEPALA_DINAS, "Surat Permohonan",
                 DAY, (SUBJECT, DESCRIPTION),
                 "Pengajuan pemasangan/penggantian perangkat jaringan oleh Perangkat Daerah",
                 "The agency asks for installation or replacement of network devices"),
        StepSpec(2, "disposisi_kabid", R.KEPALA_DINAS, R.KABID, "Lembar Disposisi", DAY,
                 (NOTE, TO), "Kepala Dinas mendisposisikan ke Kepala Bidang TI",
                 "The head of department disposes it to the head of the IT division"),
        StepSpec(3, "disposisi_kasi", R.KABID, R.KASI, "Lembar Disposisi", DAY, (NOTE, TO),
                 "Kepala Bidang TI mendisposisikan ke Kepala Seksi",
                 "The head of the IT division disposes it to the head of section"),
        StepSpec(4, "disposisi_teknisi", R.KASI, R.TEKNISI, "Lembar Disposisi", DAY, (NOTE, TO),
                 "Kepala Seksi mendisposisikan ke staf/teknisi",
                 "The head of section disposes it to staff/technicians"),
        StepSpec(5, "pengecekan_perangkat", R.TEKNISI, None, "Proses Pengecekan", HOUR,
                 (FINDINGS, DEVICES), "Pengecekan perangkat yang perlu dipasang atau diganti",
                 "Check which devices must be installed or replaced"),
        StepSpec(6, "pengecekan_barang", R.TEKNISI, None, "Proses Pengecekan", DAY,
                 (FINDINGS, STOCK), "Pengecekan barang di Diskominfostandi",
                 "Check of the spare devices at the department"),
        StepSpec(7, "laporan_teknisi", R.TEKNISI, R.KASI, "Laporan Tindaklanjut", TEN_MINUTES,
                 (ACTION,), "Staf/teknisi melaporkan hasil tindak lanjut ke Kepala Seksi",
                 "The technician reports the follow-up to the head of section",
                 gate="connectivity_verified"),
        StepSpec(8, "laporan_kasi", R.KASI, R.KABID, "Laporan Tindaklanjut", TEN_MINUTES,
                 (ACTION,), "Kepala Seksi melaporkan hasil pengerjaan ke Kepala Bidang",
                 "The head of section reports the result to the head of the IT division"),
        StepSpec(9, "laporan_kabid", R.KABID, R.KEPALA_DINAS, "Laporan Tindaklanjut",
                 TEN_MINUTES, (ACTION,),
                 "Kepala Bidang melaporkan hasil pengerjaan ke Kepala Dinas",
                 "The head of the IT division reports the result to the head of department"),
    ),
)
