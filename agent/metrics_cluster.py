"""The cluster gauges of one member (issue 15), registered only with `[cluster]`; their
names are in agent/metrics.py. Each member exports its own device count under its node
label, so a sum over the members' scrapes counts every device once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from agent.metrics import CLUSTER_DEVICES_ASSIGNED, CLUSTER_FENCED, CLUSTER_MEMBERS


class ClusterInstruments:
    """agent.cluster.membership.ClusterObserver on the app's registry."""

    def __init__(self, registry: CollectorRegistry, node: str) -> None:
        self._members = Gauge(CLUSTER_MEMBERS, "Live cluster members as this member last "
                              "saw them (itself included).", registry=registry)
        self._assigned = Gauge(CLUSTER_DEVICES_ASSIGNED, "Devices this member polls (its "
                               "own only: sum over the members for the cluster).", ["node"],
                               registry=registry)
        self._fenced = Gauge(CLUSTER_FENCED, "1 while this member holds no fresh lease and "
                             "so polls nothing and writes no ticket.", registry=registry)
        self._assigned.labels(node).set(0)
        self._fenced.set(1)  # until its first heartbeat

    def members(self, live: int) -> None:
        self._members.set(live)

    def assigned(self, node: str, devices: int) -> None:
        self._assigned.labels(node).set(devices)

    def fenced(self, fenced: bool) -> None:
        self._fenced.set(1 if fenced else 0)
