"""Alembic migrations of the ticket store, run by `SqlBackend.connect()` at start-up.

A package so the files ship in the wheel; Alembic loads `env.py` and `versions/*` by path.
"""
