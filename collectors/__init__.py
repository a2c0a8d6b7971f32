"""Collectors: one kind of check each. `icmp` pings, `snmp` polls; `base` is the Protocol
the scheduler runs them through. `agent/app.py` builds each with its dependencies."""
