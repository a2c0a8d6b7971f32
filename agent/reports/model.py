"""The report's values: computed once (`agent.reports.build`), rendered many ways.

Times are aware UTC; durations are seconds; ratios are 0..1 (None when nothing was
monitored or nothing was done). Rendering rounds; these values never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): by default a calendar month in the agency's zone (`sla.timezone`)."""

    start: datetime
    end: datetime
    label: str  # "2026-12"
    timezone: str  # the zone the month is counted in, e.g. "Asia/Jakarta"


@dataclass(frozen=True, slots=True)
class Availability:
    """One device's (or a sum over an agency's devices') time in the period.

    monitored = up + down; maintenance, unreachable (behind a failing parent) and
    unmonitored (no agent watching: a gap, never counted as UP) are apart from it.
    """

    up_seconds: float
    down_seconds: float
    unreachable_seconds: float
    maintenance_seconds: float
    unmonitored_seconds: float
    outages: int  # DOWN spells that began in the period or were open at its start
    mttr_seconds: float | None  # mean length of the outages that ended in the period
    longest_outage_seconds: float  # 0 without an outage; an open one counts to period end

    @property
    def monitored_seconds(self) -> float:
        return self.up_seconds + self.down_seconds

    @property
    def ratio(self) -> float | None:
        """UP share of monitored time; None with no monitored time."""
        m = self.monitored_seconds
        return None if m <= 0 else self.up_seconds / m


@dataclass(frozen=True, slots=True)
class DeviceAvailability:
    device: str
    owner: str  # the agency
    site: str | None
    availability: Availability


@dataclass(frozen=True, slots=True)
class AgencyAvailability:
    owner: str
    devices: int
    availability: Availability  # the sum over its devices (time-weighted)


@dataclass(frozen=True, slots=True)
class StepCompliance:
    """SOP-006 step `no` (1..9), completed by `role`, for one agency or overall."""

    no: int
    role: str
    within_sla: int  # completed in the period within its due time
    breached: int  # completed late in the period, or still open and already past due
    median_seconds: float | None  # time from the step's start to its completion
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class TicketCounts:
    opened: int  # opened in the period
    closed: int  # closed in the period
    still_open: int  # open at the period's end
    reopened: int  # reopened in the period


@dataclass(frozen=True, slots=True)
class Compliance:
    owner: str | None  # None: overall
    tickets: TicketCounts
    steps: tuple[StepCompliance, ...]  # the nine steps, in order


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    period: Period
    generated_at: datetime
    devices: tuple[DeviceAvailability, ...]  # by owner, then device name
    agencies: tuple[AgencyAvailability, ...]  # by owner
    overall: Availability
    compliance: tuple[Compliance, ...]  # overall first, then each agency by owner
