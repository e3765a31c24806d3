"""web sessions in the database; teachers' classes in the school's spelling

Revision ID: 0002
Revises: 0001

Accounts made before classes were checked may have a class typed in another
case ("6k" for the school's "6K"), which matched no pupil. Each is rewritten
to the pupils' spelling (a duplicate of one the account already has is
dropped); a class no pupil has is left alone for an admin to correct.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('web_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    _canonical_teacher_classes()


def _canonical_teacher_classes() -> None:
    connection = op.get_bind()
    school = {
        name.casefold(): name
        for (name,) in connection.execute(sa.text("SELECT DISTINCT class_name FROM pupils"))
    }
    rows = connection.execute(sa.text("SELECT user_id, class_name FROM staff_classes")).all()
    have = {(user_id, name) for user_id, name in rows}
    for user_id, name in rows:
        canonical = school.get(name.casefold())
        if canonical is None or canonical == name:
            continue
        params = {"user_id": user_id, "old": name, "new": canonical}
        if (user_id, canonical) in have:
            connection.execute(sa.text(
                "DELETE FROM staff_classes WHERE user_id = :user_id AND class_name = :old"
            ), params)
        else:
            connection.execute(sa.text(
                "UPDATE staff_classes SET class_name = :new"
                " WHERE user_id = :user_id AND class_name = :old"
            ), params)
            have.add((user_id, canonical))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))

    op.drop_table('web_sessions')
