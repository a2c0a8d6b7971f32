"""A ticket's typed payloads: the Evidence of a fault, a live Verification with its Probes, and
a step's OutputDocument. Each is a frozen value read through typed attributes, and also a
read-only mapping of the JSON the store and the API keep (`to_json()`, read back by `from_json`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from agent.core.reason_text import coded, shown
from agent.core.reasons import Reason, reason


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO string or a datetime; None when it is neither."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        return None
    return value.astimezone(UTC)


def json_plain(value: Any) -> Any:
    """A JSON-shaped copy: mappings become dicts, tuples and lists lists, datetimes and dates
    ISO strings. Event data goes through this so a store's JSON round trip changes nothing."""
    if isinstance(value, Mapping):
        return {str(k): json_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


#: Evidence.source of an alert's evidence.
ALERTMANAGER = "alertmanager"
#: The key beside "reason" that keeps its code (agent.core.reasons.Reason.to_json).
REASON_CODE = "reason_code"
#: The keys of a probe that are not measurements.
_PROBE_KEYS = ("round", "device", "check", "item", "status", "at", "healthy", "reason",
               REASON_CODE)


def _time(value: Any) -> datetime | None:
    """An aware datetime from its ISO text, offset kept (so it is written back unchanged)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(json_plain(data))


class JsonView(Mapping[str, Any]):
    """The read-only mapping of a payload's JSON form: equal to that dict, so generic readers
    (flattened tables, JSON encoders) see exactly what is stored."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


@dataclass(frozen=True, slots=True)
class CheckSeen:
    """One check's last result in the evidence ("last": {check: result}, as the API shows a
    result): status, when, why, and its samples in base units."""

    check: str
    record: Mapping[str, Any]

    @property
    def status(self) -> str:
        return _text(self.record.get("status"))

    @property
    def observed_at(self) -> datetime | None:
        return _time(self.record.get("observed_at"))

    @property
    def reason(self) -> str:
        return _text(self.record.get("reason") or self.record.get("error"))

    @property
    def cause(self) -> Reason | None:
        """The reason's code, when the result was recorded with one."""
        return Reason.from_json(self.record.get(REASON_CODE))

    def reason_in(self, lang: str) -> str:
        """The reason for a reader in `lang` (agent.core.reasons.shown)."""
        return shown(self.reason, self.record.get(REASON_CODE), lang)

    def sample(self, *names: str) -> Any:
        """The first of `names` in the result's samples or in the result itself."""
        samples = self.record.get("samples")
        for name in names:
            if isinstance(samples, Mapping) and name in samples:
                return samples[name]
            if name in self.record:
                return self.record[name]
        return None


@dataclass(frozen=True, slots=True, eq=False)
class Evidence(JsonView):
    """What the detector or an alert saw when the fault was observed: an open record (each
    source adds its own keys, all kept), with typed reads of the keys pantau uses."""

    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen(self.data))

    @classmethod
    def of_detection(cls, *, fault: str, state: str, since: datetime, reason: str,
                     last: Mapping[str, Mapping[str, Any]], interface: str = "",
                     affected: Sequence[str] = (), cause: Reason | None = None) -> Evidence:
        """The detector's evidence of a hard transition, with the device's last results;
        `reason` in English, `cause` its code (kept under "reason_code")."""
        data: dict[str, Any] = {"fault": fault, "state": state, "since": since.isoformat(),
                                "reason": reason, "last": dict(last)}
        if cause is not None:
            data[REASON_CODE] = cause.to_json()
        if interface:
            data["interface"] = interface
        if affected:
            data["affected"] = list(affected)
        return cls(data)

    @classmethod
    def of_alert(cls, *, fingerprint: str, status: str, starts_at: str, reason: str,
                 labels: Mapping[str, str], annotations: Mapping[str, str]) -> Evidence:
        """An Alertmanager alert's evidence: the alert as delivered, "since" its start."""
        return cls({"source": ALERTMANAGER, "fingerprint": fingerprint, "status": status,
                    "starts_at": starts_at, "since": starts_at, "reason": reason,
                    "alertname": labels.get("alertname", ""), "labels": dict(labels),
                    "annotations": dict(annotations)})

    def to_json(self) -> dict[str, Any]:
        plain: dict[str, Any] = json_plain(self.data)
        return plain

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def _str(self, key: str) -> str:
        return _text(self.data.get(key))

    @property
    def since(self) -> datetime | None:
        """When the fault began, as observed; None when not given (or not a time)."""
        return parse_time(self.data.get("since"))

    @property
    def since_text(self) -> str:
        return self._str("since")

    @property
    def reason(self) -> str:
        return self._str("reason")

    @property
    def cause(self) -> Reason | None:
        return Reason.from_json(self.data.get(REASON_CODE))

    def reason_in(self, lang: str) -> str:
        """The reason for a reader in `lang`: its code's rendering, an old (text only)
        reason read back into its code, else the text (an alert's own summary)."""
        return shown(self.reason, self.data.get(REASON_CODE), lang)

    @property
    def interface(self) -> str:
        return self._str("interface")

    @property
    def affected(self) -> tuple[str, ...]:
        value = self.data.get("affected")
        return tuple(str(a) for a in value) if isinstance(value, list | tuple) else ()

    @property
    def from_alert(self) -> bool:
        """Whether an Alertmanager alert is the evidence (else the detector's)."""
        return self._str("source") == ALERTMANAGER

    @property
    def alertname(self) -> str:
        return self._str("alertname")

    @property
    def fingerprint(self) -> str:
        return self._str("fingerprint")

    @property
    def starts_at(self) -> str:
        return self._str("starts_at")

    @property
    def labels(self) -> Mapping[str, Any]:
        value = self.data.get("labels")
        return value if isinstance(value, Mapping) else {}

    @property
    def last(self) -> tuple[CheckSeen, ...]:
        """The device's last result of each check, by check name."""
        value = self.data.get("last")
        if not isinstance(value, Mapping):
            return ()
        return tuple(CheckSeen(str(check), record) for check, record in
                     sorted(value.items(), key=lambda kv: str(kv[0]))
                     if isinstance(record, Mapping))

    @property
    def measurements(self) -> Mapping[str, Any]:
        """The "last" results as they were recorded (for a flat text listing)."""
        value = self.data.get("last")
        return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True, eq=False)
class Probe(JsonView):
    """One live probe of a verification: a check of one device (or one interface) in one round."""

    round: int
    device: str
    check: str
    status: str
    at: datetime | None
    healthy: bool
    reason: str = ""
    item: str = ""  # the interface, for check "interface"
    samples: Mapping[str, Any] = field(default_factory=dict)  # base units, e.g. icmp_rtt_seconds
    cause: Reason | None = None  # the reason's code

    def reason_in(self, lang: str) -> str:
        return shown(self.reason, self.cause, lang)

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", _frozen(self.samples))

    def sample(self, name: str) -> Any:
        return self.samples.get(name)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"round": self.round, "device": self.device, "check": self.check}
        if self.item:
            out["item"] = self.item
        out.update(status=self.status, at=_iso(self.at), healthy=self.healthy,
                   reason=self.reason)
        if self.cause is not None:
            out[REASON_CODE] = self.cause.to_json()
        out.update(json_plain(self.samples))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Probe:
        raw_round = data.get("round")
        return cls(round=raw_round if isinstance(raw_round, int) else 0,
                   device=_text(data.get("device")), check=_text(data.get("check")),
                   status=_text(data.get("status")), at=_time(data.get("at")),
                   healthy=data.get("healthy") is True, reason=_text(data.get("reason")),
                   item=_text(data.get("item")),
                   samples={k: v for k, v in data.items() if k not in _PROBE_KEYS},
                   cause=Reason.from_json(data.get(REASON_CODE)))


@dataclass(frozen=True, slots=True, eq=False)
class Verification(JsonView):
    """A live verification of a ticket's devices: whether every probe was healthy, when it ran,
    why (the first failure, or a summary), and each probe."""

    passed: bool
    started_at: datetime | None
    finished_at: datetime | None
    reason: str = ""
    probes: tuple[Probe, ...] = ()
    cause: Reason | None = None  # the reason's code

    def reason_in(self, lang: str) -> str:
        return shown(self.reason, self.cause, lang)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed, "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at), "reason": self.reason,
            "probes": [p.to_json() for p in self.probes]}
        if self.cause is not None:
            out[REASON_CODE] = self.cause.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verification:
        probes = data.get("probes")
        return cls(passed=data.get("passed") is True, started_at=_time(data.get("started_at")),
                   finished_at=_time(data.get("finished_at")), reason=_text(data.get("reason")),
                   cause=Reason.from_json(data.get(REASON_CODE)),
                   probes=tuple(Probe.from_json(p) for p in probes or () if isinstance(
                       p, Mapping)) if isinstance(probes, list | tuple) else ())

    def failing_reason(self) -> str:
        """Why it did not pass: its reason, else the first unhealthy probe."""
        if self.reason:
            return self.reason
        for probe in self.probes:
            if not probe.healthy:
                what = " ".join(x for x in (probe.device, probe.check, probe.item) if x)
                return f"{what}: {probe.reason or probe.status or 'not healthy'}"
        return "the verification did not pass"

    def failing_cause(self) -> Reason | None:
        """`failing_reason` as a reason code (for a reader's language): its own code, an old
        English reason read back, else the first unhealthy probe's; None when not known."""
        if self.reason:
            return coded(self.reason, self.cause)
        for probe in self.probes:
            if not probe.healthy:
                cause = coded(probe.reason, probe.cause)
                return None if cause is None else reason(
                    "verify_failed", device=probe.device, check=probe.check, item=probe.item,
                    cause=cause)
        return None


@dataclass(frozen=True, slots=True, eq=False)
class OutputDocument(JsonView):
    """A step's output document: its fields by name (texts, true/false, lists of texts, as the
    step's FieldSpecs say) and, for a gated step, the verification that opened the gate."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    verification: Verification | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))

    def text(self, name: str) -> str:
        """A text field ("" when absent)."""
        return _text(self.fields.get(name))

    def flag(self, name: str) -> bool:
        """A true/false field (False when absent)."""
        return self.fields.get(name) is True

    def listed(self, name: str) -> tuple[str, ...]:
        """A list field (empty when absent)."""
        value = self.fields.get(name)
        return tuple(_text(x) for x in value) if isinstance(value, list | tuple) else ()

    def verified(self, verification: Verification | None) -> OutputDocument:
        return replace(self, verification=verification)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = json_plain(self.fields)
        if self.verification is not None:
            out["verification"] = self.verification.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutputDocument:
        stored = data.get("verification")
        return cls(fields={k: v for k, v in data.items() if k != "verification"},
                   verification=Verification.from_json(stored)
                   if isinstance(stored, Mapping) else None)
