"""Shared by the browser tests: Debian's Chromium under Playwright, a tab, and a real
`queuectl serve` with workers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl.store import Store, open_store
from tests.helpers import start_worker, stop, wait_for
from tests.web.api_server import free_port
from tests.web.browsing import WAIT_MS, Server, healthy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright; in CI its absence is a failure, elsewhere a skip."""
    missing = None
    if not shutil.which(CHROMIUM):
        missing = f"{CHROMIUM} not installed (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright (Python) not installed"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized tab; the test fails on any JavaScript error the page raised."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(WAIT_MS)
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $QUEUECTL_SCREENSHOTS, or a pytest temp dir."""
    folder = os.environ.get("QUEUECTL_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `queuectl serve` on a free loopback port over a fresh SQLite file (or `db`,
    a file or a database URL)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, db: Path | str | None = None) -> Server:
        url = str(db or tmp_path / "queue.db")
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        command = [sys.executable, "-m", "queuectl", "--db", url, "serve"]
        command += ["--host", "127.0.0.1", "--port", str(port), *args]
        with open(log, "ab") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=out)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {log.read_text()}")
            return healthy(base)

        wait_for(up, what="queuectl serve to answer /healthz")
        return Server(url, base, proc, log)

    yield start
    for proc in started:
        stop(proc)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Server], None]]:
    """Start a worker with two slots on a server's database (stopped at the end)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(server: Server) -> None:
        procs.append(start_worker(server.db, tmp_path / "worker.log", "--count", "2"))

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture
def opened() -> Iterator[Callable[[Server], Store]]:
    """The server's own database, opened here: what a worker would write, written."""
    stores: list[Store] = []

    def open_(server: Server) -> Store:
        stores.append(open_store(server.db))
        return stores[-1]

    yield open_
    for store in stores:
        store.close()
