"""kiosk.locker."""
