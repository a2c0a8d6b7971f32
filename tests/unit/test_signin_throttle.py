"""The sign-in throttle and the server-side sign-ins, on a FakeClock (issue 14, findings 3, 4)."""

from __future__ import annotations

from agent.web.signins import SignIns
from agent.web.throttle import Attempt, Throttle, client_key
from tests.fakes import FakeClock


def fail(throttle: Throttle, name: str, client: str) -> None:
    attempt = throttle.reserve(name, client)
    assert isinstance(attempt, Attempt), (name, client, attempt)
    throttle.failed(attempt)


class TestThrottle:
    """Attempts are reserved up front, counted per name and per client, in bounded tables."""

    def test_reservations_count_before_any_check_ends(self) -> None:
        throttle = Throttle(FakeClock().monotonic)
        reserved = [throttle.reserve("kasi", f"127.0.0.{i}") for i in range(40)]
        assert sum(isinstance(r, Attempt) for r in reserved) == 5
        assert all(r == 1 for r in reserved if not isinstance(r, Attempt))

    def test_five_failures_lock_a_name_for_a_minute_then_one_try_at_a_time(self) -> None:
        clock = FakeClock()
        throttle = Throttle(clock.monotonic)
        for i in range(5):
            fail(throttle, "kasi", f"127.0.0.{i}")
        assert throttle.reserve("kasi", "127.0.0.9") == 60
        clock.advance(61)
        first = throttle.reserve("kasi", "127.0.0.9")
        assert isinstance(first, Attempt)
        assert throttle.reserve("kasi", "127.0.0.8") == 1  # one in flight after a lockout
        throttle.failed(first)
        assert throttle.reserve("kasi", "127.0.0.8") == 60

    def test_one_client_is_throttled_across_names(self) -> None:
        throttle = Throttle(FakeClock().monotonic)
        for i in range(20):
            fail(throttle, f"tamu-{i}", "127.0.0.1")
        assert throttle.reserve("tamu-99", "127.0.0.1") == 60
        assert isinstance(throttle.reserve("tamu-99", "127.0.0.2"), Attempt)

    def test_an_ipv6_client_counts_by_its_64(self) -> None:
        throttle = Throttle(FakeClock().monotonic)
        for i in range(20):
            fail(throttle, f"tamu-{i}", f"::1:0:0:{i:x}")
        assert throttle.reserve("tamu-99", "::1:ffff:ffff:ffff") == 60
        assert isinstance(throttle.reserve("tamu-99", "0:0:0:1::1"), Attempt)
        assert client_key("::ffff:127.0.0.1") == "127.0.0.1"
        assert client_key("127.0.0.1") == "127.0.0.1"
        assert client_key("-") == "-"

    def test_success_forgets_the_name_but_not_the_clients_guesses(self) -> None:
        throttle = Throttle(FakeClock().monotonic)
        for i in range(4):
            fail(throttle, "kasi", "127.0.0.1")
            fail(throttle, f"lain-{i}", "127.0.0.1")
        good = throttle.reserve("kasi", "127.0.0.1")
        assert isinstance(good, Attempt)
        throttle.succeeded(good)
        assert throttle.wait("kasi") == 0
        for i in range(12):
            fail(throttle, f"lagi-{i}", "127.0.0.1")
        assert throttle.reserve("lagi-x", "127.0.0.1") == 60  # 4 + 4 + 12 = 20 failures

    def test_ten_thousand_junk_names_do_not_free_a_locked_victim(self) -> None:
        clock = FakeClock()
        throttle = Throttle(clock.monotonic)
        for _ in range(5):
            fail(throttle, "kasi", "127.0.0.1")
        for i in range(10_000):
            attempt = throttle.reserve(f"junk-{i}", f"127.1.{i // 250}.{i % 250}")
            if isinstance(attempt, Attempt):
                throttle.failed(attempt)
        assert throttle.wait("kasi") == 60
        names, clients = throttle.size()
        assert names <= 10_000
        assert clients <= 10_000

    def test_a_table_full_of_locked_names_refuses_new_ones_until_they_expire(self) -> None:
        clock = FakeClock()
        throttle = Throttle(clock.monotonic, limit=1, client_limit=1, cap=3)
        for i in range(3):
            fail(throttle, f"n{i}", f"127.0.0.{i}")
        assert throttle.reserve("baru", "127.0.0.9") == 60  # fail closed: nothing evicted
        assert all(throttle.wait(f"n{i}") for i in range(3))
        clock.advance(901)
        assert isinstance(throttle.reserve("baru", "127.0.0.9"), Attempt)

    def test_unlocked_names_make_room(self) -> None:
        throttle = Throttle(FakeClock().monotonic, cap=3)
        for i in range(3):
            fail(throttle, f"n{i}", "127.0.0.1")
        assert isinstance(throttle.reserve("baru", "127.0.0.2"), Attempt)
        assert throttle.size()[0] == 3


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
