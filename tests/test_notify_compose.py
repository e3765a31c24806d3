"""The words of notices: no pupil name in a subject; names only for classes the reader sees."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from kiosk.notify import compose
from kiosk.notify.compose import HeldPhone, Reader

LONDON = ZoneInfo("Europe/London")
DAY = date(2025, 12, 2)
PHONES = [
    HeldPhone("Ada Lovelace", "6K", datetime(2025, 12, 2, 8, 41, tzinfo=LONDON), "Y6 locker", 1),
    HeldPhone("Alan Turing", "6K", datetime(2025, 12, 1, 8, 30, tzinfo=LONDON), "Y6 locker", 2),
    HeldPhone("Grace Hopper", "6R", datetime(2025, 12, 2, 8, 50, tzinfo=LONDON), "Y6 locker", 1),
]
NAMES = {phone.pupil_name for phone in PHONES}
OFFICE = Reader("office@school.example")
MRS_K = Reader("k@school.example", frozenset({"6K"}))
MR_R = Reader("r@school.example", frozenset({"6R"}))
NOBODY = Reader("m@school.example", frozenset({"6M"}))


def _not_collected(reader):
    return compose.not_collected(reader, PHONES, day=DAY, collect_from=time(15, 15), minutes=30)


def _overnight(reader):
    return compose.overnight(reader, PHONES, day=DAY)


@pytest.mark.parametrize(
    ("make", "reader", "named", "subject_bits"),
    [
        (_not_collected, OFFICE, NAMES, ("3 phones not collected", "2 classes", "Tue 2 Dec 2025")),
        (_not_collected, MRS_K, {"Ada Lovelace", "Alan Turing"}, ("2 phones", "class 6K")),
        (_not_collected, MR_R, {"Grace Hopper"}, ("1 phone not collected", "class 6R")),
        (_not_collected, NOBODY, None, ()),
        (_overnight, OFFICE, NAMES, ("3 phones kept overnight",)),
        (_overnight, MRS_K, {"Ada Lovelace", "Alan Turing"}, ("2 phones kept overnight",)),
        (_overnight, NOBODY, None, ()),
    ],
)
def test_names_only_in_the_body_and_only_for_visible_classes(make, reader, named, subject_bits):
    message = make(reader)
    if named is None:
        assert message is None  # nothing this reader may see: no notice at all
        return
    for name in NAMES:
        assert name not in message.subject
        for part in name.split():
            assert part not in message.subject
    assert {name for name in NAMES if name in message.body} == named
    for bit in subject_bits:
        assert bit in message.subject


def test_the_body_says_where_each_phone_is_and_marks_overnight_ones():
    body = _not_collected(OFFICE).body
    assert "Ada Lovelace: Y6 locker, bay 1, since 08:41" in body
    assert "Alan Turing: Y6 locker, bay 2, since Mon 1 Dec 2025 08:30 (overnight)" in body
    assert "30 minutes after collection time (15:15)" in body
    assert body.index("Class 6K:") < body.index("Class 6R:")


@pytest.mark.parametrize(
    ("message", "subject", "in_body"),
    [
        (compose.fault("Y6 locker", "offline", datetime(2025, 12, 2, 9, 5, tzinfo=LONDON)),
         "Phone Locker: Y6 locker: kiosk offline since 09:05",
         "has not reported since 09:05 on Tue 2 Dec 2025"),
        (compose.fault("Y6 locker", "reader", datetime(2025, 12, 2, 9, 5, tzinfo=LONDON)),
         "Phone Locker: Y6 locker: card reader fault since 09:05",
         "card reader of Y6 locker has not worked since 09:05"),
        (compose.recovered("Y6 locker", "offline", datetime(2025, 12, 2, 9, 5, tzinfo=LONDON),
                           datetime(2025, 12, 2, 9, 47, tzinfo=LONDON)),
         "Phone Locker: Y6 locker: recovered (kiosk offline since 09:05)",
         "working again at 09:47 on Tue 2 Dec 2025, after a kiosk offline from 09:05 "
         "(about 42 minutes)"),
        (compose.alarm("forced_door", locker_name="Y6 locker", bay=2,
                       at=datetime(2025, 12, 2, 12, 1, tzinfo=LONDON), actor=None,
                       reason="door opened while locked"),
         "Phone Locker: Y6 locker: door forced open (bay 2) at 12:01",
         "opened at 12:01 on Tue 2 Dec 2025 while its lock was locked"),
        (compose.alarm("override", locker_name="Y6 locker", bay=None,
                       at=datetime(2025, 12, 2, 12, 1, tzinfo=LONDON), actor="office",
                       reason="fire drill"),
         "Phone Locker: Y6 locker: emergency unlock (every bay) at 12:01",
         "By: office\nReason: fire drill"),
    ],
)
def test_fault_recovery_and_alarm_wording(message, subject, in_body):
    assert message.subject == subject
    assert in_body in message.body
