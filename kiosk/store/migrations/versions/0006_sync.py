"""many lockers: event ids unique across lockers, sync bookkeeping, change counters

Revision ID: 0006s
Revises: 0003c

``events.uid`` is the id an event keeps on every database it reaches (a kiosk's own
SQLite and the school's central one), so sending it twice stores it once.
``change_counters`` has one row per table a kiosk copies down; triggers bump it on
every write, so a kiosk asks one cheap question ("did anything change?") instead of
re-reading the roll. On PostgreSQL the trigger also sends a ``NOTIFY``.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006s'
down_revision: Union[str, Sequence[str], None] = '0003c'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: the tables a kiosk copies down from the central database (kiosk/sync/down.py)
COUNTED = (
    'lockers', 'bays', 'pupils', 'cards', 'year5_approvals', 'early_releases',
    'pupil_exceptions', 'calendar_days', 'commands',
)


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uid', sa.String(length=32), nullable=True))
    # Partial: a tap is recorded without a uid (the sync worker gives it one later), so
    # the tap path never writes to this index.
    op.create_index('uq_events_uid', 'events', ['uid'], unique=True,
                    sqlite_where=sa.text('uid IS NOT NULL'),
                    postgresql_where=sa.text('uid IS NOT NULL'))
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('central_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('synced_at', sa.DateTime(), nullable=True))
    op.create_index('uq_commands_central_id', 'commands', ['central_id'], unique=True)
    with op.batch_alter_table('kiosk_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_sync_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('pending_events', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('offline_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sync_error', sa.Text(), nullable=True))
    op.create_table(
        'sync_state',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'change_counters',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(
        sa.table('change_counters', sa.column('name'), sa.column('version')),
        [{'name': name, 'version': 0} for name in COUNTED],
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            """
            CREATE FUNCTION phonelocker_count_change() RETURNS trigger AS $$
            BEGIN
                UPDATE change_counters SET version = version + 1 WHERE name = TG_TABLE_NAME;
                PERFORM pg_notify('phonelocker_changes', TG_TABLE_NAME);
                RETURN NULL;
            END $$ LANGUAGE plpgsql
            """
        )
        for name in COUNTED:
            op.execute(
                f"CREATE TRIGGER count_change_{name} AFTER INSERT OR UPDATE OR DELETE"
                f" OR TRUNCATE ON {name} FOR EACH STATEMENT"
                f" EXECUTE FUNCTION phonelocker_count_change()"
            )
    else:
        for name in COUNTED:
            for operation in ('INSERT', 'UPDATE', 'DELETE'):
                op.execute(
                    f"CREATE TRIGGER count_change_{name}_{operation.lower()} AFTER {operation}"
                    f" ON {name} BEGIN UPDATE change_counters SET version = version + 1"
                    f" WHERE name = '{name}'; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in COUNTED:
            op.execute(f"DROP TRIGGER IF EXISTS count_change_{name} ON {name}")
        op.execute("DROP FUNCTION IF EXISTS phonelocker_count_change()")
    else:
        for name in COUNTED:
            for operation in ('insert', 'update', 'delete'):
                op.execute(f"DROP TRIGGER IF EXISTS count_change_{name}_{operation}")
    op.drop_table('change_counters')
    op.drop_table('sync_state')
    with op.batch_alter_table('kiosk_status', schema=None) as batch_op:
        batch_op.drop_column('sync_error')
        batch_op.drop_column('offline_since')
        batch_op.drop_column('pending_events')
        batch_op.drop_column('last_sync_at')
    op.drop_index('uq_commands_central_id', table_name='commands')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_column('synced_at')
        batch_op.drop_column('central_id')
    op.drop_index('uq_events_uid', table_name='events')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('uid')
