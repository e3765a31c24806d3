"""A real ``phonelocker web`` process: a login survives its restart; the login limit
holds behind the trusted proxy however the client rotates X-Forwarded-For."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kiosk.devtools.ports import free_port

from ..conftest import PHONELOCKER
from .conftest import PASSWORD


class WebProcess:
    """``phonelocker web`` on a free port, started and stopped by the test."""

    def __init__(self, config_file: Path, port: int) -> None:
        self.config_file, self.port = config_file, port
        self.process: subprocess.Popen | None = None

    def start(self) -> WebProcess:
        self.process = subprocess.Popen(
            [PHONELOCKER, "--config", str(self.config_file), "web", "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url("/login"), timeout=2):
                    return self
            except OSError:
                assert self.process.poll() is None, self.process.stdout.read()
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.1)

    def stop(self) -> str:
        assert self.process is not None
        self.process.terminate()
        return self.process.communicate(timeout=15)[0]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Browser:
    """A cookie jar and an opener: enough of a browser for forms with a CSRF token."""

    def __init__(self, web: WebProcess) -> None:
        self.web = web
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, headers: dict | None = None) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.web.url(path), headers=headers or {}))

    def post(self, path: str, form: dict, headers: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.web.url(path), data=body, headers=headers or {})
        return self._open(request)

    def _open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=20) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def login(self, username: str, password: str, headers: dict | None = None) -> int:
        _status, page = self.get("/login", headers)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "username": username, "password": password}
        return self.post("/login", form, headers)[0]


@pytest.fixture
def web_config(tmp_path, db) -> Path:
    path = tmp_path / "web.toml"
    path.write_text(
        f'[database]\nurl = "{db.url}"\n'
        f'[web]\nsecret_key_file = "{tmp_path}/secret_key"\ntrusted_proxy = "127.0.0.1"\n',
        encoding="utf-8",
    )
    return path


def test_a_login_survives_restarting_the_dashboard(web_config):
    web = WebProcess(web_config, free_port()).start()
    browser = Browser(web)
    try:
        assert browser.login("office", PASSWORD) == 200  # followed the redirect to Today
        status, page = browser.get("/")
        assert status == 200 and "Lockers" in page
    finally:
        web.stop()
    web.start()
    try:
        status, page = browser.get("/")
        assert status == 200 and "Lockers" in page and "Log in" not in page
    finally:
        web.stop()


def test_login_limit_behind_the_proxy_ignores_a_rotating_forwarded_for(web_config):
    web = WebProcess(web_config, free_port()).start()
    try:
        guesser = Browser(web)
        codes = []
        for n in range(22):
            # The client sends its own X-Forwarded-For; the proxy appends the real address.
            headers = {"X-Forwarded-For": f"203.0.113.{n}, 10.20.30.40"}
            codes.append(guesser.login(f"guess{n}", "not the password", headers))
        assert codes[:19] == [401] * 19 and set(codes[19:]) == {429}
        blocked = guesser.login("office", PASSWORD, {"X-Forwarded-For": "10.20.30.40"})
        assert blocked == 429
        # Someone else behind the same proxy is not blocked.
        colleague = Browser(web)
        assert colleague.login("office", PASSWORD, {"X-Forwarded-For": "10.20.30.41"}) == 200
    finally:
        output = web.stop()
    assert "from 10.20.30.40" in output and "203.0.113" not in output
