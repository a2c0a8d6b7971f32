"""The API's bodies and answers as pydantic models (what /openapi.json documents), and the
error answers every route may give."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ticketing import policy


class ErrorOut(BaseModel):
    detail: str
    #: a workflow refusal's code (agent/core/refusals.py), beside its English `detail`
    code: str | None = None


class StepOut(BaseModel):
    no: int
    role: str
    started_at: str | None
    due_at: str | None
    completed_at: str | None
    completed_by: str | None
    breached: bool
    output: dict[str, Any]


class AuditOut(BaseModel):
    seq: int
    kind: str
    at: str | None
    actor: str
    role: str
    step: int | None
    data: dict[str, Any]


class TicketOut(BaseModel):
    """The ticket object, as every ticket route answers it."""

    id: str
    device: str
    owner: str
    fault: Literal["device_down", "interface_down", "snmp_down", "manual"]
    trigger: Literal["auto", "manual"]
    status: Literal["open", "closed"]
    current_step: int
    flapping: bool
    affected: list[str]
    opened_at: str
    steps: list[StepOut]
    item: str
    dedup_key: str
    evidence: dict[str, Any]
    restored: bool
    restoration_observed_at: str | None
    last_failure_at: str | None
    closed_at: str | None
    reopened: int
    sop_version: int
    last_verification: dict[str, Any] | None


class TicketDetailOut(TicketOut):
    """A ticket with its audit trail (every event: who, what, when)."""

    audit: list[AuditOut]


class TicketListOut(BaseModel):
    """One page of tickets, newest first; `next` is the `after` of the next page (null: the
    last page)."""

    tickets: list[TicketOut]
    next: str | None = None


class DeviceOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    address: str
    owner: str
    site: str | None
    parent: str | None
    state: str
    since: str | None
    flapping: bool
    maintenance: list[Any]
    affected: list[str]
    faults: list[dict[str, Any]]
    reboots: int
    last_reboot: str | None
    checks: dict[str, dict[str, Any]]


class DeviceListOut(BaseModel):
    devices: list[DeviceOut]


class TrapOut(BaseModel):
    """One SNMP notification of a kind pantau has no meaning for (times ISO 8601, UTC):
    the dotted snmpTrapOID and its varbinds as (dotted OID, value as text)."""

    received_at: str
    version: Literal["1", "2c", "3"]
    oid: str
    kind: str
    varbinds: list[tuple[str, str]]


class DeviceDetailOut(DeviceOut):
    """One device as the list shows it, plus its recent other notifications, newest first
    (empty without [traps])."""

    traps: list[TrapOut]


class VerifyOut(BaseModel):
    ticket: TicketOut
    verification: dict[str, Any]


_LIMITS = policy.REQUEST_LIMITS


class FileRequest(BaseModel):
    """A manual request (Surat Permohonan): a new installation, a fault pantau cannot see."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device: str = Field(min_length=1, max_length=_LIMITS["device"])
    owner: str | None = Field(default=None, min_length=1, max_length=_LIMITS["owner"],
                              description="the agency; default: the device's or the user's")
    subject: str = Field(min_length=1, max_length=_LIMITS["subject"], description="Perihal")
    description: str = Field(min_length=1, max_length=_LIMITS["description"],
                             description="Uraian")

    @field_validator("device", "owner", "subject", "description")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        # pydantic strips Unicode White_Space only; the workflow strips as str.strip() does
        # (control separators such as U+001E too), so check here and answer 422, not 409
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


OutputDocument = dict[str, str | bool | list[str]]


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    ends_at: str = Field(default="", alias="endsAt")
    fingerprint: str = Field(min_length=1)


class AlertmanagerIn(BaseModel):
    """Alertmanager's webhook payload, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[AlertIn]


class AlertResultOut(BaseModel):
    fingerprint: str
    status: str
    device: str
    fault: str
    ticket: str | None
    changed: bool


class AlertmanagerOut(BaseModel):
    results: list[AlertResultOut]


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or unknown token"},
    403: {"model": ErrorOut, "description": "the user's role may not do this"},
    429: {"model": ErrorOut, "description": "too many refused tokens from this address: "
                                            "retry after Retry-After seconds"},
}
#: the ticket store is down or locked: retry after Retry-After seconds
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "ticket store unavailable: retry"}}
#: FastAPI reads a request body before it authenticates: bytes that are not UTF-8 get 400
#: (and text that is not JSON the usual 422), whoever sends them
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not UTF-8 text"},
    413: {"description": "the body is larger than [agent] max_body_bytes (Starlette's plain "
                         "\"Content Too Large\")", "content": {"text/plain": {}}}}


class NotificationOut(BaseModel):
    """One queued message (times ISO 8601 in the agent's zone, with its offset). `address` is
    the chat id or e-mail address it goes to ("" for a webhook): shown to admins only."""

    id: int
    channel: str
    recipient: str
    address: str
    kind: str
    ticket: str
    subject: str
    status: Literal["waiting", "sent", "failed"]
    tries: int
    next_at: str
    last_error: str
    created_at: str
    done_at: str | None


class OutboxStatsOut(BaseModel):
    waiting: int
    oldest_waiting_at: str | None


class NotificationListOut(BaseModel):
    """Messages newest first, and the whole outbox's waiting count and oldest waiting."""

    notifications: list[NotificationOut]
    stats: OutboxStatsOut


class RetryOut(BaseModel):
    id: int
    status: Literal["waiting"]
