"""The enqueue form's unique key in a real browser (headless Chromium, a real `queuectl
serve`): a second job with a held key shows the job that holds it, adding nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.web.browsing import Server, expect
from tests.web.browsing import ready as _ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_enqueue_form_sends_the_unique_key_and_shows_the_holder(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call("POST", "/api/jobs", {"id": "holder", "command": "true", "unique_key": "sync-1"})
    page.goto(server.base + "/enqueue")
    _ready(page)
    page.fill("#f-command", "echo again")
    page.fill("#f-unique_key", "sync-1")
    page.select_option("#f-on_duplicate", "replace")
    page.get_by_role("button", name="Enqueue").click()
    page.wait_for_url("**/jobs/holder?duplicate=1")
    _ready(page)
    expect(page.locator("#flash")).to_contain_text("Nothing added")
    assert "sync-1" in page.inner_text("#spec")
    assert "echo again" in page.inner_text("#spec")  # replaced while it waited
    assert [job["id"] for job in server.call("GET", "/api/jobs")["jobs"]] == ["holder"]
