"""kiosk.cli.base."""
