"""Workflows in the dashboard, in a real browser (headless Debian Chromium under
Playwright) against a real `queuectl serve` on a real SQLite file: a job's page names the
jobs it runs after and those after it, why it waits or was cancelled; the workflow
diagram; the blocked filter; the enqueue form's `after`; what a retry brought back; and
an open page following a release that a real worker's completion caused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from queuectl.models import RunResult
from queuectl.store import Store
from tests.conftest import as_claimed
from tests.helpers import start_worker, stop
from tests.web.browsing import Server, expect, tab_to
from tests.web.browsing import ready as _ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _kill(store: Store, job_id: str, queue: str) -> None:
    """Claim the job and fail its only attempt, as a worker would: it is dead."""
    (claimed,) = store.claim_jobs("w1", [queue], 1, 60.0)
    assert claimed.id == job_id
    job = as_claimed(store, job_id, "w1", claimed.last_attempt)
    assert store.fail_job(job, RunResult(3, "exit code 3"), 0.0) is not None


def test_a_jobs_page_names_its_workflow_and_a_retry_says_what_came_back(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any
) -> None:
    server = serve()
    server.call(
        "POST",
        "/api/jobs",
        [
            {"id": "build", "command": "false", "queue": "a", "max_retries": 0},
            {"id": "test", "command": "true", "queue": "b", "after": ["build"]},
            {"id": "ship", "command": "true", "queue": "b", "after": ["test"]},
        ],
    )
    page.goto(server.base + "/jobs/test")
    _ready(page)
    expect(page.locator("#job-blocked")).to_be_visible()
    expect(page.locator("#wf-blocked")).to_have_text("Blocked: waiting for 1 of 1 job to complete.")
    after = page.locator("#wf-after li[data-id='build']")
    expect(after).to_contain_text("pending")
    expect(after.get_by_role("link", name="build")).to_have_attribute("href", "/jobs/build")
    expect(page.locator("#wf-dependents li[data-id='ship']")).to_contain_text("pending")

    _kill(opened(server), "build", "a")  # the page follows: cancelled, and why
    expect(page.locator("#job-state")).to_have_text("cancelled")
    expect(page.locator("#wf-cancelled")).to_have_text(
        "Cancelled because it runs after build, which ended dead."
    )
    expect(page.locator("#job-blocked")).to_be_hidden()
    page.locator("#wf-cancelled").get_by_role("link", name="build").click()
    page.wait_for_url("**/jobs/build")
    _ready(page)
    expect(page.locator("#wf-dependents li[data-id='test']")).to_contain_text("cancelled")
    page.get_by_role("button", name="Retry from DLQ").click()
    expect(page.locator("#flash")).to_have_text(
        "Retried: the job is pending again. 2 jobs cancelled along the workflow came back too."
    )
    expect(page.locator("#wf-dependents li[data-id='test']")).to_contain_text("pending")
    assert server.job("ship")["blocked"] is True


def test_the_workflow_diagram_layers_jobs_and_opens_one(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call(
        "POST",
        "/api/jobs",
        [
            {"id": "fetch", "command": "true"},
            {"id": "clean", "command": "true", "after": ["fetch"]},
            {"id": "stats", "command": "true", "after": ["clean"]},
            {"id": "plot", "command": "true", "after": ["clean"]},
            {"id": "report", "command": "true", "after": ["stats", "plot", "fetch"]},
            {"id": "other", "command": "true"},
        ],
    )
    page.goto(server.base + "/jobs/stats")
    _ready(page)
    page.get_by_role("link", name="Show the whole workflow").click()
    page.wait_for_url("**/jobs/stats/graph")
    _ready(page)
    nodes = page.locator("#graph .node")
    expect(nodes).to_have_count(5)
    expect(page.locator("#graph .edge")).to_have_count(6)
    left = {
        job: float(page.locator(f"#graph .node[data-id='{job}'] rect").get_attribute("x") or "")
        for job in ("fetch", "clean", "stats", "plot", "report")
    }
    # Layers by longest path: report runs after fetch, but after stats too.
    assert left["fetch"] < left["clean"] < left["stats"] == left["plot"] < left["report"]
    expect(page.locator("#graph .node.current")).to_have_attribute("data-id", "stats")
    expect(page.locator("#graph .node[data-id='fetch']")).to_have_class("node state-pending")
    expect(page.locator("#graph .node[data-id='report']")).to_have_class("node state-blocked")
    expect(page.locator("#graph-legend")).to_contain_text("blocked 4")
    tab_to(page, "#graph .node[data-id='fetch']")  # each job is a link, by keyboard too
    page.keyboard.press("Enter")
    page.wait_for_url("**/jobs/fetch")
    page.go_back()
    _ready(page)
    page.locator("#graph .node[data-id='clean']").click()
    page.wait_for_url("**/jobs/clean")

    many: list[dict[str, Any]] = [{"id": "root", "command": "true"}]
    many += [{"id": f"leaf-{i}", "command": "true", "after": ["root"]} for i in range(300)]
    server.call("POST", "/api/jobs", many)
    page.goto(server.base + "/jobs/root/graph")
    _ready(page)
    expect(page.locator("#graph-wrap")).to_be_hidden()
    expect(page.locator("#graph-sum")).to_contain_text("This workflow has 301 jobs")
    expect(page.locator("#graph-counts tr[data-state='blocked'] td.num")).to_have_text("300")
    expect(page.locator("#graph-counts tr[data-state='pending'] td.num")).to_have_text("1")


def test_the_blocked_filter_and_the_enqueue_forms_after(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call("POST", "/api/jobs", [{"id": "one", "command": "true", "queue": "a"}])
    page.goto(server.base + "/enqueue")
    _ready(page)
    page.fill("#f-command", "echo two")
    page.fill("#f-id", "two")
    page.fill("#f-after", "nope")
    page.get_by_role("button", name="Enqueue").click()
    expect(page.locator("#err-after")).to_contain_text("'nope', which does not exist")
    page.fill("#f-after", " one, ")
    page.select_option("#f-after_mode", "finished")
    page.get_by_role("button", name="Enqueue").click()
    page.wait_for_url("**/jobs/two")
    _ready(page)
    expect(page.locator("#wf-after li[data-id='one']")).to_be_visible()
    assert server.job("two")["after_mode"] == "finished"
    page.get_by_role("link", name="Enqueue a copy").click()
    page.wait_for_url("**/enqueue?copy=two")
    _ready(page)
    expect(page.locator("#f-after")).to_have_value("one")
    expect(page.locator("#f-after_mode")).to_have_value("finished")

    page.goto(server.base + "/jobs?state=blocked")
    _ready(page)
    expect(page.locator("input[name=state][value=blocked]")).to_be_checked()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", "two")
    expect(rows.first).to_contain_text("blocked")


def test_open_pages_follow_a_release_caused_by_a_real_worker(
    serve: Callable[..., Server], page: Any, tmp_path: Path
) -> None:
    server = serve()
    go = tmp_path / "go"
    server.call(
        "POST",
        "/api/jobs",
        [
            {"id": "first", "command": f"while [ ! -e {go} ]; do sleep 0.05; done", "queue": "a"},
            # In a queue no worker serves: once released it stays pending, its row unchanged.
            {"id": "second", "command": "true", "queue": "b", "after": ["first"]},
        ],
    )
    worker = start_worker(server.db, tmp_path / "worker.log", "--queue", "a")
    try:
        page.goto(server.base + "/jobs/second")
        _ready(page)
        expect(page.locator("#job-blocked")).to_be_visible()
        expect(page.locator("#wf-after li[data-id='first']")).to_contain_text("processing")
        listed = page.context.new_page()
        listed.goto(server.base + "/jobs?state=blocked")
        _ready(listed)
        expect(listed.locator("#jobs tbody tr[data-id='second']")).to_be_visible()
        updated_at = server.job("second")["updated_at"]

        go.touch()  # the worker completes `first`; its finish releases `second`
        expect(page.locator("#wf-after li[data-id='first']")).to_contain_text("completed")
        expect(page.locator("#job-blocked")).to_be_hidden()
        expect(page.locator("#workflow")).not_to_contain_text("Blocked")
        expect(listed.locator("#jobs tbody tr")).to_have_count(0)
        expect(listed.locator("#jobs-empty")).to_be_visible()
        released = server.job("second")
        assert (released["state"], released["blocked"]) == ("pending", False)
        assert released["updated_at"] == updated_at  # a release moves no time stamp
    finally:
        go.touch()
        stop(worker)
