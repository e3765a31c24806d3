"""kiosk.school."""
