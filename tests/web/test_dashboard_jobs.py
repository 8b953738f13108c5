"""The jobs page in a real browser (headless Chromium, a real `queuectl serve` on SQLite):
its total and page number, the page in the URL, the duration and last-error columns, the
column chooser, and "select all matching this filter"."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.web.browsing import Server, expect, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def burst(server: Server) -> None:
    """Run every due job to its end with a real worker (`worker start --burst`)."""
    command = [sys.executable, "-m", "queuectl", "--db", server.db, "worker", "start"]
    subprocess.run([*command, "--burst"], check=True, capture_output=True, timeout=120)


def first_id(tab: Any) -> str:
    return str(tab.locator("#jobs tbody tr").first.get_attribute("data-id"))


def test_the_list_counts_its_filter_and_keeps_its_page_in_the_url(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call(
        "POST",
        "/api/jobs",
        [{"id": f"b-{n:03}", "command": "true", "queue": "bulk"} for n in range(120)],
    )
    server.call("POST", "/api/jobs", [{"id": f"o-{n}", "command": "true"} for n in range(5)])
    page.goto(server.base + "/jobs?queue=bulk")
    ready(page)
    expect(page.locator("#jobs-total")).to_have_text("120 jobs")
    expect(page.locator("#page-no")).to_have_text("Page 1 of 3")
    assert first_id(page) == "b-119"  # newest first

    page.get_by_role("button", name="Next →").click()
    expect(page.locator("#page-no")).to_have_text("Page 2 of 3")
    expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", "b-069")
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("#page-no")).to_have_text("Page 3 of 3")
    expect(page.locator("#jobs tbody tr")).to_have_count(20)
    assert "page=3" in page.url and "queue=bulk" in page.url

    page.reload()  # the same filter and page, and Previous still knows page 2
    ready(page)
    expect(page.locator("#page-no")).to_have_text("Page 3 of 3")
    assert first_id(page) == "b-019"
    assert page.locator("input[name=queue]").input_value() == "bulk"
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#page-no")).to_have_text("Page 2 of 3")
    expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", "b-069")

    page.go_back()  # back to page 3, then to page 2 and 1 as they were first shown
    expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", "b-019")
    page.go_back()
    expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", "b-069")
    page.go_back()
    expect(page.locator("#page-no")).to_have_text("Page 1 of 3")
    expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", "b-119")
    page.go_forward()
    expect(page.locator("#page-no")).to_have_text("Page 2 of 3")

    page.locator("input[name=state][value=pending]").check()  # a new filter: page 1
    expect(page.locator("#page-no")).to_have_text("Page 1 of 3")
    assert "page=" not in page.url and "state=pending" in page.url
    page.fill("input[name=search]", "true")  # a search is not counted: what was seen
    expect(page.locator("#jobs-total")).to_have_text("more than 50 jobs")
    expect(page.locator("#page-no")).to_have_text("Page 1")
    page.fill("input[name=search]", "no such command")
    expect(page.locator("#jobs-total")).to_have_text("0 jobs")


def test_duration_and_last_error_columns_and_a_remembered_column_choice(
    serve: Callable[..., Server], page: Any, browser: Any
) -> None:
    server = serve()
    server.call("POST", "/api/jobs", {"id": "slow", "command": "sleep 1.2"})
    server.call("POST", "/api/jobs", {"id": "bad", "command": "exit 7", "max_retries": 0})
    server.call("POST", "/api/jobs", {"id": "waiting", "command": "true", "delay": 3600})
    burst(server)
    page.goto(server.base + "/jobs")
    ready(page)
    slow = page.locator("#jobs tr[data-id='slow']")
    took = float(slow.locator(".c-duration").inner_text().removesuffix("s"))
    assert 1.2 <= took < 60, took  # from its enqueue to its end: at least its run
    bad = page.locator("#jobs tr[data-id='bad']")
    expect(bad.locator(".c-error")).to_have_text(server.job("bad")["last_error"])
    assert "exit code 7" in bad.locator(".c-error").inner_text()
    assert page.locator("#jobs tr[data-id='waiting'] .c-duration").inner_text() == "\u2013"

    page.locator("#columns summary").click()
    page.locator("#columns input[value=error]").uncheck()
    page.locator("#columns input[value=command]").uncheck()
    expect(bad.locator(".c-error")).to_be_hidden()
    expect(page.locator("#jobs th.c-command")).to_be_hidden()
    page.keyboard.press("Escape")  # the chooser is a drop-down: Escape closes it
    expect(page.locator("#columns fieldset")).to_be_hidden()
    page.reload()
    ready(page)
    expect(page.locator("#jobs tr[data-id='bad'] .c-error")).to_be_hidden()
    expect(page.locator("#jobs tr[data-id='bad'] .c-command")).to_be_hidden()
    expect(page.locator("#jobs tr[data-id='bad'] .c-duration")).to_be_visible()
    assert not page.locator("#columns input[value=error]").is_checked()

    other = browser.new_context()  # another browser profile: its own choice
    try:
        tab = other.new_page()
        tab.goto(server.base + "/jobs")
        ready(tab)
        expect(tab.locator("#jobs tr[data-id='bad'] .c-error")).to_be_visible()
    finally:
        other.close()


def test_select_all_matching_sends_the_filter_and_acts_on_every_match(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call(
        "POST",
        "/api/jobs",
        [{"id": f"a-{n:02}", "command": "true", "queue": "a"} for n in range(60)],
    )
    server.call(
        "POST", "/api/jobs", [{"id": f"z-{n}", "command": "true", "queue": "z"} for n in range(5)]
    )
    page.goto(server.base + "/jobs?queue=a")
    ready(page)
    wider = page.locator("#select-matching")
    expect(wider).to_be_hidden()
    page.locator("#select-all").check()
    expect(page.locator("#selected-count")).to_have_text("50 selected")
    expect(wider).to_have_text("Select all 60 jobs matching this filter")
    wider.click()
    expect(page.locator("#selected-count")).to_have_text(
        "All 60 jobs matching this filter selected"
    )

    page.locator("[data-bulk='cancel']").click()
    expect(page.locator("#confirm-msg")).to_contain_text("all 60 jobs")
    with page.expect_request("**/api/jobs/bulk") as sent:
        page.locator("#confirm-ok").click()
    assert sent.value.post_data_json == {"action": "cancel", "queue": "a"}
    expect(page.locator("#flash")).to_have_text("Cancel: 60 jobs done.")
    jobs = server.call("GET", "/api/jobs?limit=100")["jobs"]
    states = {job["id"]: job["state"] for job in jobs}
    assert {s for i, s in states.items() if i.startswith("a-")} == {"cancelled"}
    assert {s for i, s in states.items() if i.startswith("z-")} == {"pending"}
    expect(page.locator("#selected-count")).to_have_text("0 selected")

    # All or nothing: deleting every job (five are pending) changes none.
    page.goto(server.base + "/jobs")
    ready(page)
    page.locator("#select-all").check()
    page.locator("#select-matching").click()
    page.locator("[data-bulk='delete']").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#flash")).to_have_class("error")
    assert len(server.call("GET", "/api/jobs?limit=100")["jobs"]) == 65
