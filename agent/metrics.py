"""Every metric name pantau exposes, the snapshot collector, and the exposition renderer.

Per-device series are rendered from a frozen Snapshot (a removed device's series vanish) by
agent/exposition.py; the agent's own health uses ordinary instruments on the app's own registry.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from agent import __version__
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.core.traps import DROP_REASONS
from agent.metrics_loop import CounterSeries, HistogramSeries, LoopCounter, LoopHistogram

if TYPE_CHECKING:
    from agent.exposition import DeviceTexts
    from agent.metrics_notify import NotificationInstruments

NAMESPACE = "pantau"

# Names of the per-device families and the agent's health families: a contract (the README's
# Metrics table, the dashboards and the alerts rely on them).
DEVICE_UP = "pantau_device_up"
DEVICE_STATE = "pantau_device_state"
ICMP_RTT = "pantau_icmp_rtt_seconds"
ICMP_LOSS = "pantau_icmp_packet_loss_ratio"
CHECK_UP = "pantau_check_up"
CHECK_DURATION = "pantau_check_duration_seconds"
STATE_TRANSITIONS = "pantau_state_transitions"  # counter: _total added on exposition
DEVICES_CONFIGURED = "pantau_devices_configured"
SNMP_UP = "pantau_snmp_up"
SNMP_UPTIME = "pantau_snmp_uptime_seconds"
SNMP_INFO = "pantau_snmp_info"
DEVICE_REBOOTS = "pantau_device_reboots"  # counter

# Per-interface families: sample name from the SNMP collector -> (family, help, is_counter).
INTERFACE_FAMILIES: dict[str, tuple[str, str, bool]] = {
    "interface_oper_up": ("pantau_interface_up", "1 when ifOperStatus is up.", False),
    "interface_admin_up": ("pantau_interface_admin_up", "1 when ifAdminStatus is up.", False),
    "interface_monitored": ("pantau_interface_monitored",
                            "1 when the interface is monitored for faults.", False),
    "interface_speed_bits_per_second": ("pantau_interface_speed_bits_per_second",
                                        "Interface speed (ifHighSpeed, else ifSpeed).", False),
    "interface_receive_bytes_total": ("pantau_interface_receive_bytes",
                                      "Octets received (ifHCInOctets, else ifInOctets).", True),
    "interface_transmit_bytes_total": ("pantau_interface_transmit_bytes",
                                       "Octets sent (ifHCOutOctets, else ifOutOctets).", True),
    "interface_receive_errors_total": ("pantau_interface_receive_errors",
                                       "Inbound packets with errors (ifInErrors).", True),
    "interface_transmit_errors_total": ("pantau_interface_transmit_errors",
                                        "Outbound packets with errors (ifOutErrors).", True),
    "interface_receive_discards_total": ("pantau_interface_receive_discards",
                                         "Inbound packets discarded (ifInDiscards).", True),
    "interface_transmit_discards_total": ("pantau_interface_transmit_discards",
                                          "Outbound packets discarded (ifOutDiscards).", True),
}
COLLECTOR_DURATION = "pantau_collector_duration_seconds"
COLLECTOR_CHECKS = "pantau_collector_checks"
COLLECTOR_ERRORS = "pantau_collector_errors"
SCHEDULER_LAG = "pantau_scheduler_lag_seconds"
SCHEDULER_IN_FLIGHT = "pantau_scheduler_checks_in_flight"
TICKETS_OPEN = "pantau_tickets_open"
STEP_SLA = "pantau_ticket_step_sla_seconds"
STEP_REMAINING = "pantau_ticket_step_remaining_seconds"
STEP_BREACHES = "pantau_ticket_step_breaches"  # counter
STEP_DURATION = "pantau_ticket_step_duration_seconds"  # histogram
TICKETS_OPENED = "pantau_tickets_opened"  # counter
RESTORATION = "pantau_ticket_restoration_seconds"  # histogram: opened -> verified restoration
BUILD_INFO = "pantau_build"  # Info: exposed as pantau_build_info

#: Every metric name a dashboard or rule may use (as exposed, with suffixes).
EXPOSED_NAMES: frozenset[str] = frozenset(
    {
        DEVICE_UP,
        DEVICE_STATE,
        ICMP_RTT,
        ICMP_LOSS,
        CHECK_UP,
        CHECK_DURATION,
        f"{STATE_TRANSITIONS}_total",
        DEVICES_CONFIGURED,
        SNMP_UP,
        SNMP_UPTIME,
        SNMP_INFO,
        f"{DEVICE_REBOOTS}_total",
        *(f"{fam}_total" if counter else fam for fam, _, counter in INTERFACE_FAMILIES.values()),
        f"{COLLECTOR_DURATION}_bucket",
        f"{COLLECTOR_DURATION}_sum",
        f"{COLLECTOR_DURATION}_count",
        f"{COLLECTOR_CHECKS}_total",
        f"{COLLECTOR_ERRORS}_total",
        TICKETS_OPEN,
        STEP_SLA,
        STEP_REMAINING,
        *(f"{n}_{suffix}" for n in (STEP_BREACHES, TICKETS_OPENED) for suffix in ("total",
                                                                                 "created")),
        *(f"{n}_{suffix}" for n in (STEP_DURATION, RESTORATION)
          for suffix in ("bucket", "sum", "count", "created")),
        f"{SCHEDULER_LAG}_bucket",
        f"{SCHEDULER_LAG}_sum",
        f"{SCHEDULER_LAG}_count",
        SCHEDULER_IN_FLIGHT,
        f"{BUILD_INFO}_info",
    }
)

# -- The agent's own lateness (issue 11): a stalled agent shows here, never as a DOWN device.
LOOP_LAG = "pantau_scheduler_loop_lag_seconds"  # gauge: the latest event-loop stall
CHECKS_LATE = "pantau_checks_late"  # counter {check}: UNKNOWN "pantau was late" results
CHECKS_SKIPPED = "pantau_checks_skipped"  # counter {check}: slots skipped after an overrun
EXPOSED_NAMES = EXPOSED_NAMES | frozenset(
    {LOOP_LAG, *(f"{n}_{suffix}" for n in (CHECKS_LATE, CHECKS_SKIPPED)
                 for suffix in ("total", "created"))}
)

# -- Notifications (issue 12): what the delivery loop sent or gave up, and what still waits.
NOTIFY_SENT = "pantau_notifications_sent"  # counter {channel,kind}
NOTIFY_FAILED = "pantau_notifications_failed"  # counter {channel,kind}: given up for good
NOTIFY_QUEUED = "pantau_notifications_queued"  # gauge: messages waiting (held ones too)
NOTIFY_OLDEST = "pantau_notifications_oldest_queued_seconds"  # gauge: the oldest's age
NOTIFY_OLDEST_DUE = "pantau_notifications_oldest_due_seconds"  # gauge: not held, still waiting
EXPOSED_NAMES = EXPOSED_NAMES | frozenset(
    {NOTIFY_QUEUED, NOTIFY_OLDEST, NOTIFY_OLDEST_DUE,
     *(f"{n}_{suffix}" for n in (NOTIFY_SENT, NOTIFY_FAILED) for suffix in ("total", "created"))}
)
# -- The HTTP server (issue 14): refused authentications, a sign of token guessing.
API_UNAUTHORIZED = "pantau_api_unauthorized"  # counter: 401s of the API and of /metrics
EXPOSED_NAMES = EXPOSED_NAMES | frozenset(
    {f"{API_UNAUTHORIZED}_{suffix}" for suffix in ("total", "created")})
# -- The ticket store's outages (issue 14): observations the store would not take.
OBSERVATIONS_REJECTED = "pantau_observations_rejected"  # counter: set aside in the journal
OBSERVATIONS_PENDING = "pantau_observations_pending"  # gauge: journaled, not yet stored
EXPOSED_NAMES = EXPOSED_NAMES | frozenset(
    {OBSERVATIONS_PENDING, *(f"{OBSERVATIONS_REJECTED}_{suffix}"
                             for suffix in ("total", "created"))})
# -- Reloads (issue 15): did the last reload of the config file work, and when did one last.
RELOAD_SUCCESS = "pantau_config_last_reload_success"  # gauge: 1 or 0
RELOAD_SUCCESS_AT = "pantau_config_last_reload_success_timestamp_seconds"  # gauge: unix time
EXPOSED_NAMES = EXPOSED_NAMES | frozenset({RELOAD_SUCCESS, RELOAD_SUCCESS_AT})
# -- The cluster's leader (issue 15): 1 on the member running the singleton duties (the SLA
# sweep, notification delivery, reports), 0 on the others; an agent alone is its own leader.
# Only the leader exports the ticket gauges (TICKETS_OPEN, STEP_SLA, STEP_REMAINING).
CLUSTER_LEADER = "pantau_cluster_leader"  # gauge {node}
EXPOSED_NAMES = EXPOSED_NAMES | frozenset({CLUSTER_LEADER})
# -- Several agents on one database (issue 15, agent/metrics_cluster.py; only with [cluster]):
# the live members this one sees, its own devices, and whether it has fenced itself.
CLUSTER_MEMBERS = "pantau_cluster_members"  # gauge: live members, this one included
CLUSTER_DEVICES_ASSIGNED = "pantau_cluster_devices_assigned"  # gauge {node}: its own only
CLUSTER_FENCED = "pantau_cluster_fenced"  # gauge: 1 while it holds no lease (polls nothing)
EXPOSED_NAMES = EXPOSED_NAMES | frozenset({CLUSTER_MEMBERS, CLUSTER_DEVICES_ASSIGNED,
                                           CLUSTER_FENCED})
# -- SNMP traps (issue 13): notifications received per device and kind (or OID), and the
# datagrams the receiver dropped, by reason (every reason of DROP_REASONS from the start).
TRAPS_RECEIVED = "pantau_traps_received"  # counter {device,trap}
TRAPS_DROPPED = "pantau_traps_dropped"  # counter {reason}
EXPOSED_NAMES = EXPOSED_NAMES | frozenset(
    {f"{TRAPS_RECEIVED}_total", f"{TRAPS_DROPPED}_total"})
#: The channel label's values: every `[[notify.webhook]]` counts as "webhook" (its name is
#: on the admin page, not in a label); anything else as "other" (agent/metrics_notify.py).
NOTIFY_CHANNELS = ("telegram", "email", "webhook")
CHECKED = ("icmp", "snmp")  # the kinds of check the scheduler runs


class LatenessInstruments:
    """The scheduler's overruns and the loop's lag, on the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loop_lag = Gauge(
            LOOP_LAG, "How late the event loop last woke against its schedule (sampled "
            "every 100 ms): the agent itself stalling (overload, SIGSTOP, VM steal, GC).",
            registry=registry,
        )
        self.late = Counter(
            CHECKS_LATE, "Checks whose deadline passed while the agent itself was late: "
            "reported UNKNOWN (\"pantau was late\"), never DOWN.", ["check"], registry=registry,
        )
        self.skipped = Counter(
            CHECKS_SKIPPED, "Check slots skipped because the previous check overran a whole "
            "interval.", ["check"], registry=registry,
        )
        for check in CHECKED:
            # a zero series from the start, so rate() and the dashboard panel have data
            # before the first overrun, not "no data"
            self.late.labels(check)
            self.skipped.labels(check)

    def overrun(self, check: str, kind: str) -> None:
        """Count one overrun of `check`: kind "late" or "skipped"."""
        (self.late if kind == "late" else self.skipped).labels(check).inc()


STATES: tuple[DeviceState, ...] = tuple(DeviceState)


@dataclass(frozen=True, slots=True)
class DeviceView:
    """What the exposition needs of one device: its hard state and last result per check."""

    device: Device
    state: DeviceState
    results: Mapping[str, CheckResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OpenTicketView:
    """An open ticket as the metrics see it (built by agent/app.py)."""

    device: str
    owner: str
    step: int
    remaining_seconds: float | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent, immutable picture of the agent taken on the event loop."""

    devices: tuple[DeviceView, ...] = ()
    transitions: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (check, state)
    reboots: Mapping[str, int] = field(default_factory=dict)  # device -> reboots seen
    in_flight: int = 0
    tickets: tuple[OpenTicketView, ...] = ()
    step_sla_seconds: Mapping[int, float] = field(default_factory=dict)
    leader: bool = True  # False on a cluster member that is not the leader: no ticket gauges


class SnapshotCollector(Collector):
    """The per-device families of the current snapshot, as registry families (for
    `registry.get_sample_value`); scrapes read `Metrics.render`, which renders the same text
    incrementally. `silent` leaves them out while `Metrics.render` renders the rest."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()
        self.silent = False

    def collect(self) -> Iterator[Metric]:
        if self.silent:
            return
        from agent.exposition import DeviceTexts  # it renders the families named here

        yield from text_string_to_metric_families(DeviceTexts().text(self.snapshot))


class LeaderOnly(Collector):
    """The ticket counters and histograms, collected only while `leading` (set per render
    from the snapshot): the leader counts every ticket change, its own and (at each sweep's
    re-read) the others', so only its series are the cluster's; the other members' would
    count changes twice in a sum over agents."""

    def __init__(self) -> None:
        self.leading = True
        self.instruments: list[Collector] = []

    def collect(self) -> Iterator[Metric]:
        if self.leading:
            for instrument in self.instruments:
                yield from instrument.collect()


class Metrics:
    """The app's registry: the snapshot collector plus the agent's own health instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.snapshots = SnapshotCollector()
        self.registry.register(self.snapshots)
        # fed for every check result, on the loop: lock-free (agent/metrics_loop.py)
        self.collector_duration = LoopHistogram(
            COLLECTOR_DURATION, "Duration of each check, by collector.", ["collector"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.collector_checks = LoopCounter(
            COLLECTOR_CHECKS, "Checks run, by collector and resulting status.",
            ["collector", "status"],
        )
        self.collector_errors = LoopCounter(
            COLLECTOR_ERRORS, "Checks that failed with an error, by collector and kind.",
            ["collector", "kind"],
        )
        self.scheduler_lag = LoopHistogram(
            SCHEDULER_LAG, "How late each check started against its schedule.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )
        # fed per trap on the loop too: a storm must not take a lock per datagram
        self.traps_received = LoopCounter(
            TRAPS_RECEIVED, "SNMP notifications accepted, by device and trap (the kind, or the "
            "dotted snmpTrapOID of another kind; \"other\" past 100 OIDs of one device).",
            ["device", "trap"],
        )
        self.traps_dropped = LoopCounter(
            TRAPS_DROPPED, "Datagrams the trap receiver dropped, by reason.", ["reason"])
        for reason in DROP_REASONS:
            self.traps_dropped.labels(reason)
        for instrument in (self.collector_duration, self.collector_checks,
                           self.collector_errors, self.scheduler_lag, self.traps_received,
                           self.traps_dropped):
            self.registry.register(instrument)
        self.ticket_counts = LeaderOnly()
        self.registry.register(self.ticket_counts)
        self.step_breaches = Counter(
            STEP_BREACHES, "Steps that went past their due time.", ["step"], registry=None,
        )
        self.step_duration = Histogram(
            STEP_DURATION, "Durations of completed steps (wall time).", ["step"],
            buckets=(60, 300, 600, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400,
                     5 * 86400, 10 * 86400),
            registry=None,
        )
        self.tickets_opened = Counter(
            TICKETS_OPENED, "Tickets opened, by trigger and fault.", ["trigger", "fault"],
            registry=None,
        )
        self.restoration = Histogram(
            RESTORATION, "From a ticket's opening to its verified restoration (step 7).",
            buckets=(300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
            registry=None,
        )
        self.ticket_counts.instruments += [self.step_breaches, self.step_duration,
                                           self.tickets_opened, self.restoration]
        self.observations_rejected = Counter(
            OBSERVATIONS_REJECTED, "Observations the ticket store still refused after re-reading "
            "the ticket: kept with the reason in the journal's rejected table.",
            registry=self.registry,
        )
        self.observations_pending = Gauge(
            OBSERVATIONS_PENDING, "Observations kept in the journal that the ticket store has "
            "not taken yet (grows while the store is away).", registry=self.registry,
        )
        self.reload_success = Gauge(
            RELOAD_SUCCESS, "Whether the last reload of the configuration file succeeded "
            "(1; the start counts as one) or was refused (0).", registry=self.registry)
        self.reload_success_at = Gauge(
            RELOAD_SUCCESS_AT, "When the configuration was last loaded successfully "
            "(at start or by a reload), as a Unix time.", registry=self.registry)
        self.cluster_leader = Gauge(
            CLUSTER_LEADER, "1 on the member that runs the singleton duties (SLA sweep, "
            "notification delivery, reports) and exports the ticket gauges, else 0; an agent "
            "alone is its own leader.", ["node"], registry=self.registry)
        build = Info(BUILD_INFO, "pantau build information.", registry=self.registry)
        build.info({"version": __version__, "python": platform.python_version()})
        self.lateness = LatenessInstruments(self.registry)
        self.api_unauthorized = Counter(
            API_UNAUTHORIZED, "Requests refused for a missing or unknown token (API, /metrics).",
            registry=self.registry,
        )
        from agent.metrics_notify import NotificationInstruments  # its names are here

        self.notifications: NotificationInstruments = NotificationInstruments(self.registry)
        self._texts: DeviceTexts | None = None
        self._check_children: dict[
            tuple[str, Status, str], tuple[HistogramSeries, CounterSeries, CounterSeries | None]
        ] = {}

    def observe_check(self, collector: str, seconds: float, status: Status, error: str) -> None:
        """One check's duration, status and error kind (called for every result: the
        labelled children are looked up once per label set, not per call)."""
        key = (collector, status, error)
        children = self._check_children.get(key)
        if children is None:
            children = self._check_children[key] = (
                self.collector_duration.labels(collector),
                self.collector_checks.labels(collector, status.value),
                self.collector_errors.labels(collector, error) if error else None,
            )
        duration, checks, errors = children
        duration.observe(seconds)
        checks.inc()
        if errors is not None:
            errors.inc()

    # -- ticketing.ports.TicketObserver ------------------------------------------------------

    def opened(self, ticket: Any) -> None:
        self.tickets_opened.labels(ticket.trigger.value, ticket.fault.value).inc()

    def step_completed(self, step: int, seconds: float) -> None:
        self.step_duration.labels(str(step)).observe(max(0.0, seconds))

    def breached(self, step: int) -> None:
        self.step_breaches.labels(str(step)).inc()

    def restoration_verified(self, seconds: float) -> None:
        self.restoration.observe(max(0.0, seconds))

    @property
    def device_texts(self) -> DeviceTexts:
        """The per-device text cache of the renders (one renderer at a time: the app's
        Exposition runs one render at a time; tests and benches call `render`)."""
        if self._texts is None:
            from agent.exposition import DeviceTexts  # it renders the families named here

            self._texts = DeviceTexts()
        return self._texts

    def own_text(self, snapshot: Snapshot) -> bytes:
        """The registry's own instruments (the agent's health), without the snapshot's
        per-device families, which `device_texts` renders."""
        self.snapshots.snapshot = snapshot
        self.snapshots.silent = True
        self.ticket_counts.leading = snapshot.leader
        try:
            return generate_latest(self.registry)
        finally:
            self.snapshots.silent = False

    def render(self, snapshot: Snapshot) -> bytes:
        """The whole exposition for `snapshot` at once (the app renders in slices on the loop:
        agent.exposition.render_parts). A device's text is reused while its view is
        unchanged."""
        chunks = self.device_texts.chunks(snapshot)
        chunks.append(self.own_text(snapshot))
        return b"".join(chunks)  # the one copy of the body
