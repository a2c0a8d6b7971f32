"""Collectors: one kind of check each (ICMP, SNMP), listed by check name in `KINDS`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from collectors.base import Collector
from collectors.icmp import IcmpCollector
from collectors.snmp.collector import SnmpCollector

#: Check name (CheckSpec.check, config) -> the collector class that runs it. Explicit, not
#: registered by import side effects; `agent/app.py` builds each with its dependencies.
KINDS: Mapping[str, type[Collector]] = MappingProxyType({
    "icmp": IcmpCollector,
    "snmp": SnmpCollector,
})  # fmt: skip
