"""registers: pupils' agreed exceptions and staff special arrangements

Revision ID: 0003r
Revises: 0003n
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003r'
down_revision: Union[str, Sequence[str], None] = '0003n'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('pupil_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pupil_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('agreed_by', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('review_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['pupil_id'], ['pupils.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pupil_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pupil_exceptions_pupil_id'), ['pupil_id'], unique=False)

    op.create_table('staff_arrangements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_name', sa.String(length=200), nullable=False),
    sa.Column('arrangement', sa.Text(), nullable=False),
    sa.Column('agreed_by', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_arrangements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_arrangements_staff_name'), ['staff_name'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('staff_arrangements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_arrangements_staff_name'))
    op.drop_table('staff_arrangements')
    with op.batch_alter_table('pupil_exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pupil_exceptions_pupil_id'))
    op.drop_table('pupil_exceptions')
