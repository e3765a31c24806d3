"""Staff accounts: create, check a password, change role, classes or password, disable.

Shared by ``phonelocker users`` and the dashboard. Passwords are hashed with
scrypt (Werkzeug's format, salted); the policy is at least
:data:`MIN_PASSWORD_LENGTH` characters and not on a short list of common
passwords. A teacher's classes must be classes the school has (pupils' ``class_name``,
any case; saved in the school's spelling). A new password (own change, reset),
disabling an account or changing its role ends that account's dashboard
sessions (:func:`end_sessions`). Every change records a ``user_created`` or ``user_updated`` event;
the caller commits. There are no default accounts: the first admin is made
with ``phonelocker users create NAME --role admin``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from kiosk.errors import ActionError
from kiosk.inputs import clean_address
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Pupil, StaffClass, StaffUser, WebSession
from kiosk.timeutil import naive_utc

ROLES = ("teacher", "office", "admin")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
HASH_METHOD = "scrypt"
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
CLASS_PATTERN = re.compile(r"^\S(?:.{0,62}\S)?$")

#: Refused whatever their case. Shorter favourites already fail the length rule.
COMMON_PASSWORDS = frozenset((
    "0123456789", "0987654321", "1111111111", "1234567890", "12345678910", "123456789a",
    "1q2w3e4r5t", "1qaz2wsx3edc", "a123456789", "aaaaaaaaaa", "abcdefghij", "abc1234567",
    "abcd123456", "administrator", "changeme123", "football123", "iloveyou12", "letmein123",
    "letmeinplease", "monkey1234", "passw0rd123", "password01", "password1!", "password12",
    "password123", "password1234", "password2024", "password2025", "password2026", "phonelocker",
    "phonelocker1", "phonelocker123", "qwerty1234", "qwerty12345", "qwertyuiop", "qwertyuiop1",
    "school1234", "school12345", "schoolpassword", "starwars12", "sunshine12", "teacher123",
    "teacher1234", "trustno1234", "welcome123", "welcome1234", "welcome2024", "welcome2025",
    "welcome2026",
))


@cache
def _dummy_hash() -> str:
    """Checked when the username is unknown, so a wrong name costs as long as a wrong password."""
    return generate_password_hash("not a real password, only here for timing", HASH_METHOD)


def normalise_username(text: str) -> str:
    """Lower-case username of 2-64 letters, digits, ``.``, ``_`` or ``-``; else ActionError."""
    username = (text or "").strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise ActionError(
            f"{text!r} is not a username: use 2-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return username


def check_password_policy(password: str, username: str | None = None) -> None:
    """Raise ActionError, saying why, if ``password`` is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ActionError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ActionError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 3:
        raise ActionError("that password is too common or too easy to guess: choose another")
    if username and username.lower() in lowered:
        raise ActionError("the password must not contain the username")


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in Werkzeug's ``scrypt:N:r:p$salt$hash`` form."""
    return generate_password_hash(password, method=HASH_METHOD)


def school_classes(session: Session) -> list[str]:
    """The classes the school has now: those of active pupils, sorted."""
    query = select(Pupil.class_name).where(Pupil.active).distinct().order_by(Pupil.class_name)
    return list(session.scalars(query))


def check_classes(session: Session, classes: list[str] | tuple[str, ...]) -> list[str]:
    """Strip, de-duplicate and match class names to the school's, ignoring case.

    Returns them in the school's spelling ("6k" -> "6K"); raises ActionError
    naming the known classes if one is not a class the school has.
    """
    known = school_classes(session)
    by_folded = {name.casefold(): name for name in known}
    cleaned: list[str] = []
    unknown: list[str] = []
    for given in classes:
        name = (given or "").strip()
        if not name:
            continue
        if not CLASS_PATTERN.match(name):
            raise ActionError(f"{name!r} is not a class name (1-64 characters)")
        canonical = by_folded.get(name.casefold())
        if canonical is None:
            unknown.append(name)
        elif canonical not in cleaned:
            cleaned.append(canonical)
    if unknown:
        listed = ", ".join(known) if known else "none yet (import the pupil list first)"
        raise ActionError(
            f"no class called {', '.join(unknown)} in the school; the classes are: {listed}"
        )
    return cleaned


def end_sessions(session: Session, user: StaffUser) -> int:
    """Sign ``user`` out of the dashboard everywhere; return how many sessions ended.

    The caller commits. The next request with one of those cookies finds no
    session row and is sent to the login page.
    """
    query = delete(WebSession).where(WebSession.user_id == user.id)
    return session.execute(query).rowcount or 0


def check_email(text: str | None) -> str | None:
    """An account's email address stripped, None for empty; ActionError if malformed."""
    if text is None or not text.strip():
        return None
    try:
        return clean_address(text)
    except ValueError as error:
        raise ActionError(str(error)) from None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ActionError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def get_user(session: Session, username: str) -> StaffUser | None:
    """The account called ``username`` (any case), active or not."""
    name = (username or "").strip().lower()
    return session.scalars(select(StaffUser).where(StaffUser.username == name)).first()


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    actor: str,
    classes: list[str] | tuple[str, ...] = (),
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Add an account; a teacher sees only ``classes``. Raises ActionError on bad input.

    ``email``: where its notices go (a teacher's: their classes'), or None.
    ``now`` is the caller's clock (default: the wall clock).
    """
    at = naive_utc(now)
    username = normalise_username(username)
    check_role(role)
    if get_user(session, username) is not None:
        raise ActionError(f"there is already an account called {username}")
    check_password_policy(password, username)
    classes = check_classes(session, classes)
    email = check_email(email)
    user = StaffUser(username=username, password_hash=hash_password(password), role=role,
                     active=True, email=email, created_at=at)
    user.classes = [StaffClass(class_name=name) for name in classes]
    session.add(user)
    session.flush()
    detail = f"role {role}" + (f", classes {', '.join(classes)}" if classes else "")
    detail += f", email {email}" if email else ""
    record_event(session, Kind.USER_CREATED, at=at, actor=actor, reason=f"{username}: {detail}")
    return user


def update_user(
    session: Session,
    user: StaffUser,
    *,
    actor: str,
    role: str | None = None,
    classes: list[str] | tuple[str, ...] | None = None,
    active: bool | None = None,
    now: datetime | None = None,
    email: str | None = None,
) -> list[str]:
    """Change role, classes, active or email; return what changed (recorded as one event).

    ``email`` None leaves the address alone; ``""`` removes it.

    A new role or disabling ends all the account's sessions: what it may see or
    do changed, so it signs in again.
    """
    changed: list[str] = []
    sign_out = False
    if role is not None and check_role(role) != user.role:
        user.role = role
        changed.append(f"role {role}")
        sign_out = True
    if classes is not None:
        wanted = check_classes(session, classes)
        if sorted(wanted) != sorted(c.class_name for c in user.classes):
            user.classes = [StaffClass(class_name=name) for name in wanted]
            changed.append(f"classes {', '.join(wanted) or 'none'}")
    if email is not None:
        address = check_email(email)
        if address != user.email:
            user.email = address
            changed.append(f"email {address}" if address else "email removed")
    if active is not None and active != user.active:
        user.active = active
        changed.append("enabled" if active else "disabled")
        sign_out = sign_out or not active
    if sign_out:
        end_sessions(session, user)
    if changed:
        session.flush()
        record_event(session, Kind.USER_UPDATED, at=naive_utc(now), actor=actor,
                     reason=f"{user.username}: {'; '.join(changed)}")
    return changed


def set_password(
    session: Session, user: StaffUser, password: str, *, actor: str, now: datetime | None = None
) -> None:
    """Replace the password after checking the policy; end all the account's sessions.

    Someone changing their own password in the dashboard stays signed in
    there: :mod:`web.auth` gives that browser a new session afterwards.
    """
    check_password_policy(password, user.username)
    user.password_hash = hash_password(password)
    end_sessions(session, user)
    record_event(session, Kind.USER_UPDATED, at=naive_utc(now), actor=actor,
                 reason=f"{user.username}: password changed")


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active account if ``password`` is right, else None (taking as long either way)."""
    user = get_user(session, username)
    if user is None or not user.active:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user
