"""What the dashboard tests share: a `queuectl serve` process and a small JSON client for
it, Playwright's retrying assertions, and waits on the page (the fixtures that use these
are in conftest.py)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

WAIT_MS = 30_000


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported late: Playwright may be missing)."""
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


class Server:
    """A running `queuectl serve` and a tiny JSON client for it."""

    def __init__(self, db: str, base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.db, self.base, self.proc, self.log = db, base, proc, log

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def job(self, job_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/api/jobs/{job_id}")["job"]
        return found

    def state(self, job_id: str) -> str:
        return str(self.job(job_id)["state"])


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def ready(tab: Any) -> None:
    """The page script has finished its first load."""
    tab.wait_for_selector("body[data-ready='1']", state="attached")


def tab_to(tab: Any, selector: str, presses: int = 60) -> None:
    """Press Tab until `selector` has the focus: proves it is reachable by keyboard."""
    for _ in range(presses):
        tab.keyboard.press("Tab")
        if tab.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reachable with Tab")
