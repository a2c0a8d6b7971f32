"""Instruments fed once per check result, on the event loop: plain counts without locks.

prometheus_client's Histogram and Counter take a lock for every bucket, sum and count they
touch; per check result at 10,000 devices that was the dearest part of the result path
(2.4 µs a Histogram.observe, 4.4 µs for a check's duration, status and error together,
measured with py-spy on `pantau run`). Everything here is written on the loop and read on the
loop (`Metrics.own_text` renders there), so one thread touches it at a time. A read from
another thread still gets a consistent histogram: its count is the sum of its buckets.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_le = cast(Callable[[float], str], floatToGoString)  # "le" as prometheus_client writes it


class HistogramSeries:
    """One label set of a LoopHistogram: counts per bucket (the last is +Inf) and the sum."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1  # bucket i: value <= bounds[i]
        self.total += value


class CounterSeries:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class LoopHistogram(Collector):
    """A histogram family, exposed as prometheus_client's Histogram would (`_bucket`, `_sum`,
    `_count`; no `_created`). `labels(*values)` gives the series to observe."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), *,
                 buckets: Sequence[float]) -> None:
        bounds = tuple(float(b) for b in buckets if b != float("inf"))
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must increase, got {list(buckets)}")
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self._bounds = bounds
        self._les = (*(_le(b) for b in bounds), "+Inf")
        self._series: dict[tuple[str, ...], HistogramSeries] = {}
        if not self.labelnames:
            self.labels()

    def labels(self, *values: str) -> HistogramSeries:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = HistogramSeries(self._bounds)
        return series

    def observe(self, value: float) -> None:
        """For a histogram without labels."""
        self._series[()].observe(value)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in list(self._series.items()):
            counts, running, buckets = list(series.counts), 0, []
            for le, n in zip(self._les, counts, strict=True):
                running += n
                buckets.append((le, running))
            family.add_metric(list(values), buckets, series.total)
        yield family


class LoopCounter(Collector):
    """A counter family, exposed as `<name>_total` (no `_created`)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], CounterSeries] = {}

    def labels(self, *values: str) -> CounterSeries:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = CounterSeries()
        return series

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in list(self._series.items()):
            family.add_metric(list(values), series.value)
        yield family
