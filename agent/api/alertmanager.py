"""The Alertmanager webhook (version 4): an alert to the device and fault it names, and the
checks that keep a replayed delivery from undoing a newer state of its ticket."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException

from agent.api.auth import ALERT_SOURCE, PREFIX
from agent.api.context import AlertSender, State, unprocessable
from agent.api.schemas import (
    ERRORS,
    UNAVAILABLE,
    UNREADABLE,
    AlertIn,
    AlertmanagerIn,
    AlertmanagerOut,
)
from agent.core.model import Device
from ticketing.models import EventKind, Fault, Ticket, TicketEvent
from ticketing.observation import FAILING, RESTORED, Observation
from ticketing.payloads import Evidence
from ticketing.policy import ADMIN

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, responses=ERRORS)



def _host(instance: str) -> str:
    """The host part of a Prometheus `instance` label: "127.20.0.5:9100", "[::1]:9100", "sw"."""
    if instance.startswith("["):
        return instance[1:].partition("]")[0]
    if instance.count(":") == 1:
        return instance.partition(":")[0]
    return instance


def alert_device(alert: AlertIn, devices: Mapping[str, Device], label: str) -> Device | None:
    """The device an alert names: label `label` (a device name), else the host part of
    `instance` matched against device names, then addresses."""
    name = alert.labels.get(label)
    if name:
        return devices.get(name)
    instance = alert.labels.get("instance")
    if not instance:
        return None
    host = _host(instance)
    if host in devices:
        return devices[host]
    return next((d for d in devices.values() if d.address == host), None)


def alert_fault(alert: AlertIn) -> tuple[Fault, str]:
    """(fault, item): an explicit `fault` label (device_down, interface_down, snmp_down) wins;
    else an `interface` (or `ifName`) label means interface_down of that interface; else an
    alertname containing "snmp" means snmp_down; otherwise device_down."""
    labels = alert.labels
    explicit = labels.get("fault", "")
    interface = labels.get("interface") or labels.get("ifName") or ""
    if explicit in (Fault.DEVICE_DOWN, Fault.SNMP_DOWN):
        return Fault(explicit), ""
    if explicit == Fault.INTERFACE_DOWN or interface:
        return Fault.INTERFACE_DOWN, interface
    if "snmp" in labels.get("alertname", "").lower():
        return Fault.SNMP_DOWN, ""
    return Fault.DEVICE_DOWN, ""


def _evidence(alert: AlertIn) -> Evidence:
    reason = (alert.annotations.get("summary") or alert.annotations.get("description")
              or alert.labels.get("alertname", "alert"))
    return Evidence.of_alert(fingerprint=alert.fingerprint, status=alert.status,
                             starts_at=alert.starts_at, reason=reason, labels=alert.labels,
                             annotations=alert.annotations)


def _same_alert(evidence: Evidence, alert: AlertIn) -> bool | None:
    """True: the same firing (fingerprint and start); False: another firing of the same alert;
    None: not from Alertmanager, or another alert."""
    if not evidence.from_alert or evidence.fingerprint != alert.fingerprint:
        return None
    return evidence.starts_at == alert.starts_at


def _stale_delivery(obs: Observation, alert: AlertIn, ticket: Ticket,
                   events: Sequence[TicketEvent]) -> bool:
    """Whether a replayed delivery would undo a newer state of `ticket` (open, with `events`):
    a firing alert after its own resolution was recorded, or a resolution of an older firing
    than the one on the ticket. Decided by TicketService under the ticket's lock."""
    if obs.kind == FAILING and not ticket.restored:
        return False
    if obs.kind == RESTORED and ticket.restored:
        return False
    wanted = ({EventKind.RESTORATION_OBSERVED} if obs.kind == FAILING else
              {EventKind.OPENED, EventKind.FAILURE_OBSERVED, EventKind.REOPENED})
    for event in reversed(events):
        if event.kind in wanted:
            recorded = event.data.get("evidence")
            same = _same_alert(Evidence(recorded if isinstance(recorded, Mapping) else {}),
                               alert)
            return same is True if obs.kind == FAILING else same is False
    return False


@router.post("/alertmanager", response_model=AlertmanagerOut, tags=["alertmanager"],
             responses={**UNAVAILABLE, **UNREADABLE})
async def alertmanager(payload: AlertmanagerIn, state: State, who: AlertSender
                       ) -> dict[str, Any]:
    """Alertmanager webhook (version 4): a firing alert opens or updates the ticket of the
    device it names; a resolved one records restoration observed (never closure). Replays
    change nothing. Answers 2xx only after every write is stored."""
    if who.role not in (ADMIN, ALERT_SOURCE):
        raise HTTPException(403, f"the webhook takes the [alertmanager] token or an {ADMIN}'s; "
                                 f"{who.name} is {who.role}")
    planned: list[tuple[AlertIn, Observation]] = []
    now = state.service.clock.now()
    for i, alert in enumerate(payload.alerts):
        device = alert_device(alert, state.devices, state.alert_device_label)
        if device is None:
            named = (alert.labels.get(state.alert_device_label)
                     or alert.labels.get("instance"))
            msg = (f"no device {named!r} in the inventory" if named else
                   f"no '{state.alert_device_label}' or 'instance' label")
            raise unprocessable(("body", "alerts", i, "labels"), msg)
        fault, item = alert_fault(alert)
        planned.append((alert, Observation(
            device=device.name, owner=device.owner, fault=fault,
            kind=FAILING if alert.status == "firing" else RESTORED, at=now, item=item,
            reason=_evidence(alert).reason, evidence=_evidence(alert))))
    results = []
    for alert, obs in planned:
        outcome = await state.service.observe_unless(
            obs, functools.partial(_stale_delivery, obs, alert))
        log.info("alert received", extra={"device": obs.device, "fault": obs.fault.value,
                                           "status": alert.status, "changed": outcome.changed})
        results.append({"fingerprint": alert.fingerprint, "status": alert.status,
                        "device": obs.device, "fault": obs.fault.value,
                        "ticket": outcome.ticket.id if outcome.ticket else None,
                        "changed": outcome.changed})
    return {"results": results}
