"""The report as CSV (`pantau report --format csv`): three tables one after another, each
with its header row and a blank line between them: availability (per device, per agency,
overall), SLA compliance per step, and ticket counts. Headers in Indonesian ("id") or
English ("en"); the numbers are exactly the JSON's (unrounded: ratios 0..1, seconds), an
empty cell where the JSON has null."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from agent.reports.json_out import availability_json
from agent.reports.model import Availability, MonthlyReport

LANGS = ("id", "en")

_HEADERS = {
    "id": {
        "availability": ["tingkat", "instansi", "perangkat", "lokasi", "ketersediaan",
                         "waktu_terpantau_detik", "waktu_hidup_detik", "waktu_mati_detik",
                         "waktu_tak_terjangkau_detik", "waktu_pemeliharaan_detik",
                         "waktu_tidak_terpantau_detik", "jumlah_gangguan", "mttr_detik",
                         "gangguan_terlama_detik"],
        "steps": ["instansi", "langkah", "peran", "sesuai_sla", "melewati_sla",
                  "median_detik", "p90_detik"],
        "tickets": ["instansi", "dibuka", "ditutup", "masih_terbuka", "dibuka_kembali"],
        "levels": {"device": "perangkat", "agency": "instansi", "overall": "keseluruhan"},
        "all": "semua",
    },
    "en": {
        "availability": ["level", "agency", "device", "site", "availability",
                         "monitored_seconds", "up_seconds", "down_seconds",
                         "unreachable_seconds", "maintenance_seconds", "unmonitored_seconds",
                         "outages", "mttr_seconds", "longest_outage_seconds"],
        "steps": ["agency", "step", "role", "within_sla", "breached", "median_seconds",
                  "p90_seconds"],
        "tickets": ["agency", "opened", "closed", "still_open", "reopened"],
        "levels": {"device": "device", "agency": "agency", "overall": "overall"},
        "all": "all",
    },
}


def _n(value: float | int | None) -> str:
    """A number as the JSON writes it (repr of a float round-trips exactly)."""
    return "" if value is None else repr(value)


def _a(a: Availability) -> list[str]:
    """The availability columns: the JSON's values, in its order."""
    return [_n(v) for v in availability_json(a).values()]


def render_csv(report: MonthlyReport, lang: str) -> str:
    """ValueError for a language other than "id" or "en"."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: expected one of {', '.join(LANGS)}")
    h = _HEADERS[lang]
    levels = h["levels"]
    assert isinstance(levels, dict)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")

    def table(header: object, rows: Sequence[list[str]]) -> None:
        assert isinstance(header, list)
        w.writerow(header)
        w.writerows(rows)

    table(h["availability"], [
        *([levels["device"], d.owner, d.device, d.site or "", *_a(d.availability)]
          for d in report.devices),
        *([levels["agency"], a.owner, "", "", *_a(a.availability)] for a in report.agencies),
        [levels["overall"], "", "", "", *_a(report.overall)],
    ])
    w.writerow([])
    every = str(h["all"])
    table(h["steps"], [[c.owner or every, str(s.no), s.role, str(s.within_sla),
                        str(s.breached), _n(s.median_seconds), _n(s.p90_seconds)]
                       for c in report.compliance for s in c.steps])
    w.writerow([])
    table(h["tickets"], [[c.owner or every, str(c.tickets.opened), str(c.tickets.closed),
                          str(c.tickets.still_open), str(c.tickets.reopened)]
                         for c in report.compliance])
    return out.getvalue()
