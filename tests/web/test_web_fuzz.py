"""Every route in the app's url_map, every method, as every role, with hostile values:
no 5xx, and no response whose body breaks after the status line was sent.

The fields fuzzed are the ones each handler actually reads: a first request with
no parameters records every ``request.args`` / ``request.form`` key the handler
looks up (a recording MultiDict), then each key gets each hostile value in turn,
as does each path variable.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask import Flask, Request
from werkzeug.datastructures import ImmutableMultiDict

from tests.web.conftest import LOCKER, login
from web import create_app

HOSTILE = [
    str(2**63), str(2**64), str(2**63 - 1), "-1", "0", "abc", "", " ", "1e9", "nan", "inf",
    "9999-12-31", "0000-00-00", "2000-02-30", "\x00", "a\x00b", "\x1b[2J", "x" * 5000,
    "9" * 5000, "ünïcødé ☃ 𝄞", "١٢٣", f"bay:{LOCKER}:999", f"bay:{LOCKER}:1",
    "bay:nope:1", "locker:nope", "all", f"1,2,{2**64}", "<script>",
]
ROLES = ["anonymous", "teacher6k", "office", "admin"]
#: POSTs that would end the fuzzing client's own session
SKIP_ENDPOINTS = {"auth.logout", "static"}

_read: set[tuple[str, str]] = set()


class _Recording(ImmutableMultiDict):
    """Remembers each key a handler asks for (``where`` is "args" or "form")."""

    where = "args"

    def get(self, key, default=None, type=None):
        _read.add((self.where, key))
        return super().get(key, default, type)

    def __getitem__(self, key):
        _read.add((self.where, key))
        return super().__getitem__(key)

    def getlist(self, key, type=None):
        _read.add((self.where, key))
        return super().getlist(key, type)

    def __contains__(self, key):
        _read.add((self.where, key))
        return super().__contains__(key)


class _RecordingRequest(Request):
    @property
    def args(self):
        return _Recording(super().args)

    @property
    def form(self):
        recording = _Recording(super().form)
        recording.where = "form"
        return recording


def _rules(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, rule.rule, method))
    return found


def _all_rules() -> list[tuple[str, str, str]]:
    """The rules of an app built only to list them (its database is never opened)."""
    import tempfile

    from kiosk.config import Config

    settings = {"SECRET_KEY": "x" * 32, "TESTING": True, "IMPORT_DIR": tempfile.gettempdir()}
    return _rules(create_app(Config(), test_config=settings))


CASES = [(endpoint, rule, method, role) for endpoint, rule, method in _all_rules()
         for role in ROLES]


def _path(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: quote(values[m[1]], safe=""), rule)


def _check(response, what: str) -> None:
    body = response.get_data()  # reads a streamed body to the end: a break mid-stream raises
    assert response.status_code < 500, f"{what}: {response.status_code} {body[:300]!r}"


def _valid(ids: dict[str, int]) -> dict[str, str]:
    """A good value for each field name the handlers use, so a request gets past the
    fields checked before the one being fuzzed."""
    return {
        "pupil_id": str(ids["amara"]), "user_id": str(ids["teacher5r"]), "command_id": "1",
        "filename": "style.css", "pupil": str(ids["amara"]), "target": f"bay:{LOCKER}:1",
        "seconds": "10", "reason": "fuzzing", "kind": "office_return", "year": "6",
        "name": "Fuzz Pupil", "class_name": "6K", "class": "6K", "bay": "1", "from": "2026-01-01",
        "to": "2026-01-02", "until": "2030-01-01", "by": "Mrs Head", "uid": "04A1B2C3D4E5F7",
        "role": "teacher", "classes": "6K", "active": "1", "username": "fuzzer",
        "locker": LOCKER, "commands": "1",
    }


def _send(send, url: str, where_values: dict[str, dict[str, str]]):
    return send(url, query_string=where_values["args"], data=where_values["form"])


@pytest.mark.parametrize(("endpoint", "rule", "method", "role"), CASES,
                         ids=[f"{m} {r} {role}" for _e, r, m, role in CASES])
def test_no_5xx_for_hostile_values(make_app, ids, heartbeat, endpoint, rule, method, role):
    app = make_app()
    app.request_class = _RecordingRequest
    client = app.test_client()
    heartbeat()
    if role != "anonymous":
        assert login(client, role).status_code == 302
    valid = _valid(ids)
    variables = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule)
    path = _path(rule, {name: valid.get(name, "1") for name in variables})
    send = getattr(client, method.lower())

    # Find the fields the handler reads: each pass with good values may get further.
    read: set[tuple[str, str]] = set()
    for _round in range(6):
        good = {"args": {}, "form": {}}
        for where, key in read:
            good[where][key] = valid.get(key, "1")
        _read.clear()
        _check(_send(send, path, good), f"{method} {path} with good values {good}")
        if _read <= read:
            break
        read |= _read

    for variable in variables:
        for value in HOSTILE:
            url = _path(rule, {**{n: valid.get(n, "1") for n in variables}, variable: value})
            _check(send(url), f"{method} {url!r}")
    for where, key in sorted(read):
        for value in HOSTILE:
            values = {"args": {}, "form": {}}
            for other_where, other in read:
                values[other_where][other] = valid.get(other, "1")
            values[where][key] = value
            _check(_send(send, path, values), f"{method} {path} {where} {key}={value[:40]!r}")
    if role != "anonymous":
        # the fuzzed requests must not have logged the client out (or they proved little)
        assert client.get("/api/today").status_code == 200, f"{endpoint} logged {role} out"


def test_the_fuzz_reaches_the_handlers_fields(make_app, ids, heartbeat):
    """The recording really sees the fields: without it the fuzz would test only paths."""
    app = make_app()
    app.request_class = _RecordingRequest
    client = app.test_client()
    login(client, "office")
    _read.clear()
    client.post("/office/unlock", data={"target": f"bay:{LOCKER}:1"})
    assert {("form", "target"), ("form", "seconds"), ("form", "reason")} <= _read
    _read.clear()
    client.get("/history")
    assert {("args", "from"), ("args", "to"), ("args", "pupil"), ("args", "kind")} <= _read

