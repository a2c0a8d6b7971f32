"""SNMP collector: a lean v1/v2c fast path and pysnmp for SNMPv3."""
