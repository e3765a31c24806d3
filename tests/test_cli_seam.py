"""The CLI's seams: the dashboard's commands arrive through the phonelocker.commands
entry point, and only when asked for (a kiosk command never imports Flask or web/)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_the_dashboard_declares_its_commands_as_an_entry_point():
    declared = {ep.name: ep.value for ep in entry_points(group="phonelocker.commands")}
    assert declared.get("web") == "web.cli:register"


def _modules_after(*args: str) -> set[str]:
    code = (
        "import sys\n"
        "from kiosk.cli.main import cli\n"
        f"try:\n    cli({list(args)!r}, standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    return set(done.stdout.split())


def test_a_kiosk_command_does_not_load_the_dashboard():
    loaded = _modules_after("status", "--help")
    assert "flask" not in loaded
    assert not {name for name in loaded if name == "web" or name.startswith("web.")}


def test_the_group_help_attaches_the_dashboard_commands():
    from click.testing import CliRunner

    from kiosk.cli.main import cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("web", "users", "demo"):
        assert f"\n  {name} " in result.output
