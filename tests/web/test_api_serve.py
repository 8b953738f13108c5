"""`queuectl serve` as a real process: start-up rules, the one-line errors, what it prints,
and that no other command loads the web stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for
from tests.web.api_server import free_port, sse_events

TOKEN = "serve-test-token-0123456789"


def queuectl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_refuses_other_addresses_without_a_token(tmp_path: Path) -> None:
    env = {"QUEUECTL_TOKEN": ""}
    done = queuectl("--db", str(tmp_path / "q.db"), "serve", "--host", "0.0.0.0", env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "refusing to serve on 0.0.0.0" in done.stderr
    webui = queuectl("--db", str(tmp_path / "q.db"), "webui", "--host", "0.0.0.0", env=env)
    assert webui.returncode == 2 and "without a token" in webui.stderr


def test_missing_web_extra_is_one_line(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "litestar"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named litestar')\n")
    env = {"PYTHONPATH": f"{shim.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = queuectl("--db", str(tmp_path / "q.db"), "serve", env=env)
    assert done.returncode == 1
    assert done.stderr == "error: the web server is not installed: install queuectl[web]\n"


def test_enqueue_does_not_import_the_web_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "queuectl",
            "--db",
            str(tmp_path / "q.db"),
            "enqueue",
            '{"command": "true"}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("litestar", "uvicorn", "anyio")}
    assert not {m for m in imported if m.startswith("queuectl.web")}


@pytest.mark.not_fast  # a `queuectl serve` process
def test_serve_process_end_to_end(store_url: str, tmp_path: Path) -> None:
    url = store_url
    if url.startswith("postgresql://postgres@"):  # trust auth ignores it; must never show
        url = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "--db", url, "serve", "--port", str(port)],
            stdout=out,
            stderr=out,
            env={**os.environ, "QUEUECTL_TOKEN": TOKEN},
        )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                return False

        wait_for(healthy, 60, "queuectl serve to answer")
        with httpx.stream("GET", f"{base}/api/events", timeout=30) as stream:
            events = sse_events(stream.iter_lines())
            assert next(e for e in events if e[0] == "status")
            assert httpx.post(f"{base}/api/jobs", json={"command": "true"}).status_code == 401
            created = httpx.post(
                f"{base}/api/jobs", json={"id": "e2e", "command": "true"}, headers=auth
            )
            assert created.status_code == 201
            assert next(e for e in events if e[0] == "jobs")
        assert httpx.get(f"{base}/api/jobs/e2e").json()["job"]["state"] == "pending"
        assert (
            httpx.get(f"{base}/api/jobs/e2e", headers={"Authorization": "Bearer x"}).status_code
            == 401
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    printed = log.read_text()
    assert f"http://127.0.0.1:{port}" in printed
    assert TOKEN not in printed and "hunter2" not in printed
    if url != store_url:
        assert "postgres:***@" in printed


def test_serve_in_help_and_old_spellings_hidden(tmp_path: Path) -> None:
    names = {
        line.split()[0] for line in queuectl("--help").stdout.splitlines() if line.startswith("  ")
    }
    assert "serve" in names and "webui" not in names and "dashboard" not in names
    for old in ("dashboard", "webui"):
        done = queuectl("--db", str(tmp_path / "q.db"), old, "--help")
        assert done.returncode == 0 and "--host" in done.stdout and "--port" in done.stdout
