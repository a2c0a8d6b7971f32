"""Several agents on one PostgreSQL (issue 15): membership with leases, rendezvous
assignment of device trees, fencing of a member that cannot renew its lease, and the leader
that runs the singleton duties."""
