"""The CLI contract: every command's --help and --config, pupils commands, clear errors."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from kiosk.cli.main import cli

from .conftest import write_config


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:  # runs by itself too, e.g. "bench"
                yield (*prefix, name)
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


ALL = sorted(leaf_commands(cli))


def test_the_contract_commands_exist():
    names = {" ".join(path) for path in ALL}
    assert {
        "db upgrade", "kiosk", "tap", "pupils add", "pupils import", "pupils approve",
        "pupils release", "pupils list", "status", "events", "lockers", "override", "bench",
        "doctor", "hw-test", "demo",
    } <= names


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_every_command_has_help_and_config(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "--config" in result.output
    assert "Usage: phonelocker" in result.output or "Usage: cli" in result.output


@pytest.fixture
def run(tmp_path):
    config_file = write_config(tmp_path)
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(cli, ["--config", str(config_file), *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke("db", "upgrade")
    return invoke


def test_pupils_add_prints_the_id_and_list_shows_the_card(run):
    pupil_id = int(run("pupils", "add", "--name", "Zoë Ng", "--year", "6", "--class", "6K",
                       "--card", "04:a1:b2:c3:d4:e5:f6").output)
    added = json.loads(run("pupils", "add", "--name", "Sam", "--year", "5", "--class", "5R",
                           "--json").output)
    assert added["id"] == pupil_id + 1 and added["year"] == 5
    listed = json.loads(run("pupils", "list", "--json").output)
    zoe = next(p for p in listed if p["id"] == pupil_id)
    assert zoe["name"] == "Zoë Ng" and zoe["cards"] == ["04A1B2C3D4E5F6"]


def test_one_command_stamps_everything_with_one_reading_of_the_clock(run, tmp_path):
    """The CLI reads the clock once per command: a pupil added with a card, and the
    two events that records, carry the same instant (not microseconds apart)."""
    from sqlalchemy import select

    from kiosk.store.db import Database
    from kiosk.store.models import Card, Event, Pupil, Year5Approval

    pupil_id = int(run("pupils", "add", "--name", "Sam", "--year", "5", "--class", "5R",
                       "--card", "04A1B2C3D4E5F6").output)
    run("pupils", "approve", str(pupil_id), "--by", "Mrs Head")
    database = Database(f"sqlite:///{tmp_path / 'phonelocker.db'}")
    with database.session() as session:
        pupil = session.get(Pupil, pupil_id)
        card = session.scalars(select(Card)).one()
        approval = session.scalars(select(Year5Approval)).one()
        at = {kind: when for kind, when in session.execute(select(Event.kind, Event.at))}
    database.dispose()
    assert pupil.created_at == card.issued_at == at["pupil_added"] == at["enrol"]
    assert approval.approved_at == at["approved"] > pupil.created_at


def test_approve_release_card_revoke_deactivate(run):
    year5 = run("pupils", "add", "--name", "Sam", "--year", "5", "--class", "5R").output.strip()
    year6 = run("pupils", "add", "--name", "Amara", "--year", "6", "--class", "6K").output.strip()
    assert "approved: Sam until 2099-07-20" in run(
        "pupils", "approve", year5, "--by", "Mrs Head", "--until", "2099-07-20").output
    refused = run("pupils", "approve", year6, "--by", "Mrs Head", ok=False)
    assert refused.exit_code == 1 and "approvals are for Year 5" in refused.output
    assert "early collection authorised" in run(
        "pupils", "release", year6, "--by", "Office", "--reason", "dentist").output
    run("pupils", "card", year6, "04A1B2C3D4E5F6")
    run("pupils", "revoke-card", "04A1B2C3D4E5F6", "--reason", "lost on trip")
    run("pupils", "deactivate", year5)
    kinds = [e["kind"] for e in json.loads(run("events", "--json").output)]
    for kind in ("approved", "early_release", "enrol", "card_revoked", "pupil_updated"):
        assert kind in kinds
    assert [p["id"] for p in json.loads(run("pupils", "list", "--json").output)] == [int(year6)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pupils", "add", "--name", "A", "--year", "6", "--class", "6K", "--card", "xyz"),
         "is not a card UID"),
        (("pupils", "add", "--name", "A", "--year", "42", "--class", "6K"), "not a school year"),
        (("pupils", "approve", "999", "--by", "X"), "no pupil with id 999"),
        (("pupils", "approve", "1", "--by", "X", "--until", "next week"), "not a date"),
        (("events", "--since", "yesterday"), "not an ISO 8601"),
        (("tap", "not-hex"), "is not a card UID"),
    ],
)
def test_bad_input_is_one_clear_line(run, args, message):
    run("pupils", "add", "--name", "Sam", "--year", "5", "--class", "5R")
    result = run(*args, ok=False)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_same_card_cannot_belong_to_two_pupils(run):
    run("pupils", "add", "--name", "A", "--year", "6", "--class", "6K", "--card", "1A2B3C4D")
    result = run("pupils", "add", "--name", "B", "--year", "6", "--class", "6K",
                 "--card", "1a2b3c4d", ok=False)
    assert "already belongs to another pupil" in result.output
    assert len(json.loads(run("pupils", "list", "--json").output)) == 1  # nothing half-added


def test_import_cli_is_all_or_nothing(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Forename,Surname,Year,Class\nAmara,Okafor,6,6K\nBen,Carter,Seven,6K\n")
    result = run("pupils", "import", str(bad), ok=False)
    assert result.exit_code == 1
    assert "row 3" in result.output and "nothing imported" in result.output
    assert json.loads(run("pupils", "list", "--json").output) == []
    good = tmp_path / "good.csv"
    good.write_text("Forename,Surname,Year,Class\r\nAmara,Okafor,6,6K\r\n", encoding="utf-8-sig")
    assert "1 created" in run("pupils", "import", str(good)).output
    assert "0 created, 0 updated, 1 unchanged" in run("pupils", "import", str(good)).output


def test_commands_on_a_database_that_was_never_migrated_say_what_to_do(tmp_path):
    config_file = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config_file), "status"])
    assert result.exit_code == 1
    assert "run 'phonelocker db upgrade'" in result.output


def test_forget_a_stale_locker(run, tmp_path):
    from kiosk.config import load_config
    from kiosk.locker.daemon import register_locker
    from kiosk.store.db import Database

    config = load_config(tmp_path / "config.toml")
    register_locker(Database(config.database.url), config)
    assert [lk["id"] for lk in json.loads(run("lockers", "--json").output)] == ["locker-1"]
    missing = run("lockers", "--forget", "nope", ok=False)
    assert missing.exit_code == 1 and "no locker 'nope'" in missing.output
    run("lockers", "--forget", "locker-1", "--by", "IT")
    assert json.loads(run("lockers", "--json").output) == []
    forgotten = [e for e in json.loads(run("events", "--json").output)
                 if e["kind"] == "locker_forgotten"]
    assert forgotten[0]["actor"] == "IT"
