"""The schedules page in a real browser (headless Debian Chromium under Playwright) against
a real `queuectl serve` on a real SQLite file, whose housekeeping enqueues due runs."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.browsing import WAIT_MS, Server, expect
from tests.web.browsing import ready as _ready
from tests.web.test_dashboard import _action_controls

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOURLY = {"name": "hourly", "spec": {"command": "echo tick"}, "every": 3600}


@pytest.fixture
def new_york(browser: Any) -> Iterator[Any]:
    """A tab whose browser lives in New York, so local times differ from the server's."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, timezone_id="America/New_York"
    )
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_a_schedule_is_added_from_the_form_and_a_bad_cron_shows_next_to_its_field(
    serve: Callable[..., Server], new_york: Any
) -> None:
    server = serve()
    tab = new_york
    tab.goto(server.base + "/schedules")
    _ready(tab)
    expect(tab.locator("#schedules-empty")).to_be_visible()
    tab.fill("#f-name", "nightly")
    tab.fill("#f-command", "backup --all")
    tab.fill("#f-cron", "61 2 * * *")
    tab.fill("#f-tz", "Europe/Paris")
    tab.fill("#f-queue", "maintenance")
    tab.get_by_role("button", name="Add schedule").click()
    expect(tab.locator("#err-cron")).to_contain_text("invalid cron")
    assert tab.get_attribute("#f-cron", "aria-invalid") == "true"
    assert server.call("GET", "/api/schedules") == []

    tab.fill("#f-cron", "0 2 * * *")
    tab.select_option("#f-catch_up", "none")
    tab.check("#f-no_overlap")
    tab.get_by_role("button", name="Add schedule").click()
    row = tab.locator("#schedules tr[data-key='nightly']")
    expect(row).to_contain_text("0 2 * * *")
    expect(row.locator(".words")).to_contain_text("02:00")
    expect(row).to_contain_text("Europe/Paris")
    expect(tab.locator("#zone")).to_have_text("(America/New_York)")
    # 02:00 in Paris (UTC+1 in winter, UTC+2 in summer) is 20:00 or 21:00 in New York
    times = row.locator(".next-runs time")
    expect(times).to_have_count(3)
    for text in times.all_inner_texts():
        assert text.endswith(("20:00:00", "21:00:00")), text
    assert row.locator("a.runs").get_attribute("href") == "/jobs?id_prefix=nightly%40"
    assert tab.get_attribute("#f-cron", "aria-invalid") is None
    (added,) = server.call("GET", "/api/schedules")
    assert (added["spec"]["command"], added["spec"]["queue"]) == ("backup --all", "maintenance")
    assert (added["catch_up"], added["no_overlap"], added["tz"]) == ("none", True, "Europe/Paris")


def test_the_last_run_shows_its_state_and_links_to_its_job(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call("POST", "/api/schedules", {"name": "tick", "spec": {"command": "true"}, "every": 1})
    page.goto(server.base + "/schedules")
    _ready(page)
    link = page.locator("#schedules tr[data-key='tick'] a[href^='/jobs/tick%40']")
    expect(link).to_be_visible()  # serve's housekeeping enqueued a run; no worker runs it
    expect(page.locator("#schedules tr[data-key='tick'] .state-pending")).to_be_visible()
    link.click()
    _ready(page)
    expect(page.locator("#job-id")).to_contain_text("tick@")


def test_pause_resume_run_now_and_remove_with_a_confirmation(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call("POST", "/api/schedules", HOURLY)
    page.goto(server.base + "/schedules")
    _ready(page)
    row = page.locator("#schedules tr[data-key='hourly']")
    expect(row).to_contain_text("active")

    row.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("paused")
    assert server.call("GET", "/api/schedules/hourly")["paused"] is True
    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_role("button", name="Pause")).to_be_visible()
    assert server.call("GET", "/api/schedules/hourly")["paused"] is False

    row.get_by_role("button", name="Run now").click()
    expect(page.locator("#flash")).to_contain_text("enqueued")
    (run,) = server.call("GET", "/api/schedules/hourly/runs")
    assert run["id"].startswith("hourly@") and run["id"].endswith("-now")

    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#confirm")).to_be_visible()
    page.locator("#confirm-cancel").click()
    assert server.call("GET", "/api/schedules/hourly")["name"] == "hourly"
    row.get_by_role("button", name="Remove").click()
    page.locator("#confirm-ok").click()
    expect(row).to_have_count(0)
    expect(page.locator("#schedules-empty")).to_be_visible()
    with pytest.raises(urllib.error.HTTPError):
        server.call("GET", "/api/schedules/hourly")
    assert server.state(run["id"]) == "pending"  # its runs stay

    page.goto(server.base + "/jobs?id_prefix=hourly%40")
    _ready(page)
    expect(page.locator(f"#jobs tr[data-id='{run['id']}']")).to_be_visible()


def test_a_read_only_server_lists_schedules_without_actions(
    serve: Callable[..., Server], page: Any, tmp_path: Path
) -> None:
    writable = serve()
    writable.call("POST", "/api/schedules", HOURLY)
    server = serve("--read-only", db=tmp_path / "queue.db")
    page.goto(server.base + "/schedules")
    _ready(page)
    words = server.call("GET", "/api/schedules/hourly")["words"]
    expect(page.locator("#schedules tr[data-key='hourly']")).to_contain_text(words)
    assert _action_controls(page) == []
    assert page.locator("#add-schedule").is_hidden()
