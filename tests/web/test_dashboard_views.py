"""The dashboard's DLQ groups, queues view, overview counts, worker slots and run-at
form in a real browser (headless Debian Chromium under Playwright) against a real
`queuectl serve` on a real SQLite file. Jobs are claimed and failed through the store
itself, as a worker does it, so each view is checked in a known state without waiting
on worker processes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from queuectl.models import RunResult, WorkerRegistration
from queuectl.store import Store
from tests.conftest import make_job
from tests.test_dlq_groups import kill_all
from tests.web.browsing import WAIT_MS, Server, expect
from tests.web.browsing import ready as _ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def zoned(browser: Any) -> Iterator[Callable[[str], Any]]:
    """A tab whose browser runs in time zone `zone`."""
    contexts: list[Any] = []

    def tab(zone: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 860}, timezone_id=zone)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield tab
    for context in contexts:
        context.close()


def test_dlq_groups_by_fingerprint_link_to_their_jobs_and_purge_whole(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any
) -> None:
    server = serve()
    store = opened(server)
    kill_all(store)  # a1-a3 print alike, b1 and c1 otherwise; every one "exit code"
    page.goto(server.base + "/dlq")
    _ready(page)
    rows = page.locator("#dlq-groups tbody tr")
    expect(rows).to_have_count(3)
    top = rows.first
    expect(top.locator(".fp-line")).to_have_text("<time> open <path>: denied (uid <n>)")
    expect(top.locator(".group-count")).to_have_text("3")
    expect(page.locator("#groups-window")).to_be_hidden()  # every dead job is grouped

    top.get_by_role("link", name="3 jobs").click()
    page.wait_for_url("**/jobs?state=dead&fingerprint=*")
    _ready(page)
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    assert sorted(
        page.locator("#jobs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    ) == [
        "a1",
        "a2",
        "a3",
    ]
    expect(page.locator("#group-filter")).to_be_visible()
    expect(page.locator("#jobs-total")).to_have_text("3 jobs")  # the group's count
    page.locator("#group-clear").click()
    expect(page.locator("#group-filter")).to_be_hidden()
    page.wait_for_url(re.compile(r"/jobs\?state=dead$"))
    expect(page.locator("#jobs tbody tr")).to_have_count(5)

    page.goto(server.base + "/dlq")
    _ready(page)
    page.locator("#dlq-groups tbody tr").first.get_by_role("button", name="Purge group (3)").click()
    expect(page.locator("#confirm-msg")).to_contain_text("Delete the 3 jobs of this group")
    page.locator("#confirm-ok").click()
    expect(page.locator("#flash")).to_have_text("Purged 3 jobs.")
    expect(page.locator("#dlq-groups tbody tr")).to_have_count(2)
    assert server.call("GET", "/api/dlq/groups")["dead"] == 2

    store.enqueue_jobs([make_job("b2", max_retries=0)], 3)  # dies as b1 did: live, no reload
    (job,) = store.claim_jobs("w1", None, 1, 60.0)
    store.fail_job(job, RunResult(2, "exit code 2", stderr=b"disk full\n"), 0.0)
    full = page.locator("#dlq-groups tbody tr", has_text="disk full")
    expect(full.locator(".group-count")).to_have_text("2")


def test_queues_view_counts_scheduled_jobs_in_local_time_and_runs_one_now(
    serve: Callable[..., Server], zoned: Callable[[str], Any]
) -> None:
    server = serve()
    server.call(
        "POST",
        "/api/jobs",
        [
            {"id": "late", "command": "true", "queue": "mail", "run_at": "2031-07-01T12:00:00Z"},
            {"id": "soon", "command": "true", "queue": "mail", "run_at": "2031-01-15T12:00:00Z"},
            {"id": "due", "command": "true", "queue": "mail"},
            {"id": "r1", "command": "true", "queue": "reports"},
        ],
    )
    tab = zoned("America/New_York")
    tab.goto(server.base + "/queues?queue=mail")
    _ready(tab)
    mail = tab.locator("#queue-table tr[data-queue='mail'] td")
    assert [mail.nth(i).inner_text() for i in range(6)] == ["mail", "1", "2", "0", "0", "0"]
    expect(tab.locator("#zone")).to_have_text("(America/New_York)")
    rows = tab.locator("#scheduled tbody tr")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == ["soon", "late"]
    new_york = ZoneInfo("America/New_York")  # winter and summer: the offset of each date
    for i, utc in enumerate(("2031-01-15T12:00:00", "2031-07-01T12:00:00")):
        moment = datetime.fromisoformat(utc).replace(tzinfo=UTC).astimezone(new_york)
        expect(rows.nth(i).locator("td").first).to_have_text(moment.strftime("%Y-%m-%d %H:%M:%S"))

    tab.locator("#scheduled tr[data-id='late']").get_by_role("button", name="Run now").click()
    expect(tab.locator("#scheduled tbody tr")).to_have_count(1)
    expect(tab.locator("#queue-table tr[data-queue='mail'] td").nth(1)).to_have_text("2")
    assert server.call("GET", "/api/queues/mail/scheduled")["read"] == 1

    reports = tab.locator("#queue-table tr[data-queue='reports']")
    reports.get_by_role("button", name="Pause").click()
    expect(reports).to_contain_text("paused")
    assert server.call("GET", "/api/status")["paused"] == ["reports"]
    reports.get_by_role("button", name="Resume").click()
    expect(reports).to_contain_text("running")
    assert server.call("GET", "/api/status")["paused"] == []


def test_overview_shows_due_apart_from_scheduled_and_slots_busy_apart_from_the_reserve(
    serve: Callable[..., Server], opened: Callable[[Server], Store], page: Any
) -> None:
    server = serve()
    store = opened(server)
    store.register_worker(WorkerRegistration("w1", "host", 4321, slots=2))
    later = [make_job("later", delay=3600), make_job(after=("later",))]
    store.enqueue_jobs([make_job() for _ in range(7)] + later, 3)
    # A worker running short jobs holds a reserve: six claimed for its two slots.
    assert len(store.claim_jobs("w1", None, 6, 600.0)) == 6
    page.goto(server.base + "/")
    _ready(page)
    expect(page.locator("#count-pending")).to_have_text("1")  # due now; 3 pending in all
    expect(page.locator("#count-scheduled")).to_have_text("1")
    expect(page.locator("#count-blocked")).to_have_text("1")
    expect(page.locator("#slots-busy")).to_have_text("2 / 2")
    expect(page.locator("#slots-reserved")).to_have_text("4")
    page.goto(server.base + "/workers")
    _ready(page)
    cells = page.locator("#workers tr[data-worker='w1'] td")
    expect(cells.nth(4)).to_have_text("2 / 2")
    expect(cells.nth(5)).to_have_text("4")


def test_run_at_is_read_in_the_browsers_zone_and_sent_with_its_offset(
    serve: Callable[..., Server], zoned: Callable[[str], Any]
) -> None:
    server = serve()
    tab = zoned("Asia/Kolkata")  # +05:30 all year
    tab.goto(server.base + "/enqueue")
    _ready(tab)
    expect(tab.locator("#hint-run_at")).to_contain_text(re.compile(r"Asia/(Kolkata|Calcutta)"))
    tab.fill("#f-command", "true")
    tab.fill("#f-id", "zoned")
    tab.fill("#f-run_at", "2030-01-02T03:04")
    with tab.expect_request(lambda r: r.url.endswith("/api/jobs") and r.method == "POST") as sent:
        tab.get_by_role("button", name="Enqueue").click()
    assert sent.value.post_data_json["run_at"] == "2030-01-02T03:04:00+05:30"
    tab.wait_for_url("**/jobs/zoned")
    assert server.job("zoned")["run_at"] == "2030-01-01T21:34:00.000Z"
