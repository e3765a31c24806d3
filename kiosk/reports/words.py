"""Reason codes as staff say them: one table, used by the page, the file and the CSV."""

from __future__ import annotations

from kiosk.policy import Refusal

#: refusal reason code (kiosk/policy.py ``Refusal``) -> the words staff use
REFUSAL_WORDS: dict[str, str] = {
    Refusal.YEAR_NOT_ALLOWED.value: "Wrong year",
    Refusal.YEAR5_NOT_APPROVED.value: "Year 5 without approval",
    Refusal.UNKNOWN_CARD.value: "Unknown card",
    Refusal.CARD_REVOKED.value: "Cancelled card",
    Refusal.TOO_EARLY.value: "Too early to collect",
    Refusal.RANDOM_UID.value: "Phone or bank card instead of a pupil card",
    Refusal.PUPIL_INACTIVE.value: "Pupil has left",
    Refusal.NO_BAY.value: "No bay assigned",
    Refusal.IN_OTHER_LOCKER.value: "Phone already in another locker",
}


def refusal_words(code: str | None) -> str:
    """The staff words for a refusal code; an unknown code is shown as it is."""
    if not code:
        return "No reason recorded"
    return REFUSAL_WORDS.get(code, code.replace("_", " "))


def override_words(bay: int | None) -> str:
    """An ``override`` event: one bay ("Emergency unlock") or every bay ("Open all")."""
    return "Open all" if bay is None else "Emergency unlock"
