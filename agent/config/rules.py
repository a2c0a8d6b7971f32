"""Rules that span keys: what each SNMP version needs, unique names, parent cycles and
maintenance times.

Each rule reads values that already validated on their own and yields an issue per broken
rule; `build.py` runs them while it builds the frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from agent.config.problems import Issue, Loc, quote
from agent.config.schema import DeviceModel, MaintenanceModel, SnmpAuthModel
from agent.core import topology

# ---------------------------------------------------------------------------------------------
# Rules inside one SNMP credential set


def snmp_auth_rules(name: str, auth: SnmpAuthModel) -> Iterator[Issue]:
    """Which keys each SNMP version needs or forbids; run on one validated credential set."""
    loc: Loc = ("snmp", "auth", name)
    version = auth.version
    if version in ("1", "2c"):
        if auth.community is None:
            yield Issue((*loc, "community"), f"missing: required for version {quote(version)}")
        for key in (
            "username",
            "auth_protocol",
            "auth_key",
            "priv_protocol",
            "priv_key",
            "context",
        ):
            if getattr(auth, key) is not None:
                yield Issue((*loc, key), 'only used with version "3"')
        return
    if auth.community is not None:
        yield Issue((*loc, "community"), 'only used with versions "1" and "2c"')
    if auth.username is None:
        yield Issue((*loc, "username"), 'missing: required for version "3"')
    auth_protocol = auth.auth_protocol or "none"
    priv_protocol = auth.priv_protocol or "none"
    for key, protocol, value in (
        ("auth", auth_protocol, auth.auth_key),
        ("priv", priv_protocol, auth.priv_key),
    ):
        if protocol != "none" and value is None:
            yield Issue(
                (*loc, f"{key}_key"),
                f"missing: required when {key}_protocol is {quote(protocol)}",
            )
        if protocol == "none" and value is not None:
            yield Issue(
                (*loc, f"{key}_key"),
                f'given, but {key}_protocol is "none" (set {key}_protocol or remove the key)',
            )
    if priv_protocol != "none" and auth_protocol == "none":
        yield Issue(
            (*loc, "priv_protocol"),
            f"privacy ({quote(priv_protocol)}) needs authentication: set auth_protocol and "
            "auth_key",
        )


def parent_cycles(devices: Sequence[tuple[int, DeviceModel]]) -> Iterator[Issue]:
    """Report each parent cycle once, on the cycle's first device in the file."""
    parent_of: dict[str, str | None] = {}
    index_of: dict[str, int] = {}
    for index, model in devices:
        parent_of.setdefault(model.name, model.parent)
        index_of.setdefault(model.name, index)
    for cycle in topology.cycles(parent_of):  # a device that is its own parent: reported already
        head = min(range(len(cycle)), key=lambda i: index_of[cycle[i]])
        cycle = cycle[head:] + cycle[:head]
        yield Issue(
            ("devices", index_of[cycle[0]], "parent"),
            "parent cycle: " + " -> ".join([*cycle, cycle[0]]),
        )


def maintenance_time_rules(loc: Loc, model: MaintenanceModel) -> Iterator[Issue]:
    """A window is either weekly or once, from start to a later end."""
    once = model.start is not None or model.end is not None
    if model.weekly is not None:
        if once:
            yield Issue(loc, "give either weekly or start and end, not both")
    elif not once:
        yield Issue(loc, "no time: give weekly = { ... } or start and end")
    elif model.start is None:
        yield Issue((*loc, "start"), "missing: required with end")
    elif model.end is None:
        yield Issue((*loc, "end"), "missing: required with start")
    elif model.end <= model.start:
        yield Issue(
            (*loc, "end"),
            f"must be after start ({model.start.isoformat()}), got {model.end.isoformat()}",
        )


def duplicate_names(section: str, what: str, names: Iterable[tuple[int, str]]) -> Iterator[Issue]:
    """An issue on each name written again in the array `section`, naming the first one."""
    first: dict[str, int] = {}
    for index, name in names:
        if name in first:
            yield Issue(
                (section, index, "name"),
                f"duplicate {what} name {quote(name)} (first at {section}[{first[name]}])",
            )
        first.setdefault(name, index)
