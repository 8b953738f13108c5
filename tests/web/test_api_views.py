"""The API behind the dashboard's views, on every backend: DLQ groups by fingerprint
(and the jobs filter by one), queues with due and scheduled apart, run now, and slots
busy counting started jobs only. Jobs die and are claimed through the store itself,
exactly as workers do it, so nothing waits on a worker process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from queuectl.models import RunResult, WorkerRegistration
from queuectl.store import Store
from tests.conftest import as_claimed, make_job
from tests.test_dlq_groups import kill_all
from tests.web.api_server import Running, serving


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def test_dlq_groups_filter_the_jobs_list_and_are_retried_or_purged_whole(
    api: Running, store: Store
) -> None:
    kill_all(store)
    client = api.client
    found = client.get("/api/dlq/groups").json()
    assert (found["dead"], found["fingerprinted"]) == (5, 5)
    top = found["groups"][0]
    assert (top["kind"], top["exit_code"], top["count"]) == ("exit", 2, 3)
    assert top["line"] == "<time> open <path>: denied (uid <n>)"
    listed = client.get("/api/jobs", params={"fingerprint": top["key"], "limit": 2}).json()
    assert [j["id"] for j in listed["jobs"]] == ["a3", "a2"]
    assert listed["total"] == {"count": 3, "exact": True}  # the group's, not the page's
    params = {"fingerprint": top["key"], "cursor": listed["next_cursor"], "state": "dead"}
    assert [j["id"] for j in client.get("/api/jobs", params=params).json()["jobs"]] == ["a1"]
    for bad in ({"state": "pending"}, {"search": "x"}):
        refused = client.get("/api/jobs", params={"fingerprint": top["key"], **bad})
        assert refused.status_code == 422 and "\n" not in refused.text

    both = client.post("/api/dlq/purge", json={"group": top["key"], "older_than": 5})
    assert both.status_code == 422
    assert client.post("/api/dlq/purge", json={"group": "nope"}).status_code == 404
    assert client.post("/api/dlq/purge", json={"group": top["key"]}).json() == {"deleted": 3}
    assert client.post("/api/dlq/purge", json={"group": top["key"]}).status_code == 404
    second = client.get("/api/dlq/groups").json()["groups"][0]["key"]
    assert len(client.post("/api/dlq/retry", json={"group": second}).json()["ids"]) == 1
    assert client.get("/api/dlq/groups").json()["dead"] == 1


def test_status_counts_pending_jobs_due_apart_from_scheduled_ones(api: Running) -> None:
    api.client.post("/api/jobs", json=[{"command": "true"}, {"command": "true", "delay": 3600}])
    status = api.client.get("/api/status").json()
    assert (status["jobs"]["pending"], status["due"], status["scheduled"]) == (2, 1, 1)


def test_slots_busy_counts_started_jobs_only_and_the_reserve_apart(
    api: Running, store: Store
) -> None:
    store.register_worker(WorkerRegistration("w1", "host", 1234, slots=2))
    store.enqueue_jobs([make_job() for _ in range(7)], 3)
    # A worker whose jobs are short claims its slots' jobs plus a reserve: six for two.
    assert len(store.claim_jobs("w1", None, 6, 60.0)) == 6
    status = api.client.get("/api/status").json()
    assert (status["slots"], status["slots_busy"], status["slots_reserved"]) == (2, 2, 4)
    (worker,) = api.client.get("/api/workers").json()["workers"]
    assert (worker["busy"], worker["reserved"], len(worker["running"])) == (2, 4, 6)


def test_queues_scheduled_by_run_time_and_run_now(api: Running, store: Store) -> None:
    client = api.client
    client.post(
        "/api/jobs",
        json=[
            {"id": "late", "command": "true", "queue": "mail", "delay": 7200},
            {"id": "soon", "command": "true", "queue": "mail", "delay": 600},
            {"id": "now", "command": "true", "queue": "mail"},
            {"id": "other", "command": "true", "queue": "reports"},
            {"id": "bad", "command": "true", "queue": "reports", "max_retries": 0},
        ],
    )
    assert [j.id for j in store.claim_jobs("w1", ["reports"], 2, 60.0)] == ["other", "bad"]
    store.fail_job(as_claimed(store, "bad", "w1", 1), RunResult(1, "exit code 1"), 0.0)
    client.post("/api/queues/reports/pause")
    rows = {q["queue"]: q for q in client.get("/api/queues").json()["queues"]}
    mail = rows["mail"]
    assert (mail["due"], mail["scheduled"], mail["paused"]) == (1, 2, False)
    assert mail["oldest_pending_age"] is not None
    assert rows["reports"]["paused"] is True
    assert (rows["reports"]["running"], rows["reports"]["dead"]) == (1, 1)

    scheduled = client.get("/api/queues/mail/scheduled").json()
    assert [j["id"] for j in scheduled["jobs"]] == ["soon", "late"]
    assert (scheduled["read"], scheduled["complete"]) == (2, True)
    assert client.get("/api/queues/a%20b/scheduled").status_code == 422

    moved = client.post("/api/jobs/late/run-now")
    assert moved.status_code == 200 and moved.json()["id"] == "late"
    assert [j["id"] for j in client.get("/api/queues/mail/scheduled").json()["jobs"]] == ["soon"]
    assert client.get("/api/queues").json()["queues"][0]["due"] == 2
    assert client.post("/api/jobs/nope/run-now").status_code == 404
    store.claim_jobs("w1", ["mail"], 5, 60.0)
    assert client.post("/api/jobs/now/run-now").status_code == 409
