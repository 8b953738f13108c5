"""Limits on the dashboard, in a real browser (headless Debian Chromium under Playwright)
against a real `queuectl serve` on a real SQLite file: a queue's concurrency limit and
rate set, refused and lifted from the queues page, a concurrency key's limit edited, and
why a due job is not running shown where the job is. Jobs are claimed through the store
itself, as a worker claims them, so each view is checked in a known state."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from queuectl.models import RunResult
from queuectl.store import Store
from tests.web.browsing import Server, expect
from tests.web.browsing import ready as _ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _limits(store: Store, queue: str) -> tuple[int | None, str | None]:
    """A queue's limits as the store holds them: (concurrency, rate as written)."""
    found = {limit.queue: limit for limit in store.queue_limits()}.get(queue)
    if found is None:
        return None, None
    return found.concurrency, None if found.rate is None else str(found.rate)


def test_queue_limits_are_set_refused_and_lifted_in_place(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any
) -> None:
    server = serve()
    store = opened(server)
    server.call("POST", "/api/jobs", [{"id": "m1", "command": "true", "queue": "mail"}])
    page.goto(server.base + "/queues")
    _ready(page)
    row = page.locator("#queue-table tr[data-queue='mail']")
    expect(row.locator(".limits-now")).to_have_text("concurrency none, rate none")

    row.get_by_label("concurrency limit of mail").fill("2")
    row.get_by_label("rate of mail").fill("60/m")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".limits-now")).to_have_text("concurrency 0/2, rate 60/m")
    assert _limits(store, "mail") == (2, "60/m")

    # A bad value: the server's one line beside the fields, nothing changed.
    row.get_by_label("concurrency limit of mail").fill("0")
    row.get_by_role("button", name="Save").click()
    error = row.locator(".field-error")
    expect(error).to_have_text(
        "concurrency must be a whole number from 1 to 1000000 or none, not 0"
    )
    assert row.get_by_label("concurrency limit of mail").get_attribute("aria-invalid") == "true"
    row.get_by_label("concurrency limit of mail").fill("3")
    row.get_by_label("rate of mail").fill("fast")
    row.get_by_label("rate of mail").press("Enter")
    expect(error).to_contain_text("rate must be N/PERIOD")
    assert row.get_by_label("rate of mail").get_attribute("aria-invalid") == "true"
    assert _limits(store, "mail") == (2, "60/m")
    expect(row.locator(".limits-now")).to_have_text("concurrency 0/2, rate 60/m")
    row.get_by_label("rate of mail").press("Escape")  # drops what was typed
    expect(error).to_be_empty()
    expect(row.get_by_label("rate of mail")).to_have_value("60/m")
    expect(row.get_by_label("concurrency limit of mail")).to_have_value("2")

    # Lifting one (an empty field), then both.
    row.get_by_label("concurrency limit of mail").fill("")
    row.get_by_label("rate of mail").fill("60/m")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".limits-now")).to_have_text("concurrency none, rate 60/m")
    expect(error).to_be_empty()
    assert _limits(store, "mail") == (None, "60/m")
    row.get_by_role("button", name="Lift limits").click()
    expect(row.locator(".limits-now")).to_have_text("concurrency none, rate none")
    assert _limits(store, "mail") == (None, None)
    expect(row.get_by_label("rate of mail")).to_have_value("")


def test_limits_set_elsewhere_show_on_open_pages_and_a_draft_stays(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any, browser: Any
) -> None:
    server = serve()
    store = opened(server)
    later = {"id": "m1", "command": "true", "queue": "mail", "run_at": "2031-01-15T12:00:00Z"}
    server.call("POST", "/api/jobs", [later])  # nothing due: the counts stand still
    page.goto(server.base + "/queues")
    _ready(page)
    other = browser.new_context().new_page()  # a second dashboard, left open
    other.goto(server.base + "/queues")
    _ready(other)
    row = page.locator("#queue-table tr[data-queue='mail']")
    seen = other.locator("#queue-table tr[data-queue='mail'] .limits-now")
    expect(seen).to_have_text("concurrency none, rate none")

    row.get_by_label("concurrency limit of mail").fill("2")
    row.get_by_label("rate of mail").fill("60/m")
    row.get_by_role("button", name="Save").click()
    expect(seen).to_have_text("concurrency 0/2, rate 60/m")  # live, no reload
    expect(other.get_by_label("rate of mail")).to_have_value("60/m")

    # Set from the CLI: both pages show it; what a user is typing stays.
    typing = other.get_by_label("concurrency limit of mail")
    typing.fill("7")
    cli = [sys.executable, "-m", "queuectl", "--db", server.db]
    subprocess.run([*cli, "queue", "set", "mail", "--concurrency", "4"], check=True)
    expect(row.locator(".limits-now")).to_have_text("concurrency 0/4, rate 60/m")
    expect(row.get_by_label("concurrency limit of mail")).to_have_value("4")
    expect(seen).to_have_text("concurrency 0/4, rate 60/m")
    expect(typing).to_have_value("7")
    assert _limits(store, "mail") == (4, "60/m")
    other.context.close()


def test_a_keys_limit_is_edited_and_its_holder_linked(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any
) -> None:
    server = serve()
    store = opened(server)
    server.call("POST", "/api/jobs", _deploys())
    (held,) = store.claim_jobs("w1", None, 2, 60.0)  # the key allows one at a time
    assert held.id == "d-17"
    page.goto(server.base + "/queues")
    _ready(page)
    row = page.locator("#key-table tr[data-key='deploy-prod']")
    expect(row.locator(".c-key-running")).to_have_text("1/1")
    expect(row.locator(".c-key-limit")).to_have_text("1 (default)")
    expect(row.locator(".c-holders").get_by_role("link", name="d-17")).to_have_attribute(
        "href", "/jobs/d-17"
    )

    field = row.get_by_label("limit of key deploy-prod")
    field.fill("many")
    field.press("Enter")
    expect(row.locator(".field-error")).to_contain_text("invalid request body")
    assert store.key_limits(["deploy-prod"])[0].concurrency is None

    field.fill("3")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".c-key-running")).to_have_text("1/3")
    assert store.key_limits(["deploy-prod"])[0].concurrency == 3

    field.fill("")  # back to the default
    field.press("Enter")
    expect(row.locator(".c-key-limit")).to_have_text("1 (default)")
    assert store.key_limits(["deploy-prod"])[0].concurrency is None

    # A key with no job yet gets its limit from the form below the table.
    page.locator("#f-key").fill("gpu")
    page.locator("#f-key-limit").fill("2")
    page.get_by_role("button", name="Set a key's limit").click()
    expect(page.locator("#key-table tr[data-key='gpu'] .c-key-limit")).to_have_text("2")
    assert store.key_limits(["gpu"])[0].concurrency == 2


def test_a_held_back_due_job_says_why_on_its_page_the_list_and_the_queues_view(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any
) -> None:
    server = serve()
    store = opened(server)
    jobs = _deploys()
    jobs += [{"id": f"e-{n}", "command": "true", "queue": "encode"} for n in (1, 2)]
    server.call("POST", "/api/jobs", jobs)
    server.call("PUT", "/api/queues/encode/limits", {"concurrency": 1})
    claimed = store.claim_jobs("w1", None, 4, 60.0)
    assert sorted(job.id for job in claimed) == ["d-17", "e-1"]
    holder = next(job for job in claimed if job.id == "d-17")

    page.goto(server.base + "/jobs/d-18")
    _ready(page)
    expect(page.locator("#job-held")).to_have_text(
        "Due, but not running: key deploy-prod busy (job d-17)"
    )
    expect(page.locator("#job-held").get_by_role("link", name="d-17")).to_be_visible()
    expect(page.locator("#spec")).to_contain_text("deploy-prod")
    page.goto(server.base + "/jobs/e-2")
    _ready(page)
    expect(page.locator("#job-held")).to_have_text(
        "Due, but not running: queue at its concurrency limit 1/1"
    )

    page.goto(server.base + "/jobs?state=pending")
    _ready(page)
    expect(page.locator("#jobs tr[data-id='d-18'] .held")).to_have_text(
        "key deploy-prod busy (job d-17)"
    )
    expect(page.locator("#jobs tr[data-id='e-2'] .held")).to_have_text(
        "queue at its concurrency limit 1/1"
    )

    page.goto(server.base + "/queues")
    _ready(page)
    encode = page.locator("#queue-table tr[data-queue='encode']")
    expect(encode.locator(".held")).to_have_text("queue at its concurrency limit 1/1")
    expect(encode.locator(".limits-now")).to_have_text("concurrency 1/1, rate none")
    page.goto(server.base + "/")  # the overview's queues, from the status snapshot
    _ready(page)
    expect(page.locator("#queues tr[data-queue='encode'] .held")).to_have_text(
        "queue at its concurrency limit 1/1"
    )

    # Once the holder ends, the reason goes from the open job page (live).
    page.goto(server.base + "/jobs/d-18")
    _ready(page)
    expect(page.locator("#job-held")).to_be_visible()
    assert store.complete_job("d-17", "w1", holder.last_attempt, RunResult(0, None))
    expect(page.locator("#job-held")).to_be_hidden()


def test_the_enqueue_form_sends_a_concurrency_key(serve: Callable[..., Server], page: Any) -> None:
    server = serve()
    page.goto(server.base + "/enqueue")
    _ready(page)
    page.locator("#f-command").fill("true")
    page.locator("#f-concurrency_key").fill("bad key!")
    page.get_by_role("button", name="Enqueue").click()
    expect(page.locator("#err-concurrency_key")).to_contain_text("bad concurrency key")
    page.locator("#f-concurrency_key").fill("deploy-prod")
    page.get_by_role("button", name="Enqueue").click()
    page.wait_for_url("**/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    assert server.job(job_id)["concurrency_key"] == "deploy-prod"
    page.goto(server.base + "/enqueue?copy=" + job_id)
    _ready(page)
    expect(page.locator("#f-concurrency_key")).to_have_value("deploy-prod")


def _deploys() -> list[dict[str, str]]:
    """Jobs d-17 and d-18 of queue deploy, sharing concurrency key deploy-prod."""
    return [
        {"id": f"d-{n}", "command": "true", "queue": "deploy", "concurrency_key": "deploy-prod"}
        for n in (17, 18)
    ]
