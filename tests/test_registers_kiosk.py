"""A pupil with an exception may still hand a phone in (a voluntary hand-in) at the kiosk."""

from __future__ import annotations

from kiosk.policy import Action
from kiosk.registers.exceptions import add_exception
from kiosk.school.queries import pupil_states
from kiosk.store.models import Pupil

from .test_service import AMARA, setup  # noqa: F401 - the kiosk service fixture


def test_an_excepted_pupil_may_still_hand_in(setup):  # noqa: F811
    service, clock, db, amara_id = setup()
    with db.session() as session:
        add_exception(session, session.get(Pupil, amara_id), kind="medical", reason="monitor",
                      agreed_by="Mrs Patel", now=clock(), zone=service.config.policy.zone)
        session.commit()
    outcome = service.tap(AMARA)
    assert outcome.decision.action is Action.DEPOSIT
    with db.session() as session:
        row = next(r for r in pupil_states(session, service.config, now=clock())["pupils"]
                   if r["id"] == amara_id)
    assert row["state"] == "in_locker" and row["exception"]["kind"] == "medical"
