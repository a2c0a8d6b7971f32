"""Alembic environment: runs the migrations on the connection the store passes in.

There is no alembic.ini and no offline mode: `ticketing.store.engine.upgrade()` sets
`config.attributes["connection"]` inside a transaction that it owns.
"""

from __future__ import annotations

from alembic import context

from ticketing.store.schema import metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "pantau runs its migrations itself at start-up (ticketing.store.engine.upgrade); "
            "no connection was passed in config.attributes['connection']"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: future migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    # The caller's transaction is already open, so this joins it rather than committing.
    with context.begin_transaction():
        context.run_migrations()


run()
