"""The server-side sign-ins, on a FakeClock (issue 14, finding 4; the throttle is in
test_throttle.py)."""

from __future__ import annotations

from agent.web.signins import SignIns
from tests.fakes import FakeClock


class TestSignIns:
    """A sign-in ends at its lifetime from the start, at sign-out, or for everyone at once."""

    def test_hard_lifetime_from_the_sign_in(self) -> None:
        clock = FakeClock()
        signins = SignIns(clock.monotonic, lifetime=12 * 3600)
        sid = signins.start("kasi")
        clock.advance(12 * 3600 - 1)
        assert signins.user_of(sid) == "kasi"
        clock.advance(1)
        assert signins.user_of(sid) is None

    def test_end_and_end_all(self) -> None:
        signins = SignIns(FakeClock().monotonic, lifetime=3600)
        first, second, third = (signins.start(n) for n in ("kasi", "kasi", "admin"))
        signins.end(first)
        assert signins.user_of(first) is None
        assert signins.user_of(second) == "kasi"
        assert signins.end_all() == 2
        assert signins.user_of(third) is None
        assert signins.user_of(None) is None
        assert signins.user_of(123) is None

    def test_bounded_oldest_first(self) -> None:
        clock = FakeClock()
        signins = SignIns(clock.monotonic, lifetime=3600, cap=2)
        sids = []
        for _ in range(3):
            sids.append(signins.start("kasi"))
            clock.advance(1)
        assert len(signins) == 2
        assert signins.user_of(sids[0]) is None
        assert signins.user_of(sids[2]) == "kasi"

    def test_ids_are_unguessable(self) -> None:
        signins = SignIns(FakeClock().monotonic, lifetime=3600)
        sids = {signins.start("kasi") for _ in range(100)}
        assert len(sids) == 100
        assert all(len(s) >= 43 for s in sids)
