"""The pages' words in Indonesian (the default) and English, and how times, durations and
numbers are written in each. Letters are always Indonesian (agent/web/letters.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from agent.web.report_words import REPORT_WORDS
from ticketing.indonesian import LANGS as LANGS  # the pages' languages (the messages' too)
from ticketing.indonesian import (
    MONTHS_SHORT,
    MONTHS_SHORT_EN,
    ROLE_LABELS,
    fault_title_en,
)
from ticketing.models import Fault

DEFAULT_LANG = "id"

#: key -> (Indonesian, English). Placeholders use str.format names.
CATALOG: Mapping[str, tuple[str, str]] = {
    # layout and navigation
    "app.tagline": ("Pemantauan jaringan dan SOP-006", "Network monitoring and SOP-006"),
    "nav.devices": ("Perangkat", "Devices"),
    "nav.tickets": ("Tiket", "Tickets"),
    "nav.new": ("Ajukan permohonan", "File a request"),
    "nav.notifications": ("Notifikasi", "Notifications"),
    "nav.mine": ("Notifikasi saya", "My notifications"),
    "nav.signout": ("Keluar", "Sign out"),
    "nav.signout_everywhere": ("Keluarkan semua sesi", "Sign everyone out"),
    "nav.lang": ("English", "Bahasa Indonesia"),
    "nav.signed_in": ("Masuk sebagai {name} ({role})", "Signed in as {name} ({role})"),
    # sign-in
    "login.title": ("Masuk", "Sign in"),
    "login.user": ("Nama pengguna", "User name"),
    "login.password": ("Kata sandi", "Password"),
    "login.submit": ("Masuk", "Sign in"),
    "login.failed": ("Nama pengguna atau kata sandi salah.", "Wrong user name or password."),
    "login.throttled": ("Terlalu banyak percobaan gagal. Coba lagi dalam {seconds} detik.",
                        "Too many failed attempts. Try again in {seconds} seconds."),
    "login.signed_out": ("Anda telah keluar.", "You have signed out."),
    "login.signed_out_everywhere": ("{count} sesi diakhiri, termasuk sesi Anda.",
                                    "{count} sessions ended, yours included."),
    "login.expired": ("Sesi berakhir. Silakan masuk lagi.", "Your session ended. Please sign in."),
    # errors
    "error.title": ("Terjadi kesalahan", "Something went wrong"),
    "error.csrf": ("Formulir kedaluwarsa atau tidak sah. Muat ulang halaman dan coba lagi.",
                   "The form expired or is not valid. Reload the page and try again."),
    "error.forbidden": ("Peran Anda tidak boleh melakukan ini.", "Your role may not do this."),
    "error.not_found": ("Tidak ditemukan.", "Not found."),
    "error.unavailable": ("Penyimpanan tiket sedang tidak tersedia. Coba lagi sebentar lagi.",
                          "The ticket store is unavailable. Try again shortly."),
    "error.back": ("Kembali", "Back"),
    # device board
    "devices.title": ("Papan perangkat", "Device board"),
    "devices.refresh": ("Diperbarui otomatis setiap {seconds} detik",
                        "Refreshes every {seconds} s"),
    "devices.none": ("Belum ada perangkat.", "No devices yet."),
    # one device
    "device.faults": ("Gangguan", "Faults"),
    "device.no_faults": ("Tidak ada gangguan.", "No faults."),
    "device.traps": ("Notifikasi SNMP lain", "Other SNMP notifications"),
    "device.no_traps": ("Belum ada notifikasi SNMP lain.", "No other SNMP notifications yet."),
    "col.received": ("Diterima", "Received"),
    "col.version": ("Versi", "Version"),
    "col.oid": ("OID", "OID"),
    "col.varbinds": ("Isi (varbind)", "Varbinds"),
    "col.device": ("Perangkat", "Device"),
    "col.owner": ("Perangkat Daerah", "Agency"),
    "col.site": ("Lokasi", "Site"),
    "col.state": ("Status", "State"),
    "col.rtt": ("RTT", "RTT"),
    "col.loss": ("Kehilangan paket", "Packet loss"),
    "col.ifdown": ("Antarmuka mati", "Interfaces down"),
    "col.since": ("Sejak", "Since"),
    "col.ticket": ("Tiket", "Ticket"),
    "col.step": ("Langkah", "Step"),
    "col.fault": ("Gangguan", "Fault"),
    "col.opened": ("Dibuka", "Opened"),
    "col.due": ("Batas waktu", "Due"),
    "col.left": ("Sisa waktu", "Time left"),
    "col.role": ("Pelaksana", "Role"),
    "col.started": ("Mulai", "Started"),
    "col.completed": ("Selesai", "Completed"),
    "col.sla": ("SLA", "SLA"),
    "col.document": ("Dokumen", "Document"),
    "col.time": ("Waktu", "Time"),
    "col.round": ("Putaran", "Round"),
    "col.check": ("Pemeriksaan", "Check"),
    "col.status": ("Status", "Status"),
    "col.reason": ("Alasan", "Reason"),
    "col.created": ("Dibuat", "Created"),
    "col.recipient": ("Penerima", "Recipient"),
    "col.channel": ("Saluran", "Channel"),
    "col.address": ("Alamat", "Address"),
    "col.subject": ("Perihal", "Subject"),
    "col.tries": ("Percobaan", "Tries"),
    "col.next": ("Dicoba lagi", "Next try"),
    "col.last_error": ("Galat terakhir", "Last error"),
    "state.up": ("NORMAL", "UP"),
    "state.down": ("MATI", "DOWN"),
    "state.unreachable": ("TAK TERJANGKAU", "UNREACHABLE"),
    "state.flapping": ("TIDAK STABIL", "FLAPPING"),
    "state.maintenance": ("PEMELIHARAAN", "MAINTENANCE"),
    "state.unknown": ("BELUM DIKETAHUI", "UNKNOWN"),
    "status.ok": ("baik", "ok"),
    "status.warning": ("sebagian", "partial"),
    "status.down": ("gagal", "down"),
    "status.unknown": ("tak diketahui", "unknown"),
    # tickets board
    "tickets.title": ("Tiket per langkah SOP-006", "Tickets per SOP-006 step"),
    "tickets.open": ("Terbuka", "Open"),
    "tickets.closed": ("Selesai", "Closed"),
    "tickets.none_in_step": ("Tidak ada tiket pada langkah ini.", "No ticket in this step."),
    "tickets.none": ("Tidak ada tiket.", "No tickets."),
    "tickets.count": ("{count} tiket", "{count} ticket(s)"),
    "tickets.breached_count": ("{count} melewati SLA", "{count} past SLA"),
    "sla.left": ("sisa {duration}", "{duration} left"),
    "sla.over": ("lewat {duration}", "{duration} over"),
    "sla.breached": ("Melewati SLA", "SLA breached"),
    "sla.met": ("Tepat waktu", "On time"),
    "sla.waiting": ("Menunggu", "Waiting"),
    # the faults' names have one home: ticketing.models.Fault.phrase_id (Indonesian) and
    # ticketing.indonesian.fault_title_en (English), which the messages use too
    **{f"fault.{fault.value}": (fault.title_id(), fault_title_en(fault)) for fault in Fault},
    "trigger.auto": ("otomatis", "automatic"),
    "trigger.manual": ("manual", "manual"),
    # a ticket's page
    "ticket.title": ("Tiket {id}", "Ticket {id}"),
    "ticket.status.open": ("TERBUKA", "OPEN"),
    "ticket.status.closed": ("SELESAI", "CLOSED"),
    "ticket.current_step": ("Langkah saat ini", "Current step"),
    "ticket.restored": ("Pemulihan teramati pada {at}", "Restoration observed at {at}"),
    "ticket.not_restored": ("Gangguan masih teramati", "The fault is still observed"),
    "ticket.affected": ("Perangkat terdampak", "Affected devices"),
    "ticket.flapping": ("Perangkat tidak stabil (flapping)", "The device is flapping"),
    "ticket.reopened": ("Dibuka kembali {count} kali", "Reopened {count} time(s)"),
    "ticket.evidence": ("Bukti gangguan", "Evidence"),
    "ticket.no_evidence": ("Tidak ada bukti yang tercatat.", "No evidence recorded."),
    "ticket.measurements": ("Pengukuran terakhir", "Last measurements"),
    "ticket.steps": ("Langkah-langkah", "Steps"),
    "ticket.timeline": ("Riwayat", "Timeline"),
    "ticket.action": ("Tindakan Anda", "Your action"),
    "ticket.no_action": ("Tidak ada tindakan untuk peran Anda pada langkah ini "
                         "(langkah {step}: {role}).",
                         "Nothing for your role in this step (step {step}: {role})."),
    "ticket.closed_no_action": ("Tiket ini sudah selesai.", "This ticket is closed."),
    "ticket.complete": ("Selesaikan langkah {step}", "Complete step {step}"),
    "ticket.gate": ("Langkah ini baru diterima setelah verifikasi langsung membuktikan "
                    "koneksi pulih. Jika belum ada verifikasi lulus yang baru, pantau "
                    "menjalankannya saat Anda menyimpan.",
                    "This step is accepted only after a live verification shows connectivity "
                    "is back. Without a fresh passed verification, pantau runs one when you "
                    "submit."),
    "ticket.list_hint": ("satu per baris", "one per line"),
    "ticket.note": ("Tambah catatan", "Add a note"),
    "ticket.note_submit": ("Simpan catatan", "Save note"),
    "ticket.step_done": ("Langkah {step} selesai.", "Step {step} completed."),
    "ticket.noted": ("Catatan disimpan.", "Note saved."),
    "ticket.refused": ("Ditolak: {reason}", "Refused: {reason}"),
    "ticket.field_error": ("Isian '{field}': {message}", "Field '{field}': {message}"),
    "ticket.yes": ("Ya", "Yes"),
    "ticket.no": ("Tidak", "No"),
    # verification
    "verify.title": ("Verifikasi langsung", "Live verification"),
    "verify.now": ("Verifikasi sekarang", "Verify now"),
    "verify.running": ("Memverifikasi…", "Verifying…"),
    "verify.help": ("pantau mengirim probe langsung ke perangkat tiket ini dan mencatat "
                    "hasilnya.", "pantau probes this ticket's devices live and records the "
                                "result."),
    "verify.none": ("Belum pernah diverifikasi.", "Not verified yet."),
    "verify.passed": ("LULUS", "PASSED"),
    "verify.failed": ("GAGAL", "FAILED"),
    "verify.result": ("Hasil verifikasi {verdict}: {reason}", "Verification {verdict}: {reason}"),
    "verify.window": ("{started} s.d. {finished}", "{started} to {finished}"),
    # a manual request
    "new.title": ("Surat Permohonan baru", "New request letter"),
    "new.device": ("Perangkat (nama di inventaris, atau nama baru untuk pemasangan)",
                   "Device (inventory name, or a new name for an installation)"),
    "new.owner": ("Perangkat Daerah", "Agency"),
    "new.subject": ("Perihal", "Subject"),
    "new.description": ("Uraian", "Description"),
    "new.submit": ("Ajukan", "Submit"),
    "new.filed": ("Permohonan {id} diajukan.", "Request {id} filed."),
    # notifications: the admin's outbox page and a user's own channels
    "notify.title": ("Notifikasi yang belum terkirim", "Undelivered notifications"),
    "notify.not_configured": ("Notifikasi belum dikonfigurasi (tidak ada saluran [notify]).",
                              "Notifications are not configured (no [notify] channel)."),
    "notify.stats": ("{count} pesan menunggu dikirim", "{count} message(s) waiting"),
    "notify.oldest": ("yang tertua sejak {at}", "the oldest since {at}"),
    "notify.help": ("Pesan yang gagal dan yang menunggu, terbaru di atas. \u201cKirim ulang\u201d "
                    "menjadwalkan pesan untuk dikirim sekarang.",
                    "Failed and waiting messages, newest first. \u201cRetry\u201d queues a "
                    "message to be sent now."),
    "notify.none": ("Tidak ada pesan yang gagal atau menunggu.", "No failed or waiting messages."),
    "notify.retry": ("Kirim ulang", "Retry"),
    "notify.retried": ("Pesan {id} dijadwalkan untuk dikirim ulang sekarang.",
                       "Message {id} is queued to be sent again now."),
    "notify.not_retried": ("Pesan {id} tidak dapat dikirim ulang (tidak ada, atau sudah "
                           "terkirim).", "Message {id} cannot be retried (unknown, or sent)."),
    "notify.test_wait": ("Tunggu {seconds} detik sebelum mengirim pesan uji lagi.",
                         "Wait {seconds} s before sending another test message."),
    "mine.title": ("Saluran notifikasi saya", "My notification channels"),
    "mine.help": ("pantau memberi tahu Anda lewat saluran berikut. \u201cKirim pesan uji\u201d "
                  "mengirim satu pesan ke setiap saluran sekarang.",
                  "pantau tells you on these channels. \u201cSend a test message\u201d sends one "
                  "message to each of them now."),
    "mine.none": ("Belum ada saluran untuk Anda. Minta administrator mengisi telegram_chat_id "
                  "atau email Anda di konfigurasi.", "No channel reaches you yet. Ask an "
                  "administrator to set your telegram_chat_id or email in the configuration."),
    "mine.send_test": ("Kirim pesan uji", "Send a test message"),
    "mine.sending": ("Mengirim\u2026", "Sending\u2026"),
    "mine.results": ("Hasil pesan uji", "Test message results"),
    "mine.sent": ("Terkirim", "Sent"),
    "mine.failed": ("Gagal: {reason}", "Failed: {reason}"),
    "channel.telegram": ("Telegram", "Telegram"),
    "channel.email": ("Surel (e-mail)", "E-mail"),
    "channel.webhook": ("Webhook {name}", "Webhook {name}"),
    "delivery.waiting": ("Menunggu", "Waiting"),
    "delivery.failed": ("Gagal", "Failed"),
    "delivery.sent": ("Terkirim", "Sent"),
    # timeline events
    "event.opened": ("Tiket dibuka", "Ticket opened"),
    "event.step_completed": ("Langkah {step} selesai", "Step {step} completed"),
    "event.failure_observed": ("Gangguan teramati", "Fault observed"),
    "event.restoration_observed": ("Pemulihan teramati", "Restoration observed"),
    "event.affected_added": ("Perangkat terdampak ditambahkan", "Affected devices added"),
    "event.flapping_changed": ("Status flapping berubah", "Flapping changed"),
    "event.verification": ("Verifikasi langsung", "Live verification"),
    "event.step_breached": ("Langkah {step} melewati SLA", "Step {step} past its SLA"),
    "event.reopened": ("Tiket dibuka kembali", "Ticket reopened"),
    "event.note": ("Catatan", "Note"),
    "event.closed": ("Tiket selesai", "Ticket closed"),
    # roles
    # the SOP roles' labels have one home: ticketing.indonesian.ROLE_LABELS
    **{f"role.{role}": pair for role, pair in ROLE_LABELS.items()},
    "role.admin": ("Administrator", "Administrator"),
    "role.system": ("Sistem pantau", "pantau system"),
    "role.alertmanager": ("Alertmanager", "Alertmanager"),
    # durations
    "unit.d": ("h", "d"),
    "unit.h": ("j", "h"),
    "unit.m": ("m", "m"),
    "unit.s": ("d", "s"),
    "sla.unit.day": ("hari", "day(s)"),
    "sla.unit.hour": ("jam", "hour(s)"),
    "sla.unit.minute": ("menit", "minute(s)"),
    **REPORT_WORDS,  # the monthly report's page and PDF
}

_MONTHS = {"id": MONTHS_SHORT, "en": MONTHS_SHORT_EN}


def pick_lang(value: object) -> str:
    return value if isinstance(value, str) and value in LANGS else DEFAULT_LANG


@dataclass(frozen=True, slots=True)
class Words:
    """What a template calls `t(...)`, `when(...)` and `span(...)` for one language and zone."""

    lang: str
    tz: str

    def __call__(self, key: str, **params: object) -> str:
        pair = CATALOG.get(key)
        if pair is None:
            return key  # a missing key shows itself (tests check the catalog is complete)
        text = pair[0] if self.lang == "id" else pair[1]
        return text.format(**params) if params else text

    def when(self, moment: datetime | str | None) -> str:
        """"24 Nov 2026 08.15" (id) or "24 Nov 2026 08:15" (en), in the agency's zone."""
        if moment is None or moment == "":
            return "—"
        at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        at = at.astimezone(ZoneInfo(self.tz))
        sep = "." if self.lang == "id" else ":"
        month = _MONTHS[self.lang][at.month - 1]
        return f"{at.day} {month} {at.year} {at.hour:02d}{sep}{at.minute:02d}"

    def span(self, seconds: float) -> str:
        """A duration in its two largest units: "2 j 05 m", "3 h 4 j", "45 d"."""
        total = int(abs(seconds))
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        d, h, m, s = (self(f"unit.{u}") for u in "dhms")
        if days:
            return f"{days} {d} {hours} {h}"
        if hours:
            return f"{hours} {h} {minutes:02d} {m}"
        if minutes:
            return f"{minutes} {m} {secs:02d} {s}"
        return f"{secs} {s}"

    def number(self, value: float, digits: int = 1) -> str:
        text = f"{value:,.{digits}f}"
        if self.lang == "id":  # 1.234,5
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text
