"""kiosk.devtools."""
