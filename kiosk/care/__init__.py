"""kiosk.care."""
