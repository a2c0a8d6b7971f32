"""The month, day, zone, role and fault names have one home (ticketing/indonesian.py): the messages,
the pages' words and the letters say them alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.web import i18n
from agent.web import indonesian as letters_words
from ticketing import indonesian, messages
from ticketing.models import Fault


class TestOneHome:
    """The pages, the letters and the messages read the same names."""

    @pytest.mark.parametrize("role", list(indonesian.ROLE_LABELS))
    def test_role_labels_agree(self, role: str) -> None:
        for lang, index in (("id", 0), ("en", 1)):
            label = indonesian.ROLE_LABELS[role][index]
            assert messages.role_label(role, lang) == label
            assert i18n.Words(lang, "Asia/Jakarta")(f"role.{role}") == label

    def test_page_only_roles_keep_their_labels(self) -> None:
        assert i18n.Words("id", "Asia/Jakarta")("role.admin") == "Administrator"
        assert messages.role_label("admin", "id") == "admin"  # not a SOP role in messages

    @pytest.mark.parametrize("fault", list(Fault))
    def test_fault_titles_agree(self, fault: Fault) -> None:
        english = indonesian.fault_title_en(fault)
        assert i18n.Words("id", "Asia/Jakarta")(f"fault.{fault.value}") == fault.title_id()
        assert i18n.Words("en", "Asia/Jakarta")(f"fault.{fault.value}") == english
        assert "{" not in english
        assert "  " not in english

    def test_short_months(self) -> None:
        assert indonesian.MONTHS_SHORT[7] == "Agu"
        assert indonesian.MONTHS_SHORT_EN[7] == "Aug"
        august = datetime(2026, 8, 17, 3, 0, tzinfo=UTC)
        assert i18n.Words("id", "Asia/Jakarta").when(august) == "17 Agu 2026 10.00"

    @pytest.mark.parametrize(("tz", "name"), [("Asia/Jakarta", "WIB"), ("Asia/Makassar", "WITA"),
                                              ("Asia/Jayapura", "WIT"),
                                              ("Europe/Berlin", "UTC+01:00")])
    def test_zone_names(self, tz: str, name: str) -> None:
        moment = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
        local = letters_words.local(moment, tz)
        assert indonesian.zone_name(local, tz) == name
        assert letters_words.when(moment, tz).endswith(f" {name}")
        assert messages.local_time(moment, tz).endswith(f" {name}")
