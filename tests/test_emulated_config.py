"""The emulated locker's config text (kiosk/devtools/emulated_config.py) reads back as
the project's config, whatever the paths contain."""

from __future__ import annotations

from kiosk.config import load_config
from kiosk.devtools.emulated_config import DEMO_BAY, DEMO_POLICY, emulated_locker_toml


def test_the_text_reads_back_with_every_table(tmp_path):
    odd = tmp_path / 'a "quoted" \\ folder'
    odd.mkdir()
    path = tmp_path / "config.toml"
    path.write_text(emulated_locker_toml(
        header="first line\nsecond line", database_url=f"sqlite:///{odd / 'x.db'}",
        udp_port=54999, locker={"id": "l-1", "name": "Hall", "unlock_seconds": 0.5},
        bay=DEMO_BAY, policy=DEMO_POLICY,
        extra={"central": {"url": "sqlite:///central.db"}}), encoding="utf-8")

    config = load_config(path)

    assert path.read_text().startswith("# first line\n# second line\n")
    assert config.database.url == f"sqlite:///{odd / 'x.db'}"
    assert config.reader.device == "udp:127.0.0.1:54999"
    assert (config.locker.id, config.locker.name, config.locker.unlock_seconds) == (
        "l-1", "Hall", 0.5)
    assert [bay.number for bay in config.locker.bays] == [1]
    assert config.central.url == "sqlite:///central.db"
