"""The monthly report's words (page and PDF), Indonesian first, merged into the pages' catalog
(agent/web/i18n.py)."""

from __future__ import annotations

from collections.abc import Mapping

REPORT_WORDS: Mapping[str, tuple[str, str]] = {
    "nav.report": ("Laporan", "Report"),
    "report.title": ("Laporan Bulanan Ketersediaan Jaringan dan Kepatuhan SLA",
                     "Monthly Network Availability and SLA Compliance Report"),
    "report.page_title": ("Laporan bulanan {month}", "Monthly report {month}"),
    "report.period": ("Periode", "Period"),
    "report.period_value": ("{first} s.d. {last} ({zone})", "{first} to {last} ({zone})"),
    "report.generated": ("Dibuat", "Generated"),
    "report.month": ("Bulan", "Month"),
    "report.show": ("Tampilkan", "Show"),
    "report.download_pdf": ("Unduh PDF", "Download PDF"),
    "report.download_csv": ("Unduh CSV", "Download CSV"),
    "report.scope_agency": ("Hanya perangkat {owner}.", "Only {owner}'s devices."),
    "report.bad_month": ("Parameter 'bulan' harus berbentuk TTTT-BB (tahun-bulan), misalnya "
                         "2026-12; diterima: {value}",
                         "The 'bulan' parameter must be YYYY-MM (year-month), e.g. 2026-12; "
                         "got: {value}"),
    "report.unavailable": ("Laporan belum tersedia di agen ini.",
                           "Reports are not available on this agent."),
    "report.failed": ("Laporan tidak dapat dibuat: {reason}", "The report could not be made: "
                                                             "{reason}"),
    "report.summary": ("Ringkasan", "Summary"),
    "report.overall": ("Keseluruhan", "Overall"),
    "report.by_agency": ("Ketersediaan per Perangkat Daerah", "Availability per agency"),
    "report.by_device": ("Ketersediaan per perangkat", "Availability per device"),
    "report.chart": ("Grafik ketersediaan per Perangkat Daerah",
                     "Chart of availability per agency"),
    "report.chart_note": ("Hijau: ≥ 99 %, kuning: ≥ 95 %, merah: di bawah 95 %.",
                          "Green: ≥ 99 %, yellow: ≥ 95 %, red: below 95 %."),
    "report.compliance": ("Kepatuhan SLA per langkah SOP-006", "SLA compliance per SOP-006 step"),
    "report.compliance_of": ("Kepatuhan SLA: {owner}", "SLA compliance: {owner}"),
    "report.none": ("Tidak ada data pada periode ini.", "No data in this period."),
    "report.notes": ("Ketersediaan = waktu NORMAL ÷ waktu terpantau (NORMAL + MATI). Waktu "
                     "pemeliharaan, tak terjangkau (di balik induk yang gagal) dan tidak "
                     "terpantau (agen tidak berjalan) tidak dihitung dan ditampilkan terpisah.",
                     "Availability = time UP ÷ monitored time (UP + DOWN). Maintenance, "
                     "unreachable (behind a failing parent) and unmonitored time (no agent "
                     "watching) are not counted and are shown apart."),
    "rcol.availability": ("Ketersediaan", "Availability"),
    "rcol.devices": ("Perangkat", "Devices"),
    "rcol.down": ("Waktu mati", "Time down"),
    "rcol.maintenance": ("Pemeliharaan", "Maintenance"),
    "rcol.unreachable": ("Tak terjangkau", "Unreachable"),
    "rcol.unmonitored": ("Tak terpantau", "Unmonitored"),
    "rcol.outages": ("Gangguan", "Outages"),
    "rcol.mttr": ("Rerata pemulihan (MTTR)", "Mean time to repair"),
    "rcol.longest": ("Gangguan terlama", "Longest outage"),
    "rcol.step": ("Langkah", "Step"),
    "rcol.within": ("Tepat waktu", "Within SLA"),
    "rcol.breached": ("Melewati SLA", "Breached"),
    "rcol.share": ("Kepatuhan", "Compliance"),
    "rcol.median": ("Median", "Median"),
    "rcol.p90": ("P90", "P90"),
    "rcol.opened": ("Dibuka", "Opened"),
    "rcol.closed": ("Selesai", "Closed"),
    "rcol.still_open": ("Masih terbuka", "Still open"),
    "rcol.reopened": ("Dibuka kembali", "Reopened"),
    "report.sign_place": ("{city}, {date}", "{city}, {date}"),
}
