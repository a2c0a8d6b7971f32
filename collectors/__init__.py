"""Collectors: one kind of check each (ICMP, SNMP)."""
