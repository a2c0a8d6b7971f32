"""[traps]: the receiver's section, its defaults, its checks and check-config's summary
(the bad files with their exact messages are in tests/data/config/bad/traps_*)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from agent.check_config import check_config
from agent.config import TrapSettings, loads
from agent.core.errors import ConfigError


class TestTrapsSection:
    """The section's presence turns the receiver on; every key has its default."""

    def test_absent_means_no_receiver(self) -> None:
        assert loads("").traps is None

    def test_listen_alone_takes_the_defaults(self) -> None:
        traps = loads('[traps]\nlisten = "0.0.0.0:162"\n').traps
        assert traps == TrapSettings(listen_host="0.0.0.0", listen_port=162)
        assert (traps.per_device_per_second, traps.per_device_burst, traps.overall_per_second,
                traps.match_agent_address, traps.confirm_after, traps.ring_size) == (
            20.0, 100, 1000.0, False, 1, 50)

    def test_every_key(self) -> None:
        traps = loads(
            '[traps]\nlisten = "[::1]:0"\nper_device_per_second = 5\nper_device_burst = 7\n'
            'overall_per_second = 50.5\nmatch_agent_address = true\nconfirm_after = 2\n'
            'ring_size = 3\n').traps
        assert traps == TrapSettings(
            listen_host="::1", listen_port=0, per_device_per_second=5.0, per_device_burst=7,
            overall_per_second=50.5, match_agent_address=True, confirm_after=2, ring_size=3)

    def test_a_rejected_rate_is_not_compared(self) -> None:
        with pytest.raises(ConfigError) as caught:
            loads('[traps]\nlisten = "127.0.0.1:1162"\nper_device_per_second = -1\n'
                  'overall_per_second = 10\n')
        assert [p.path for p in caught.value.problems] == ["traps.per_device_per_second"]


class TestCheckConfig:
    """check-config names where the receiver listens."""

    def test_summary(self, tmp_path: Path) -> None:
        path = tmp_path / "p.toml"
        path.write_text('[traps]\nlisten = "[::]:1162"\n', encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ={}) == 0
        assert out.getvalue().endswith("; notify: none; traps: [::]:1162\n")

    def test_no_traps_no_mention(self, tmp_path: Path) -> None:
        path = tmp_path / "p.toml"
        path.write_text("", encoding="utf-8")
        out = io.StringIO()
        assert check_config(path, out, environ={}) == 0
        assert out.getvalue().endswith("; notify: none\n")


class TestReadme:
    """The README's [traps] example is valid and its lists follow the code."""

    README = Path(__file__).resolve().parents[2] / "README.md"

    def section(self) -> str:
        text = self.README.read_text(encoding="utf-8")
        return text.split("### SNMP traps\n", 1)[1].split("\n### ", 1)[0]

    def test_example_is_the_defaults(self) -> None:
        example = self.section().split("```toml\n", 1)[1].split("```", 1)[0]
        assert loads(example).traps == TrapSettings(listen_host="0.0.0.0", listen_port=162)

    def test_every_drop_reason_is_named(self) -> None:
        from agent.core.traps import DROP_REASONS

        named = self.section().split("`pantau_traps_dropped_total{reason}`", 1)[1]
        assert all(f"`{reason}`" in named for reason in DROP_REASONS)
