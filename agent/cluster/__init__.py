"""A member of several agents on one PostgreSQL (issue 15)."""
