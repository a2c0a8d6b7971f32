"""Ticket stores: SQL (SQLite by default, PostgreSQL) over SQLAlchemy Core, with migrations."""
