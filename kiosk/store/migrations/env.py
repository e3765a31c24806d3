"""Alembic environment: the engine comes from Phone Locker, not from alembic.ini."""

from alembic import context

from kiosk.store.models import Base

config = context.config


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from kiosk.config import load_config
        from kiosk.store.db import make_engine

        engine = make_engine(load_config().database.url)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
