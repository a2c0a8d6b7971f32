"""The names the messages (ticketing/messages.py) and the pages (agent/web) share, kept once:
months and weekdays in Indonesian and English, Indonesia's time zones, the SOP roles' labels,
the faults' English titles (the Indonesian ones are ticketing.models.Fault's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

#: the languages of the pages and the messages, the default first
LANGS = ("id", "en")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")  # index = weekday()
DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: "Jan" ... "Des" / "Dec": both languages shorten a month to its first three letters
MONTHS_SHORT = tuple(m[:3] for m in MONTHS)
MONTHS_SHORT_EN = tuple(m[:3] for m in MONTHS_EN)
#: Indonesia's zones by name; any other zone is written as its UTC offset.
ZONE_NAMES: Mapping[str, str] = MappingProxyType({
    "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT"})
#: the SOP roles as people read them: role -> (Indonesian, English)
ROLE_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "perangkat_daerah": ("Perangkat Daerah", "Agency"),
    "kepala_dinas": ("Kepala Dinas", "Head of department"),
    "kabid": ("Kepala Bidang TI", "Head of IT division"),
    "kasi": ("Kepala Seksi", "Head of section"),
    "teknisi": ("Staf/Teknisi", "Technician"),
})
#: fault -> its English title; {item} is the ticket's item (an interface), "" for none
FAULT_TITLES_EN: Mapping[str, str] = MappingProxyType({
    "device_down": "Device unreachable", "interface_down": "Interface {item} down",
    "snmp_down": "SNMP agent not answering", "manual": "Request"})


def fault_title_en(fault: str, item: str = "") -> str:
    """The fault's English title, as Fault.title_id gives the Indonesian one: "Interface
    Gi0/1 down", or "Interface down" without `item`."""
    return " ".join(FAULT_TITLES_EN[fault].format(item=item).split())


#: Indonesia's zones by their UTC offset in hours, for a time that carries only its offset.
ZONE_BY_OFFSET: Mapping[int, str] = MappingProxyType({7: "WIB", 8: "WITA", 9: "WIT"})


def offset_zone_name(moment: datetime) -> str:
    """"WITA" for an aware time at +08:00, ...; "UTC+hh:mm" (or "UTC") outside Indonesia."""
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if seconds % 3600 == 0 and seconds // 3600 in ZONE_BY_OFFSET:
        return ZONE_BY_OFFSET[seconds // 3600]
    text = moment.strftime("%z")
    return "UTC" if not seconds else f"UTC{text[:3]}:{text[3:]}"


def zone_name(moment: datetime, tz: str) -> str:
    """"WIB", "WITA", "WIT", or "UTC+hh:mm" for a zone outside Indonesia (from the aware
    `moment`'s offset)."""
    name = ZONE_NAMES.get(tz)
    if name is not None:
        return name
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else tz
