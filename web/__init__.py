"""The staff dashboard: a Flask app over the kiosk's database.

:func:`create_app` builds it from a :class:`kiosk.config.Config`; ``phonelocker
web`` serves it with waitress (see :mod:`web.server`). The web process never
touches a pin or the reader: it reads the database and writes command rows
that the kiosk carries out.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from kiosk.config import Config
from kiosk.store.db import Database
from kiosk.timeutil import aware_utc_now
from web import access, words
from web.helpers import AppState, DbIdConverter, format_hhmm, format_when
from web.security import LoginLimiter, install_security, load_secret_key
from web.sessions import DatabaseSessionInterface

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 2 * 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "MAX_CONTENT_LENGTH": MAX_UPLOAD_BYTES,
    "SESSION_COOKIE_NAME": "phonelocker_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # False: Secure is still set whenever the request came over HTTPS
    # (request.is_secure; behind a proxy run `phonelocker web --trusted-proxy`).
    # True: always Secure.
    "SESSION_COOKIE_SECURE": False,
    # Forms stay valid for the session's life: a classroom display is open all day.
    "WTF_CSRF_TIME_LIMIT": None,
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_WINDOW_SECONDS": 300,
    # Failures from one address whatever usernames it tries (guessing through a staff list).
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "POLL_MILLISECONDS": 1000,
    "JSON_SORT_KEYS": False,
}

csrf = CSRFProtect()


def create_app(
    config: Config, db: Database | None = None, test_config: Mapping[str, Any] | None = None
) -> Flask:
    """Build the dashboard for ``config`` (and ``db``, opened from the config if None).

    ``test_config`` overrides Flask settings; besides Flask's own it accepts
    ``CLOCK`` (a callable returning an aware datetime) and ``IMPORT_DIR``.
    """
    app = Flask(__name__)
    app.url_map.converters["id"] = DbIdConverter  # before the blueprints' rules use it
    app.config.from_mapping(DEFAULTS)
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(config.web.secret_key_file)
    app.session_interface = DatabaseSessionInterface()
    app.extensions["phonelocker"] = AppState(
        config=config,
        db=db or Database(config.database.url),
        limiter=LoginLimiter(
            app.config["LOGIN_MAX_FAILURES"], app.config["LOGIN_WINDOW_SECONDS"],
            max_per_address=app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        ),
        import_dir=Path(app.config.get("IMPORT_DIR") or _private_temp_dir()),
        clock=app.config.get("CLOCK") or aware_utc_now,
    )
    csrf.init_app(app)
    install_security(app)
    app.before_request(access.load_user)
    app.teardown_appcontext(access.close_db_session)
    _register_blueprints(app)
    _register_templates(app, config)
    _register_errors(app)
    return app


def _private_temp_dir() -> str:
    """A 0700 folder for uploaded pupil lists between preview and confirm, removed at exit."""
    path = tempfile.mkdtemp(prefix="phonelocker-imports-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _register_blueprints(app: Flask) -> None:
    from web import (
        admin,
        auth,
        cards,
        emulator,
        history,
        imports,
        office,
        pupils,
        reports,
        screen,
        today,
    )
    from web.calendar import bp as calendar_bp
    from web.exceptions import bp as exceptions_bp
    from web.picker import bp as picker_bp

    app.register_blueprint(calendar_bp)
    modules = (auth, today, pupils, cards, imports, office, history, admin, emulator, screen,
               reports)
    for module in modules:
        app.register_blueprint(module.bp)
    app.register_blueprint(exceptions_bp)
    app.register_blueprint(picker_bp)


def _register_templates(app: Flask, config: Config) -> None:
    app.jinja_env.filters["hhmm"] = format_hhmm
    app.jinja_env.filters["when"] = format_when
    app.jinja_env.globals["emulated"] = config.emulated
    words.register(app)

    @app.context_processor
    def user_context() -> dict[str, Any]:
        user = g.get("user")
        return {
            "user": user,
            "can_office": access.can_office(),
            "is_admin": user is not None and user.role == "admin",
        }


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        log.warning("CSRF check failed: %s", error.description)
        message = "This form has expired or did not come from this site. Go back, reload, retry."
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("error.html", code=error.code, message=error.description), (
            error.code or 500
        )
