"""Hand-written migration scripts, one per schema version (Alembic skips this file)."""
