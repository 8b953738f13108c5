"""Who may do what: tokens, cookies with CSRF, read-only, loopback and other addresses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.web.api_server import serving

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
JOB = {"command": "true"}


def test_token_needed_for_changes_on_loopback(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN) as api:
        client = api.client
        assert client.get("/api/status").status_code == 200  # reads: loopback is enough
        refused = client.post("/api/jobs", json=JOB)
        assert refused.status_code == 401 and refused.headers["www-authenticate"]
        assert TOKEN not in refused.text
        wrong = client.post("/api/jobs", json=JOB, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert client.get("/api/status", headers={"Authorization": "Basic x"}).status_code == 401
        assert client.post("/api/jobs", json=JOB, headers=BEARER).status_code == 201
        assert client.get("/worker/stop").status_code == 401  # tool 000's changing GET
        assert client.get("/api/info").json()["auth_required"] is True


def test_cookie_login_and_csrf(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN) as api:
        browser = httpx.Client(base_url=api.base_url)
        bad = browser.post("/login", data={"token": "wrong"})
        assert bad.status_code == 303 and bad.headers["location"] == "/login?error=1"
        good = browser.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
        assert good.status_code == 303 and good.headers["location"] == "/"
        set_cookie = good.headers.get_list("set-cookie")
        session_cookie = next(c for c in set_cookie if c.startswith("queuectl_session="))
        assert "HttpOnly" in session_cookie and "samesite=strict" in session_cookie.lower()
        assert TOKEN not in " ".join(set_cookie)  # a session id, never the token
        csrf = browser.cookies["queuectl_csrf"]
        assert browser.post("/api/jobs", json=JOB).status_code == 403  # no CSRF header
        forged = browser.post("/api/jobs", json=JOB, headers={"X-Queuectl-Csrf": "guess"})
        assert forged.status_code == 403
        ok = browser.post("/api/jobs", json=JOB, headers={"X-Queuectl-Csrf": csrf})
        assert ok.status_code == 201
        other_site = browser.post(
            "/api/jobs",
            json=JOB,
            headers={"X-Queuectl-Csrf": csrf, "Origin": "http://evil.example"},
        )
        assert other_site.status_code == 403
        browser.post("/logout")
        assert (
            browser.post("/api/jobs", json=JOB, headers={"X-Queuectl-Csrf": csrf}).status_code
            == 401
        )
        browser.close()


def test_no_token_server_refuses_cross_site_and_rebinding(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        client = api.client
        assert client.post("/api/jobs", json=JOB).status_code == 201
        cross = client.post("/api/jobs", json=JOB, headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403
        rebound = client.get("/api/status", headers={"Host": "evil.example"})
        assert rebound.status_code == 421


def test_read_only_refuses_every_change(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN, read_only=True) as api:
        client = api.client
        for method, path, body in [
            ("POST", "/api/jobs", JOB),
            ("POST", "/api/jobs/x/cancel", None),
            ("DELETE", "/api/jobs/x", None),
            ("PUT", "/api/config/max-retries", {"value": "2"}),
            ("POST", "/api/dlq/purge", {}),
            ("POST", "/enqueue", JOB),
            ("GET", "/worker/start", None),
        ]:
            response = client.request(method, path, json=body, headers=BEARER)
            assert response.status_code == 403, (method, path)
            assert "read-only" in response.json()["error"]
        assert client.get("/api/jobs", headers=BEARER).status_code == 200
        assert client.get("/api/info").json()["read_only"] is True


def _in_own_network_namespace(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m tests.web.offloopback_probe ARGS` in a network namespace made for
    this test, where 10.77.0.1 is an address of the namespace's own and not loopback:
    the server and its client talk only inside it."""
    setup = 'ip link set lo up && ip addr add 10.77.0.1/32 dev lo && exec "$0" "$@"'
    command = ["unshare", "--net", "--", "sh", "-c", setup, sys.executable]
    command += ["-m", "tests.web.offloopback_probe", *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _namespaces_unavailable() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "--net", "--", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        check=False,
    )
    return None if probe.returncode == 0 else "cannot make a network namespace (needs root)"


@pytest.mark.parametrize("metrics_public", [False, True])
def test_off_loopback_every_request_needs_the_token(tmp_path: Path, metrics_public: bool) -> None:
    why = _namespaces_unavailable()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    done = _in_own_network_namespace(
        str(tmp_path / "q.db"), "public" if metrics_public else "private"
    )
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes["healthz"] == 200
    assert codes["status"] == 401
    assert codes["page"] == 401
    assert codes["status_bearer"] == 200
    assert codes["metrics"] == (200 if metrics_public else 401)
    assert codes["metrics_bearer"] == 200


def test_passwords_are_scrubbed_from_error_lines() -> None:
    from queuectl.web.errors import one_line

    line = one_line("cannot connect to postgresql://app:hunter2@db:5432/q\n(password=hunter2)")
    assert "hunter2" not in line and "postgresql://app:***@db:5432/q" in line
