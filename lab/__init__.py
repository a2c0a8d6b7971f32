"""The device lab: a network namespace with a real snmpd, veth ports and iptables faults."""
