"""agent.throttle on a FakeClock: the bounded table of failures per key, the sign-in throttle
and the API's refusal throttle built on it (issue 14, findings 3 and 7)."""

from __future__ import annotations

import pytest

from agent.throttle import Attempt, KeyTable, RefusalThrottle, Throttle, client_key
from tests.fakes import FakeClock


def fail(throttle: Throttle, name: str, client: str) -> None:
    attempt = throttle.reserve(name, client)
    assert isinstance(attempt, Attempt), (name, client, attempt)
    throttle.failed(attempt)


def junk(n: int) -> str:
    return f"127.1.{n // 250}.{n % 250}"


class TestClientKey:
    """An IPv6 client counts by its /64; IPv4 and anything else as it is."""

    @pytest.mark.parametrize(("host", "key"), [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::1", "::/64"),
        ("0:0:0:1::1", "0:0:0:1::/64"),
        ("-", "-"),
        ("unknown", "unknown"),
    ])
    def test_keys(self, host: str, key: str) -> None:
        assert client_key(host) == key


class TestKeyTable:
    """One rule for both users: locked while the window holds `limit` failures and the last is
    under `lockout` old; bounded, never forgetting a locked key."""

    def test_sliding_window_when_lockout_is_the_window(self) -> None:
        table = KeyTable(limit=3, window=60, lockout=60)
        for now in (0.0, 1.0, 2.0):
            table.fail("k", now)
        assert table.wait("k", 3.0) == 57  # until the oldest of the three leaves the window
        assert table.wait("k", 60.0) == 0

    def test_lockout_after_the_last_failure(self) -> None:
        table = KeyTable(limit=3, window=900, lockout=60)
        for now in (0.0, 100.0, 200.0):
            table.fail("k", now)
        assert table.wait("k", 201.0) == 59
        assert table.wait("k", 260.0) == 0

    def test_each_entry_keeps_only_limit_failures(self) -> None:
        table = KeyTable(limit=3, window=60, lockout=60)
        for n in range(100):
            table.fail("k", float(n) / 10)
        assert len(table.entries["k"].failures) == 3

    def test_full_of_locked_keys_it_has_no_room(self) -> None:
        table = KeyTable(limit=1, window=60, lockout=60, cap=2)
        table.fail("a", 0.0)
        table.fail("b", 0.0)
        assert not table.has_room("c", 1.0)
        assert table.has_room("a", 1.0)  # a known key always has its entry
        assert table.has_room("c", 60.0)  # expired keys make room

    def test_an_ended_attempt_makes_room_at_once(self) -> None:
        table = KeyTable(limit=2, window=60, lockout=60, cap=2)
        table.fail("a", 0.0)
        table.reserve("a")  # in flight: not forgotten
        table.fail("b", 0.0)
        table.fail("b", 0.0)  # locked
        assert not table.has_room("c", 1.0)
        table.release("a")  # one failure, nothing in flight: may go now, not in a minute
        assert table.has_room("c", 2.0)
        assert list(table.entries) == ["b"]


class TestThrottle:
    """Sign-in attempts are reserved up front, counted per name and per client, in bounded
    tables."""

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
            attempt = throttle.reserve(f"junk-{i}", junk(i))
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


class TestRefusalThrottle:
    """An address is made to wait after too many refusals in the window; others are not; a
    flood of other addresses cannot make it forget one it throttles."""

    def test_limit_then_wait_then_free(self) -> None:
        clock = FakeClock()
        throttle = RefusalThrottle(clock, limit=3, window_seconds=60)
        for _ in range(3):
            assert throttle.wait_seconds("127.0.0.9") == 0
            throttle.refused("127.0.0.9")
            clock.advance(1)
        assert throttle.wait_seconds("127.0.0.9") == pytest.approx(57)
        assert throttle.wait_seconds("127.0.0.10") == 0
        clock.advance(57)
        assert throttle.wait_seconds("127.0.0.9") == 0

    def test_memory_is_bounded(self) -> None:
        throttle = RefusalThrottle(FakeClock(), limit=2, max_addresses=100)
        for n in range(10_000):
            throttle.refused(junk(n))
        assert throttle.size() == 100

    def test_ten_thousand_junk_addresses_do_not_free_a_throttled_one(self) -> None:
        throttle = RefusalThrottle(FakeClock())
        for _ in range(20):
            throttle.refused("127.0.0.9")
        assert throttle.wait_seconds("127.0.0.9") == 60
        for n in range(10_000):
            if throttle.wait_seconds(junk(n)) == 0:
                throttle.refused(junk(n))
        assert throttle.wait_seconds("127.0.0.9") == 60
        assert throttle.size() <= 10_000

    def test_full_of_throttled_addresses_a_new_one_waits(self) -> None:
        clock = FakeClock()
        throttle = RefusalThrottle(clock, limit=1, max_addresses=3)
        for n in range(3):
            throttle.refused(junk(n))
        assert throttle.wait_seconds("127.0.0.9") == 60  # fail closed: its guess not counted
        throttle.refused("127.0.0.9")
        assert throttle.size() == 3
        clock.advance(60)
        assert throttle.wait_seconds("127.0.0.9") == 0

    def test_an_ipv6_client_counts_by_its_64(self) -> None:
        throttle = RefusalThrottle(FakeClock())
        for i in range(20):
            throttle.refused(f"::1:0:0:{i:x}")
        assert throttle.wait_seconds("::1:ffff:ffff:ffff") == 60
        assert throttle.wait_seconds("0:0:0:1::1") == 0
