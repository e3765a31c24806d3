"""``phonelocker demo --lockers 2``: two real kiosk processes, each with its own SQLite,
syncing with a central SQLite file that the dashboard runs on."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from sqlalchemy import select

from kiosk.devtools.demo_school import school_pupils, write_school
from kiosk.store.db import Database
from kiosk.store.models import Card
from web.demoprocess import DemoProcess

from .conftest import run_cli

AMARA, BEN = "04A1B2C3D4E5F6", "04B2C3D4E5F607"
#: generous: the workers poll every 0.5 s, but the machine is shared and busy
WITHIN_S = 20.0


def wait_for(check, what: str, timeout: float = WITHIN_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def central_events(demo: DemoProcess, kind: str) -> list[dict]:
    result = demo.phonelocker("events", "--kind", kind, "--json")
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with DemoProcess(tmp_path_factory.mktemp("school"), lockers=2) as process:
        yield process


def test_the_demo_says_where_everything_is(demo):
    printed = "\n".join(demo.output)
    for path in (demo.directory / "central.db", demo.configs["demo-6k"],
                 demo.configs["demo-6r"]):
        assert str(path) in printed
    assert f"{demo.url}/screen?locker=demo-6r" in printed
    assert {"office", "teacher6k", "teacher6r", "admin"} <= set(demo.passwords)
    lockers = json.loads(demo.phonelocker("lockers", "--json").stdout)
    assert [(row["id"], row["name"]) for row in lockers] == [("demo-6k", "6K"),
                                                              ("demo-6r", "6R")]
    pupils = demo.phonelocker("pupils", "list").stdout
    assert "6R" in pupils and "6K" in pupils


def test_a_tap_at_the_second_locker_reaches_the_central_dashboard(demo):
    demo.tap(AMARA, locker="demo-6r")
    deposits = wait_for(
        lambda: [e for e in central_events(demo, "deposit") if e["card_uid"] == AMARA],
        "Amara's deposit at 6R in the central database")
    assert len(deposits) == 1 and deposits[0]["locker"] == "demo-6r"
    status = json.loads(demo.phonelocker("status", "--json").stdout)
    amara = next(row for row in status["pupils"] if row["name"] == "Amara Okafor")
    assert amara["state"] == "in_locker"
    # the kiosk's own report of its running sync worker (from its heartbeat)
    sync = json.loads(run_cli(demo.configs["demo-6r"], "sync", "status", "--json").stdout)
    assert sync["kiosk_running"] is True and sync["connected"] is True
    assert sync["central"] == f"sqlite:///{demo.directory / 'central.db'}"
    # and the dashboard itself answers on the central database
    with urllib.request.urlopen(f"{demo.url}/screen?locker=demo-6r", timeout=5) as response:
        assert response.status == 200


def test_a_card_revoked_centrally_is_refused_at_a_kiosk(demo):
    demo.phonelocker("pupils", "revoke-card", BEN, "--reason", "lost")
    kiosk_db = Database(f"sqlite:///{demo.configs['demo-6k'].parent / 'phonelocker.db'}")
    try:
        def revoked_at_kiosk() -> bool:
            with kiosk_db.session() as session:
                card = session.scalars(select(Card).where(Card.uid == BEN)).first()
                return card is not None and not card.active
        wait_for(revoked_at_kiosk, "the revocation in the 6K kiosk's own database")
    finally:
        kiosk_db.dispose()
    demo.tap(BEN, locker="demo-6k")
    refused = wait_for(
        lambda: [e for e in central_events(demo, "refused") if e["card_uid"] == BEN],
        "Ben's refusal at 6K in the central database")
    assert refused[0]["locker"] == "demo-6k" and refused[0]["reason"] == "card_revoked"
    assert not [e for e in central_events(demo, "deposit") if e["card_uid"] == BEN]


def test_ctrl_c_stops_both_kiosks_locked(demo):
    demo.stop()
    assert demo.process.returncode == 0, demo.log()
    for locker_id, config in demo.configs.items():
        db = Database(f"sqlite:///{config.parent / 'phonelocker.db'}")
        try:
            with db.session() as session:
                from kiosk.store.models import Event

                kinds = session.scalars(
                    select(Event.kind).where(Event.locker_id == locker_id).order_by(Event.id)
                ).all()
        finally:
            db.dispose()
        assert kinds[-1] == "kiosk_stopped", (locker_id, kinds)


def test_the_school_layout_splits_the_pupils_and_names_the_lockers(tmp_path):
    school = write_school(tmp_path / "demo", 3, host="127.0.0.1", port=8080,
                          udp_ports=[50001, 50002, 50003])
    assert [locker.name for locker in school.lockers] == ["6K", "6R", "5R"]
    assert (tmp_path / "demo" / "6r" / "config.toml") == school.lockers[1].config_path
    text = school.lockers[1].config_path.read_text()
    assert 'udp:127.0.0.1:50002' in text and f'url = "{school.central_url}"' in text
    assert f'url = "{school.central_url}"' in school.dashboard_config.read_text()
    classes = {class_name for _name, year, class_name, _uid in school_pupils() if year == 6}
    assert classes == {"6K", "6R"}


def test_many_lockers_refuse_a_config_file(tmp_path):
    result = run_cli(tmp_path / "mine.toml", "demo", "--lockers", "2", "--data-dir",
                     str(tmp_path / "demo"), check=False)
    assert result.returncode == 2
    assert "--lockers writes every config itself" in result.stderr
    assert not (tmp_path / "demo").exists()
