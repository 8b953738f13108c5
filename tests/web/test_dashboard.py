"""The dashboard in a real browser: headless Debian Chromium driven by Playwright, against a
real `queuectl serve` process on a real SQLite file, with real worker processes.

Screenshots go to $QUEUECTL_SCREENSHOTS (default: a pytest temp dir).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import start_worker, stop, wait_for
from tests.web.browsing import Server, expect, tab_to
from tests.web.browsing import ready as _ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_enqueued_job_appears_in_table_and_counts_change_without_reload(
    serve: Callable[..., Server], page: Any, shots: Path
) -> None:
    server = serve()
    page.goto(server.base + "/")
    _ready(page)
    assert page.inner_text("#count-pending") == "0"
    jobs_tab = page.context.new_page()
    jobs_tab.goto(server.base + "/jobs")
    _ready(jobs_tab)
    assert jobs_tab.locator("#jobs tbody tr").count() == 0
    page.evaluate("window.__same_document = true")
    jobs_tab.evaluate("window.__same_document = true")

    server.call("POST", "/api/jobs", {"id": "live-1", "command": "echo hello", "queue": "mail"})

    jobs_tab.wait_for_selector("#jobs tr[data-id='live-1']")
    assert "pending" in jobs_tab.inner_text("#jobs tr[data-id='live-1']")
    expect(page.locator("#count-pending")).to_have_text("1")
    page.wait_for_selector("#queues tr[data-queue='mail']")
    assert page.evaluate("window.__same_document") is True
    assert jobs_tab.evaluate("window.__same_document") is True
    page.screenshot(path=str(shots / "overview.png"))


def test_dead_job_is_retried_with_its_button_and_runs(
    serve: Callable[..., Server],
    workers: Callable[[Server], None],
    page: Any,
    tmp_path: Path,
    shots: Path,
) -> None:
    server = serve()
    workers(server)
    flag = tmp_path / "fixed"
    command = f"test -e {flag} && echo repaired || {{ echo broken >&2; exit 3; }}"
    server.call("POST", "/api/jobs", {"id": "flaky", "command": command, "max_retries": 0})
    wait_for(lambda: server.state("flaky") == "dead", what="flaky to die")
    flag.touch()

    page.goto(server.base + "/jobs/flaky")
    _ready(page)
    assert page.inner_text("#job-state") == "dead"
    tab_to(page, "#job-actions button.primary")  # Retry from DLQ, by keyboard
    assert page.evaluate("document.activeElement.textContent") == "Retry from DLQ"
    page.keyboard.press("Enter")

    expect(page.locator("#job-state")).to_have_text("completed")
    assert server.state("flaky") == "completed"
    expect(page.locator("#out-2-stdout")).to_have_text("repaired\n")  # the second run
    expect(page.locator("#out-1-stderr")).to_have_text("broken\n")
    page.screenshot(path=str(shots / "job.png"), full_page=True)


def test_running_job_output_appears_on_its_page_while_it_prints(
    serve: Callable[..., Server], workers: Callable[[Server], None], page: Any, tmp_path: Path
) -> None:
    server = serve()
    workers(server)
    go, end = tmp_path / "go", tmp_path / "end"
    wait = "while [ ! -e {} ]; do sleep 0.05; done"
    command = f"echo first-line; {wait.format(go)}; echo second-line; {wait.format(end)}"
    server.call("POST", "/api/jobs", {"id": "talker", "command": command})
    wait_for(lambda: server.state("talker") == "processing", what="talker to start")

    try:
        page.goto(server.base + "/jobs/talker")
        _ready(page)
        expect(page.locator("#out-1-stdout")).to_contain_text("first-line")
        assert server.state("talker") == "processing"  # still running: this output is live
        assert "second-line" not in page.inner_text("#out-1-stdout")
        go.touch()
        expect(page.locator("#out-1-stdout")).to_contain_text("second-line")
        assert server.state("talker") == "processing"
    finally:  # let the job end, so the workers stop promptly even after a failure
        go.touch()
        end.touch()
    expect(page.locator("#job-state")).to_have_text("completed")


def test_dlq_groups_two_different_errors_apart(
    serve: Callable[..., Server],
    workers: Callable[[Server], None],
    page: Any,
    shots: Path,
    tmp_path: Path,
) -> None:
    server = serve()
    workers(server)
    fixed = tmp_path / "fixed"
    specs = [
        {"id": "a1", "command": "exit 3", "max_retries": 0},
        {"id": "a2", "command": "exit 3", "max_retries": 0},
        {"id": "b1", "command": f"test -e {fixed} || exit 4", "max_retries": 0},
    ]
    server.call("POST", "/api/jobs", specs)
    for spec in specs:
        job_id = str(spec["id"])
        # wait_for calls the lambda before the loop moves on: it sees this job_id.
        wait_for(lambda: server.state(job_id) == "dead", what=f"{job_id} to die")  # noqa: B023

    page.goto(server.base + "/dlq")
    _ready(page)
    rows = page.locator("#dlq-groups tbody tr")
    assert rows.count() == 2
    cells = [rows.nth(i).locator("td") for i in range(2)]
    by_exit = {row.nth(2).inner_text(): row.nth(3).inner_text() for row in cells}
    assert by_exit == {"3": "2", "4": "1"}
    assert page.locator("#dlq-jobs tbody tr").count() == 3
    page.screenshot(path=str(shots / "dlq.png"), full_page=True)

    fixed.touch()
    row = page.locator("#dlq-groups tbody tr", has_text="exit code 4")
    row.get_by_role("button", name="Retry group").click()
    wait_for(lambda: server.state("b1") == "completed", what="the exit-4 group to be retried")
    expect(page.locator("#dlq-groups tbody tr")).to_have_count(1)
    assert server.state("a1") == "dead"


def test_enqueue_form_shows_the_api_validation_error_next_to_the_field(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    page.goto(server.base + "/enqueue")
    _ready(page)
    page.fill("#f-command", "echo from the form")
    page.fill("#f-priority", "urgent")
    page.get_by_role("button", name="Enqueue").click()
    expect(page.locator("#err-priority")).not_to_be_empty()
    assert page.get_attribute("#f-priority", "aria-invalid") == "true"
    assert page.url.endswith("/enqueue")
    assert server.call("GET", "/api/jobs")["jobs"] == []

    page.fill("#f-priority", "5")
    page.get_by_role("button", name="Enqueue").click()
    page.wait_for_url("**/jobs/*")
    _ready(page)
    assert "echo from the form" in page.inner_text("#spec")


def _action_controls(tab: Any) -> list[str]:
    """Visible buttons and inputs that would change something (pagers excluded)."""
    found = tab.evaluate(
        """() => [...document.querySelectorAll(
                  'main button, main input:not([type=checkbox]), main input.pick, '
                  + 'main textarea, #job-actions a')]
            .filter(el => el.offsetParent !== null && !el.closest('.pager, #filters, .cmd'))
            .filter(el => !(el.tagName === 'INPUT' && el.readOnly))
            .map(el => el.textContent.trim() || el.name || el.id)"""
    )
    return list(found)


def test_read_only_server_shows_no_action_buttons(
    serve: Callable[..., Server], workers: Callable[[Server], None], page: Any, tmp_path: Path
) -> None:
    writable = serve()
    workers(writable)
    writable.call("POST", "/api/jobs", {"id": "gone", "command": "exit 5", "max_retries": 0})
    writable.call("POST", "/api/jobs", {"id": "later", "command": "true", "delay": 3600})
    wait_for(lambda: writable.state("gone") == "dead", what="gone to die")
    server = serve("--read-only", db=tmp_path / "queue.db")
    assert server.call("GET", "/api/info")["read_only"] is True

    for path, shown in [
        ("/jobs", "#jobs tr[data-id='gone']"),
        ("/jobs/gone", "#attempts li"),
        ("/dlq", "#dlq-groups tbody tr"),
        ("/workers", "#workers tbody tr"),
        ("/config", "#config tbody tr"),
        ("/enqueue", ".ro-note"),
        ("/", "#queues tbody tr"),
    ]:
        page.goto(server.base + path)
        _ready(page)
        page.wait_for_selector(shown)
        assert _action_controls(page) == [], path


def test_token_server_refuses_the_page_without_the_token_and_works_after_login(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve("--token", "s3cret-token-for-the-dashboard")
    page.goto(server.base + "/jobs")
    assert "/login" in page.url
    assert page.locator("#jobs").count() == 0
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.call("POST", "/api/jobs", {"command": "true"})
    assert refused.value.code == 401

    page.fill("#f-token", "wrong")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#err-token")
    assert "/login" in page.url

    page.fill("#f-token", "s3cret-token-for-the-dashboard")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(server.base + "/jobs")
    _ready(page)
    assert page.url.endswith("/jobs")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["queuectl_session"]["httpOnly"] is True
    assert cookies["queuectl_session"]["sameSite"] == "Strict"

    # A change from the page works: the script repeats the CSRF cookie in its header.
    page.goto(server.base + "/enqueue")
    _ready(page)
    page.fill("#f-command", "echo signed in")
    page.get_by_role("button", name="Enqueue").click()
    page.wait_for_url("**/jobs/*")
    _ready(page)
    page.wait_for_selector("#job-actions button")
    assert "echo signed in" in page.inner_text("#spec")


def test_config_page_edits_a_key_and_shows_the_validation_error(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    page.goto(server.base + "/config")
    _ready(page)
    row = page.locator("#config tr[data-key='max-retries']")
    row.locator("input").fill("lots")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".field-error")).not_to_be_empty()
    assert row.locator("input").get_attribute("aria-invalid") == "true"

    row.locator("input").fill("7")
    row.locator("input").press("Enter")  # Enter saves, too
    expect(row.get_by_role("button", name="Reset")).to_be_visible()
    items = {i["key"]: i for i in server.call("GET", "/api/config")["items"]}
    assert items["max-retries"]["value"] == "7"


def test_bulk_cancel_by_keyboard_asks_first_and_changes_only_the_selection(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    specs = [{"id": f"bulk-{n}", "command": "true"} for n in range(3)]
    server.call("POST", "/api/jobs", specs)
    page.goto(server.base + "/jobs")
    _ready(page)
    for job_id in ("bulk-0", "bulk-2"):
        tab_to(page, f"input.pick[value='{job_id}']")
        page.keyboard.press("Space")
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    tab_to(page, "[data-bulk='cancel']")
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).to_be_visible()
    page.keyboard.press("Escape")  # declined: nothing happens
    expect(page.locator("#confirm")).to_be_hidden()
    assert server.state("bulk-0") == "pending"

    page.locator("[data-bulk='cancel']").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-ok")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#jobs tr[data-id='bulk-0'] .state")).to_have_text("cancelled")
    expect(page.locator("#jobs tr[data-id='bulk-2'] .state")).to_have_text("cancelled")
    assert [server.state(f"bulk-{n}") for n in range(3)] == ["cancelled", "pending", "cancelled"]


def test_workers_page_shows_a_worker_and_stops_it_gracefully(
    serve: Callable[..., Server], page: Any, tmp_path: Path
) -> None:
    server = serve()
    worker = start_worker(server.db, tmp_path / "worker.log", "--count", "2")
    release = tmp_path / "release"
    try:
        command = f"while [ ! -e {release} ]; do sleep 0.05; done; echo finished"
        server.call("POST", "/api/jobs", {"id": "busy", "command": command})
        wait_for(lambda: server.state("busy") == "processing", what="busy to start")
        page.goto(server.base + "/workers")
        _ready(page)
        row = page.locator("#workers tbody tr").first
        expect(row).to_contain_text(str(worker.pid))
        expect(row.locator("td").nth(4)).to_have_text("1 / 2")
        expect(row.get_by_role("link", name="busy")).to_be_visible()

        row.get_by_role("button", name="Stop", exact=True).click()
        page.locator("#confirm-ok").click()
        expect(row.locator(".state")).to_have_text("stopping")
        asked = server.call("GET", "/api/workers")["workers"]
        assert [w["stop_requested"] for w in asked] == ["graceful"]
        log = tmp_path / "worker.log"
        wait_for(lambda: "waiting up to" in log.read_text(), what="the worker to obey")
        assert worker.poll() is None  # graceful: it waits for its running job
        release.touch()
        assert worker.wait(60) == 0
        assert server.state("busy") == "completed"
    finally:
        release.touch()
        stop(worker)


def test_every_page_fits_a_phone_and_follows_the_dark_preference(
    serve: Callable[..., Server], browser: Any
) -> None:
    server = serve()
    long_command = "echo " + "a-very-long-argument " * 20
    server.call("POST", "/api/jobs", [{"id": "phone", "command": long_command}])
    backgrounds = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 390, "height": 800}, color_scheme=scheme)
        tab = context.new_page()
        for path in ("/", "/jobs", "/jobs/phone", "/dlq", "/workers", "/enqueue", "/config"):
            tab.goto(server.base + path)
            _ready(tab)
            overflow = tab.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone ({scheme})"
        backgrounds[scheme] = tab.evaluate("() => getComputedStyle(document.body).backgroundColor")
        context.close()
    assert backgrounds["light"] != backgrounds["dark"]


def test_a_slow_old_response_never_fills_the_table_of_a_newer_filter(
    serve: Callable[..., Server], page: Any
) -> None:
    """The unfiltered first page is held back until the user has ticked "dead" and seen the
    dead jobs; when it arrives, late, the table must still show only dead jobs (before,
    it showed the completed ones under the "dead" filter: "select all" + Delete would have
    deleted them)."""
    server = serve()
    server.call("POST", "/api/jobs", [{"id": f"ok-{n}", "command": "true"} for n in range(3)])
    dead = [{"id": f"bad-{n}", "command": "false", "max_retries": 0} for n in range(2)]
    server.call("POST", "/api/jobs", dead)
    burst = [sys.executable, "-m", "queuectl", "--db", server.db, "worker", "start", "--burst"]
    subprocess.run(burst, check=True, capture_output=True, timeout=120)

    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if not held and "state=" not in route.request.url:
            held.append(route)
        else:
            route.continue_()

    def unfiltered(request: Any) -> bool:
        return "/api/jobs?" in request.url and "state=" not in request.url

    def held_now() -> bool:
        page.evaluate("0")  # a round trip: Playwright runs route handlers only in its calls
        return bool(held)

    page.route("**/api/jobs?*", hold_the_first)
    with page.expect_request(unfiltered):  # the request itself, however long it takes
        page.goto(server.base + "/jobs")
    wait_for(held_now, what="the first page request to be held")
    page.locator("input[name=state][value=dead]").check()
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    with contextlib.suppress(Exception):  # an aborted request cannot be continued
        held[0].continue_()
    page.wait_for_function(
        "() => Number(document.body.dataset.dropped || 0) >= 1 || "
        "[...document.querySelectorAll('#jobs tbody tr')].some((r) => r.dataset.state !== 'dead')"
    )
    states = page.eval_on_selector_all("#jobs tbody tr", "rows => rows.map(r => r.dataset.state)")
    assert states == ["dead", "dead"]


def test_a_copy_keeps_every_field_and_the_job_page_shows_them(
    serve: Callable[..., Server], page: Any, tmp_path: Path
) -> None:
    """The copy of a job that read a file in its `cwd` failed with "cannot open": the
    copy dropped `cwd` and `env`, and the page did not show them."""
    server = serve()
    spec = {
        "id": "orig",
        "command": "cat settings.txt",
        "queue": "builds",
        "cwd": str(tmp_path),
        "env": {"API_KEY": "s3cret-value", "MODE": "fast"},
        "keep_daemons": True,
    }
    server.call("POST", "/api/jobs", spec)
    page.goto(server.base + "/jobs/orig")
    _ready(page)
    expect(page.locator("#spec")).to_contain_text(str(tmp_path))
    expect(page.locator("#spec")).to_contain_text("API_KEY=")
    assert "s3cret-value" not in page.locator("#spec").inner_text()  # masked until asked
    page.get_by_role("button", name="Show values").click()
    expect(page.locator("#spec")).to_contain_text("API_KEY=s3cret-value")

    page.get_by_role("link", name="Enqueue a copy").click()
    _ready(page)
    expect(page.locator("#f-cwd")).to_have_value(str(tmp_path))
    page.locator("#enqueue button[type=submit]").click()
    page.wait_for_url(lambda url: "/jobs/" in url and not url.endswith("/orig"))
    copy_id = page.url.rsplit("/", 1)[1]
    copy = server.call("GET", f"/api/jobs/{copy_id}")["job"]
    assert {k: copy[k] for k in spec if k != "id"} == {k: v for k, v in spec.items() if k != "id"}


def test_paused_queues_show_and_can_be_paused_and_resumed_from_the_overview(
    serve: Callable[..., Server], page: Any
) -> None:
    server = serve()
    server.call("POST", "/api/jobs", {"command": "true", "queue": "mail"})
    server.call("POST", "/api/queues/reports/pause")  # paused before it has any job
    page.goto(server.base + "/")
    _ready(page)
    reports = page.locator("#queues tr[data-queue='reports']")
    expect(reports).to_contain_text("paused")
    mail = page.locator("#queues tr[data-queue='mail']")
    expect(mail).to_contain_text("running")
    mail.get_by_role("button", name="Pause").click()
    expect(mail).to_contain_text("paused")
    assert sorted(server.call("GET", "/api/status")["paused"]) == ["mail", "reports"]
    reports.get_by_role("button", name="Resume").click()
    expect(reports).to_have_count(0)  # no job and not paused: nothing to show
    assert server.call("GET", "/api/status")["paused"] == ["mail"]

    server.call("POST", "/api/queues/pause")  # every queue
    page.reload()
    _ready(page)
    expect(page.locator("#paused-all")).to_be_visible()
    page.get_by_role("button", name="Resume all").click()
    expect(page.locator("#paused-all")).to_be_hidden()
    assert server.call("GET", "/api/status")["paused"] == []


def test_ten_tabs_load_and_stay_live_on_one_event_stream(
    serve: Callable[..., Server], page: Any
) -> None:
    """A browser opens six connections to a host: with a stream per tab the seventh tab
    stayed blank. Ten tabs of one browser now share one stream, and each updates live;
    closing the tab that holds it passes it on."""
    server = serve()
    tabs = [page]
    page.goto(server.base + "/")
    _ready(page)
    for _ in range(9):
        tab = page.context.new_page()
        tab.goto(server.base + "/")
        _ready(tab)
        tabs.append(tab)
    server.call("POST", "/api/jobs", {"command": "true"})
    for tab in tabs:
        expect(tab.locator("#count-pending")).to_have_text("1")
    tabs[0].close()  # the first tab led: another takes the stream over
    server.call("POST", "/api/jobs", {"command": "true"})
    for tab in tabs[1:]:
        expect(tab.locator("#count-pending")).to_have_text("2")


def test_live_updates_keep_the_focus_and_can_be_paused(
    serve: Callable[..., Server], page: Any
) -> None:
    from queuectl.store import open_store
    from tests.conftest import registration

    server = serve()
    store = open_store(server.db)
    try:
        store.register_worker(registration("w-1", host="h1"))
        page.goto(server.base + "/workers")
        _ready(page)
        stop = page.locator("#workers tr[data-worker='w-1']").get_by_role("button", name="Stop")
        stop.first.focus()
        store.register_worker(registration("w-2", host="h2"))  # a change: the table redraws
        expect(page.locator("#workers tr[data-worker='w-2']")).to_have_count(1)
        expect(stop.first).to_be_focused()

        page.goto(server.base + "/")
        _ready(page)
        expect(page.locator("#count-pending")).to_have_text("0")
        page.get_by_role("button", name="Pause live updates").click()
        server.call("POST", "/api/jobs", {"command": "true"})
        page.wait_for_selector("body[data-held]", state="attached")  # an update came, held
        expect(page.locator("#count-pending")).to_have_text("0")
        page.get_by_role("button", name="Resume live updates").click()
        expect(page.locator("#count-pending")).to_have_text("1")
    finally:
        store.close()


def test_behind_a_proxy_the_browser_is_sent_to_log_in_first(
    serve: Callable[..., Server], page: Any
) -> None:
    """With --allowed-host (a proxy in front), loopback earns nothing: opening a page
    without a session leads to the login form, and back after signing in."""
    token = "a-token-of-thirty-two-characters"
    server = serve("--token", token, "--allowed-host", "queue.example.com")
    page.goto(server.base + "/workers")
    expect(page.locator("#f-token")).to_be_visible()
    page.fill("#f-token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(server.base + "/workers")
    _ready(page)
    page.get_by_role("button", name="Sign out").click()  # the session ends on the server
    page.wait_for_url(server.base + "/login")
    page.goto(server.base + "/workers")
    expect(page.locator("#f-token")).to_be_visible()
