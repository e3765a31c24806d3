"""What the data-care modules share: their error and row counts.

The jobs themselves are in :mod:`kiosk.care.backup` and :mod:`kiosk.care.restore`,
:mod:`kiosk.care.retention` (the purge), :mod:`kiosk.care.export` (subject access) and
:mod:`kiosk.care.rollover` (the new school year); their click commands are in
:mod:`kiosk.cli.care`.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def count_rows(session: Session, statement) -> int:
    """How many rows ``statement`` (a select) would return."""
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0
