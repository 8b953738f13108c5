"""Screenshots of every dashboard page, at desktop and phone width, light and dark, over a
real queue with jobs in every state: for people to look at (the README's picture is one
of them), so the test checks only that each page drew its data and saved its picture.
They go to $QUEUECTL_SCREENSHOTS, or a pytest temp dir; the test prints which."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import start_worker, stop, wait_for
from tests.web.browsing import WAIT_MS, Server, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PAGES = [  # name, path, what shows the page has its data
    ("overview", "/", "#queues tbody tr"),
    ("jobs", "/jobs", "#jobs tbody tr"),
    ("job", "/jobs/export-0007", "#attempts li"),
    ("dlq", "/dlq", "#dlq-groups tbody tr"),
    ("workers", "/workers", "#workers tbody tr"),
    ("enqueue", "/enqueue", "#enqueue"),
    ("config", "/config", "#config tbody tr"),
]


def _fill(server: Server, release: Path) -> None:
    """Completed, dead, cancelled, scheduled and (in a paused queue) pending jobs."""
    done = [
        {"id": f"mail-{n:04}", "command": f"echo sent {n}", "queue": "email"} for n in range(14)
    ]
    done += [{"id": f"thumb-{n:04}", "command": "sleep 0.1", "queue": "images"} for n in range(6)]
    broken = "echo 'connecting to export host'; echo 'export: host unreachable' >&2; exit 3"
    dead: list[dict[str, Any]] = [
        {"id": f"export-{n:04}", "command": broken, "queue": "reports", "max_retries": 0}
        for n in range(6, 9)
    ]
    dead.append({"id": "resize-0001", "command": "exit 2", "queue": "images", "max_retries": 0})
    server.call("POST", "/api/jobs", done + dead)
    command = [sys.executable, "-m", "queuectl", "--db", server.db, "worker", "start"]
    subprocess.run([*command, "--burst"], check=True, capture_output=True, timeout=120)
    server.call("POST", "/api/queues/reports/pause")
    later: list[dict[str, Any]] = [
        {"id": f"report-{n:04}", "command": "make report", "queue": "reports"} for n in range(4)
    ]
    later += [{"id": f"digest-{n}", "command": "send digest", "delay": 3600} for n in range(2)]
    later += [{"id": f"old-{n}", "command": "true", "queue": "email"} for n in range(2)]
    server.call("POST", "/api/jobs", later)
    server.call("POST", "/api/jobs/cancel", {"ids": ["old-0", "old-1"]})
    wait = f"while [ ! -e {release} ]; do sleep 0.05; done"
    server.call("POST", "/api/jobs", {"id": "backup-nightly", "command": wait, "queue": "ops"})


def test_screenshots_of_every_page_at_two_widths_light_and_dark(
    serve: Callable[..., Server], browser: Any, shots: Path, tmp_path: Path
) -> None:
    server = serve()
    release = tmp_path / "release"
    _fill(server, release)
    worker = start_worker(server.db, tmp_path / "worker.log", "--count", "2")
    try:
        wait_for(lambda: server.state("backup-nightly") == "processing", what="a running job")
        saved = []
        for size, viewport in SIZES.items():
            for scheme in ("light", "dark"):
                context = browser.new_context(viewport=viewport, color_scheme=scheme)
                context.set_default_timeout(WAIT_MS)
                tab = context.new_page()
                for name, path, shown in PAGES:
                    tab.goto(server.base + path)
                    ready(tab)
                    tab.wait_for_selector(shown)
                    target = shots / f"{name}-{size}-{scheme}.png"
                    tab.screenshot(path=str(target), full_page=size == "phone")
                    saved.append(target)
                context.close()
    finally:
        release.touch()
        stop(worker)
    print(f"dashboard screenshots: {shots}")
    assert len(saved) == len(PAGES) * 4
    assert all(path.stat().st_size > 5000 for path in saved)
