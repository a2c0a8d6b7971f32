"""Detection: check results in, hard state transitions, re-check requests and snapshots out.

Pure code (no I/O, no clock reads). `Detector` is the entry point; the rest are its values
and the helpers that turn results into subjects, maintenance windows and reboot events.
"""

from __future__ import annotations

from agent.detect.announced import CONFIRM_WINDOW_SECONDS
from agent.detect.detector import Detector
from agent.detect.events import ICMP, Event, Recheck, Transition
from agent.detect.interfaces import (
    INTERFACE_CHECK,
    RETIRE_AFTER_POLLS,
    RETIRED,
    RETIRED_REASON,
    interface_results,
)
from agent.detect.maintenance import active_windows
from agent.detect.reboots import Reboot, RebootTracker
from agent.detect.snapshots import DetectorSnapshot, DeviceSnapshot, SubjectSnapshot
from agent.detect.soft_hard import StepSettings, SubjectState, flap_percent, step

__all__ = [
    "CONFIRM_WINDOW_SECONDS",
    "ICMP",
    "INTERFACE_CHECK",
    "RETIRED",
    "RETIRED_REASON",
    "RETIRE_AFTER_POLLS",
    "Detector",
    "DetectorSnapshot",
    "DeviceSnapshot",
    "Event",
    "Reboot",
    "RebootTracker",
    "Recheck",
    "StepSettings",
    "SubjectSnapshot",
    "SubjectState",
    "Transition",
    "active_windows",
    "flap_percent",
    "interface_results",
    "step",
]
