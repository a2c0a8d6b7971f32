"""The loop instruments expose what prometheus_client's locked Histogram and Counter would."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from agent.metrics_loop import LoopCounter, LoopHistogram

BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)


def _samples(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines()
                  if line and not line.startswith("#") and "_created" not in line)


def test_histogram_matches_prometheus_client_bucket_for_bucket() -> None:
    rng = random.Random(7)
    # bounds themselves included: `le` is inclusive, a value equal to a bound is in its bucket
    values = [*BUCKETS, 0.0, 7.5, *(rng.uniform(0, 6) for _ in range(500))]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop = LoopHistogram("x_seconds", "doc", ["check"], buckets=BUCKETS)
    ours.register(loop)
    ref = Histogram("x_seconds", "doc", ["check"], buckets=BUCKETS, registry=theirs)
    for i, v in enumerate(values):
        check = "icmp" if i % 3 else "snmp"
        loop.labels(check).observe(v)
        ref.labels(check).observe(v)
    assert _samples(ours) == _samples(theirs)


def test_unlabelled_histogram_and_counter_match() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    lag = LoopHistogram("lag_seconds", "doc", buckets=BUCKETS)
    checks = LoopCounter("checks", "doc", ["status"])
    ours.register(lag)
    ours.register(checks)
    ref_lag = Histogram("lag_seconds", "doc", buckets=BUCKETS, registry=theirs)
    ref_checks = Counter("checks", "doc", ["status"], registry=theirs)
    for v in (0.0, 0.002, 0.3, 9.0):
        lag.observe(v)
        ref_lag.observe(v)
    for status in ("up", "down", "up"):
        checks.labels(status).inc()
        ref_checks.labels(status).inc()
    assert _samples(ours) == _samples(theirs)
    assert "checks_total{status=\"up\"} 2.0" in _samples(ours)


def test_wrong_label_count_and_bad_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="expected labels"):
        LoopCounter("c", "doc", ["a", "b"]).labels("only-one")
    with pytest.raises(ValueError, match="buckets must increase"):
        LoopHistogram("h", "doc", buckets=(1, 0.5))
