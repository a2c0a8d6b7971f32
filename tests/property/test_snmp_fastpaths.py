"""The SNMP poll's fast paths give what the plain ones give: take_encoded_rows against
take_rows on random walks, and interface_samples with a SampleCache against without one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.clock import SystemClock
from agent.core.errors import ProtocolError
from collectors.snmp import ber
from collectors.snmp.calls import Call, Column, take_rows
from collectors.snmp.fastclient import take_encoded_rows
from collectors.snmp.samples import SampleCache, interface_samples, monitored_matcher

CALL = Call.begin(SystemClock(), "127.0.0.1", 161, "sw-1", "snmp", "walking")
PREFIXES: list[tuple[int, ...]] = [(1, 3, 6, 1, 2, 1, 2, 2, 1, c) for c in (2, 7, 8)]
PREFIXES.append((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6))

arcs = st.integers(0, 2**32 - 1) | st.integers(0, 300)
indexes = st.lists(arcs, min_size=0, max_size=3).map(tuple)
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1), st.binary(max_size=8),
    st.sampled_from([ber.NO_SUCH_OBJECT, ber.END_OF_MIB_VIEW]),
)  # fmt: skip
oids = st.one_of(
    st.tuples(st.sampled_from(PREFIXES), indexes).map(lambda t: (*t[0], *t[1])),
    st.lists(arcs, min_size=2, max_size=12).map(lambda a: (1, 3, *a)),
)


def _walk(
    width: int, replies: list[list[tuple[tuple[int, ...], Any]]], encoded: bool
) -> tuple[list[tuple[Any, ...]], str]:
    """Feed `replies` to columns PREFIXES[:width]: each column's rows and done, or the error."""
    cache: dict[bytes, tuple[int, ...]] = {}
    if encoded:
        enc = [Column(ber.encode_oid(p), ber.encode_oid(p)) for p in PREFIXES[:width]]
        cols: list[Any] = enc
    else:
        plain = [Column(p, p) for p in PREFIXES[:width]]
        cols = plain
    open_cols = list(cols)
    try:
        for reply in replies:
            if not open_cols:
                break
            if encoded:
                varbinds_e = [(ber.encode_oid(o), v) for o, v in reply]
                open_cols = take_encoded_rows(CALL, open_cols, varbinds_e, cache)
            else:
                open_cols = take_rows(CALL, open_cols, reply, tuple)
    except ProtocolError as exc:
        return [], str(exc)
    return [(c.rows, c.done) for c in cols], ""


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, len(PREFIXES)),
    replies=st.lists(st.lists(st.tuples(oids, values), max_size=12), max_size=4),
)
def test_encoded_rows_match_take_rows(
    width: int, replies: list[list[tuple[tuple[int, ...], Any]]]
) -> None:
    assert _walk(width, replies, True) == _walk(width, replies, False)


def test_encoded_rows_reject_an_oid_that_does_not_increase() -> None:
    col = Column(ber.encode_oid(PREFIXES[0]), ber.encode_oid(PREFIXES[0]))
    varbinds = [(ber.encode_oid((*PREFIXES[0], 200)), 1)]
    take_encoded_rows(CALL, [col], varbinds, {})
    with pytest.raises(ProtocolError, match="OID not increasing"):
        take_encoded_rows(CALL, [col], [(ber.encode_oid((*PREFIXES[0], 127)), 1)], {})


def test_encoded_rows_order_by_arcs_not_bytes() -> None:
    """ifIndex 256 then 16384 increases, though 16384's encoding sorts below 256's."""
    col = Column(ber.encode_oid(PREFIXES[0]), ber.encode_oid(PREFIXES[0]))
    rows = [(ber.encode_oid((*PREFIXES[0], i)), i) for i in (256, 16384)]
    assert ber.encode_oid((*PREFIXES[0], 16384)) < ber.encode_oid((*PREFIXES[0], 256))
    take_encoded_rows(CALL, [col], rows, {})
    assert col.rows == [((256,), 256), ((16384,), 16384)]
    with pytest.raises(ProtocolError, match="OID not increasing"):
        take_encoded_rows(CALL, [col], [(ber.encode_oid((*PREFIXES[0], 300)), 1)], {})


def _table(octets: int, oper: int, names: list[bytes]) -> dict[str, list[tuple[Any, Any]]]:
    rows = range(1, len(names) + 1)
    return {
        "ifName": [((i,), n) for i, n in zip(rows, names, strict=True)],
        "ifOperStatus": [((i,), oper) for i in rows],
        "ifAdminStatus": [((i,), 1) for i in rows],
        "ifHCInOctets": [((i,), ber.Counter64(octets + i)) for i in rows],
        "ifInErrors": [((i,), ber.Counter32(3)) for i in rows],
        "ifHighSpeed": [((i,), ber.Gauge32(1000)) for i in rows],
    }


@settings(max_examples=100, deadline=None)
@given(
    polls=st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 2),
                  st.lists(st.sampled_from([b"eth0", b"eth1", b"", b"x\xff"]), max_size=4)),
        min_size=1, max_size=4,
    ),
    patterns=st.sampled_from([(), ("eth*",), ("X*",)]),
)  # fmt: skip
def test_cached_samples_equal_fresh_ones(
    polls: list[tuple[int, int, list[bytes]]], patterns: tuple[str, ...]
) -> None:
    cache = SampleCache()
    matcher = monitored_matcher(patterns)
    for octets, oper, names in polls:
        table = _table(octets, oper, names)
        assert interface_samples(table, matcher, cache) == interface_samples(table, matcher)


def test_unchanged_values_reuse_their_samples() -> None:
    cache = SampleCache()
    matcher = monitored_matcher(("eth0",))
    first = interface_samples(_table(10, 1, [b"eth0", b"eth1"]), matcher, cache)
    second = interface_samples(_table(20, 1, [b"eth0", b"eth1"]), matcher, cache)
    assert first != second
    for a, b in zip(first, second, strict=True):
        if a.name == "interface_receive_bytes_total":
            assert a.value != b.value
            assert a is not b
        else:
            assert a is b
    # Another matcher is evaluated again, never taken from the cache.
    third = interface_samples(_table(20, 1, [b"eth0", b"eth1"]), monitored_matcher(()), cache)
    assert {s.value for s in third if s.name == "interface_monitored"} == {0.0}
