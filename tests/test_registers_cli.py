"""The registers' CLI contract, through real ``phonelocker`` subprocesses.

The subprocesses keep the real clock, so the tests learn "today" from what
the CLI prints (the ``from`` it defaults to) and otherwise use dates far in
the past or future.
"""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli

CONTRACT = {"id", "pupil_id", "kind", "reason", "agreed_by", "from", "until", "review",
            "ended_at"}


@pytest.fixture
def school(config_file):
    run_cli(config_file, "db", "upgrade")
    ids = {}
    for name, year, class_name in (("Amara Okafor", 6, "6K"), ("Ben Carter", 6, "6K"),
                                   ("Zara Ali", 3, "3B")):
        out = run_cli(config_file, "pupils", "add", "--name", name, "--year", str(year),
                      "--class", class_name).stdout
        ids[name.split()[0].lower()] = int(out)
    return ids


def pupil_row(config_file, pupil_id: int) -> dict:
    document = json.loads(run_cli(config_file, "status", "--json").stdout)
    return next(row for row in document["pupils"] if row["id"] == pupil_id)


def test_add_list_status_and_end(config_file, school):
    added = json.loads(run_cli(
        config_file, "exceptions", "add", str(school["amara"]), "--kind", "medical",
        "--by", "Mrs Patel", "--reason", "glucose monitor runs on the phone",
        "--until", "2100-07-22", "--review", "2100-01-05", "--json").stdout)
    assert set(added) >= CONTRACT
    assert (added["pupil_id"], added["kind"], added["agreed_by"], added["until"],
            added["review"], added["ended_at"]) == (
        school["amara"], "medical", "Mrs Patel", "2100-07-22", "2100-01-05", None)
    # a pupil of any year: Zara is in Year 3, with a plain id printed
    zara = run_cli(config_file, "exceptions", "add", str(school["zara"]), "--kind",
                   "young_carer", "--by", "Mrs Patel", "--reason", "cares for her mum").stdout
    assert int(zara) > added["id"]

    listed = json.loads(run_cli(config_file, "exceptions", "list", "--json").stdout)
    assert [row["pupil_id"] for row in listed] == [school["zara"], school["amara"]]
    assert all(set(row) >= CONTRACT for row in listed)

    status = json.loads(run_cli(config_file, "status", "--json").stdout)
    fields = {row["id"]: row["exception"] for row in status["pupils"]}
    assert fields == {
        school["amara"]: {"kind": "medical", "until": "2100-07-22", "review": "2100-01-05"},
        school["ben"]: None,
        school["zara"]: {"kind": "young_carer", "until": None, "review": None},
    }
    text = run_cli(config_file, "status").stdout
    assert "keeps phone: medical" in text and "keeps phone: young carer" in text
    assert text.count("not handed in") == 1  # Ben

    ended = run_cli(config_file, "exceptions", "end", str(added["id"]), "--by", "office",
                    "--reason", "reviewed with parents")
    assert ended.stdout.strip() == f"exception {added['id']} ended for Amara Okafor"
    assert pupil_row(config_file, school["amara"])["exception"] is None
    row = next(r for r in json.loads(run_cli(config_file, "exceptions", "list", "--json").stdout)
               if r["id"] == added["id"])
    assert row["ended_at"] and row["ended_by"] == "office" and row["standing"] == "ended"

    audit = json.loads(run_cli(config_file, "events", "--kind", "exception_added", "--kind",
                               "exception_ended", "--json").stdout)
    assert [(e["kind"], e["pupil_id"]) for e in audit] == [
        ("exception_added", school["amara"]), ("exception_added", school["zara"]),
        ("exception_ended", school["amara"])]
    assert audit[2]["actor"] == "office" and "reviewed with parents" in audit[2]["reason"]


def test_an_exception_starting_later_is_listed_but_not_in_force(config_file, school):
    run_cli(config_file, "exceptions", "add", str(school["ben"]), "--kind", "send",
            "--by", "SENCo", "--reason", "assistive technology", "--from", "2100-01-04")
    (row,) = json.loads(run_cli(config_file, "exceptions", "list", "--json").stdout)
    assert (row["from"], row["standing"]) == ("2100-01-04", "starts_later")
    assert pupil_row(config_file, school["ben"])["exception"] is None


#: (arguments, exit code, words in the one-line error)
BAD = [
    (["exceptions", "add", "999", "--kind", "medical", "--by", "A", "--reason", "r"], 1,
     "no pupil with id 999"),
    (["exceptions", "add", "1", "--kind", "phone", "--by", "A", "--reason", "r"], 2,
     "'phone' is not one of"),
    (["exceptions", "add", "1", "--kind", "medical", "--reason", "r"], 2,
     "Missing option '--by'"),
    (["exceptions", "add", "1", "--kind", "medical", "--by", "A", "--reason", "r",
      "--until", "2001-01-01"], 1, "is before the start date"),
    (["exceptions", "add", "1", "--kind", "medical", "--by", "A", "--reason", "r",
      "--review", "31/12/2026"], 1, "--review '31/12/2026' is not a date YYYY-MM-DD"),
    (["exceptions", "add", "1", "--kind", "medical", "--by", "A", "--reason", " "], 1,
     "a reason is needed"),
    (["exceptions", "end", "999", "--by", "A", "--reason", "r"], 1,
     "no exception with id 999"),
    (["arrangements", "end", "999", "--by", "A", "--reason", "r"], 1,
     "no arrangement with id 999"),
    (["arrangements", "add", "--staff", "Mr A", "--what", "MFA codes"], 2,
     "Missing option '--by'"),
]


def test_errors_are_one_line_with_the_usual_exit_codes_and_record_nothing(config_file, school):
    for args, code, message in BAD:
        result = run_cli(config_file, *args, check=False)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        if code == 1:
            assert result.stderr.count("\n") == 1 and result.stderr.startswith("phonelocker: ")
    assert json.loads(run_cli(config_file, "exceptions", "list", "--json").stdout) == []
    assert json.loads(run_cli(config_file, "arrangements", "list", "--json").stdout) == []


def test_arrangements_add_list_for_one_person_and_end(config_file, school):
    first = json.loads(run_cli(
        config_file, "arrangements", "add", "--staff", "Mr Ó Néill", "--what", "MFA codes",
        "--by", "Mrs Patel", "--json").stdout)
    assert (first["staff"], first["what"], first["agreed_by"], first["until"],
            first["standing"]) == ("Mr Ó Néill", "MFA codes", "Mrs Patel", None, "in_force")
    run_cli(config_file, "arrangements", "add", "--staff", "Ms Jones", "--what",
            "emergency contact from own child's school", "--by", "Mrs Patel",
            "--until", "2100-03-31")
    mine = json.loads(run_cli(config_file, "arrangements", "list", "--staff", "MR Ó NÉILL",
                              "--json").stdout)
    assert [row["id"] for row in mine] == [first["id"]]
    run_cli(config_file, "arrangements", "end", str(first["id"]), "--by", "admin",
            "--reason", "school phones for MFA now")
    everyone = json.loads(run_cli(config_file, "arrangements", "list", "--json").stdout)
    assert [(row["staff"], row["standing"]) for row in everyone] == [
        ("Ms Jones", "in_force"), ("Mr Ó Néill", "ended")]
    audit = json.loads(run_cli(config_file, "events", "--kind", "arrangement_added",
                               "--kind", "arrangement_ended", "--json").stdout)
    assert [e["kind"] for e in audit] == ["arrangement_added", "arrangement_added",
                                          "arrangement_ended"]
