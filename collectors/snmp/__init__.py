"""SNMP collector: a lean v1/v2c fast path and pysnmp for SNMPv3; and the trap receiver."""

from collectors.snmp.traps import TrapListenError, TrapReceiver

__all__ = ["TrapListenError", "TrapReceiver"]
