"""The limits API on every backend: a queue's limits set and lifted (PUT and GET
/api/queues/{name}/limits, shown in GET /api/queues), concurrency keys (GET /api/keys,
PUT /api/keys/{key}/limit), one-line 422s that change nothing, and the job views saying
why a due job waits. Jobs are claimed through the store, as workers do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from queuectl.store import Store
from tests.conftest import make_job
from tests.web.api_server import Running, serving


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def test_queue_limits_are_set_shown_and_lifted(api: Running, store: Store) -> None:
    client = api.client
    store.enqueue_jobs([make_job("v1", queue="video"), make_job("v2", queue="video")], 3)
    found = client.put("/api/queues/video/limits", json={"concurrency": 1, "rate": "60/m"})
    assert found.status_code == 200, found.text
    assert found.json() == {
        "queue": "video",
        "concurrency": 1,
        "rate": "60/m",
        "next_start_in": 0.0,
    }
    assert client.get("/api/queues/video/limits").json()["concurrency"] == 1
    assert [j.id for j in store.claim_jobs("w1", None, 10, 60.0)] == ["v1"]
    (video,) = client.get("/api/queues").json()["queues"]
    assert (video["concurrency"], video["rate"], video["running"]) == (1, "60/m", 1)
    assert video["held_back"] == "queue at its concurrency limit 1/1"
    listed = {j["id"]: j["held_back"] for j in client.get("/api/jobs").json()["jobs"]}
    assert listed == {"v1": None, "v2": "queue at its concurrency limit 1/1"}
    shown = client.get("/api/jobs/v2").json()["job"]
    assert shown["held_back"] == "queue at its concurrency limit 1/1"
    lifted = client.put("/api/queues/video/limits", json={}).json()
    assert (lifted["concurrency"], lifted["rate"]) == (None, None)
    assert store.queue_limits() == []


@pytest.mark.parametrize(
    "body",
    [
        {"concurrency": 0},
        {"concurrency": "two"},
        {"concurrency": True},
        {"rate": "60/x"},
        {"rate": "0/m"},
        {"rate": ""},
        {"concurrency": 2.5},
        {"concurrency": 10**20},
        {"burst": 3},
    ],
)
def test_bad_limits_are_a_one_line_422_and_change_nothing(
    api: Running, store: Store, body: dict[str, object]
) -> None:
    api.client.put("/api/queues/video/limits", json={"concurrency": 2})
    refused = api.client.put("/api/queues/video/limits", json=body)
    assert refused.status_code == 422, refused.text
    assert "\n" not in refused.json()["error"]
    assert [(q.queue, q.concurrency) for q in store.queue_limits()] == [("video", 2)]
    assert api.client.put("/api/queues/a%20b/limits", json={}).status_code in (400, 404, 422)


def test_concurrency_keys(api: Running, store: Store) -> None:
    client = api.client
    store.enqueue_jobs(
        [make_job(f"d{n}", concurrency_key="deploy-prod", queue=f"q{n}") for n in (1, 2)], 3
    )
    assert [j.id for j in store.claim_jobs("w1", None, 10, 60.0)] == ["d1"]
    assert client.get("/api/keys").json() == [
        {"key": "deploy-prod", "concurrency": 1, "own": False, "running": 1, "jobs": 2}
    ]
    assert client.get("/api/jobs/d2").json()["job"]["held_back"] == "key deploy-prod busy (job d1)"
    raised = client.put("/api/keys/deploy-prod/limit", json={"concurrency": 2.0})
    assert raised.json()["concurrency"] == 2 and raised.json()["own"]
    assert client.get("/api/jobs/d2").json()["job"]["held_back"] is None
    assert client.put("/api/keys/deploy-prod/limit", json={"concurrency": 0}).status_code == 422
    posted = client.post("/api/jobs", json={"command": "true", "concurrency_key": "bad key"})
    assert posted.status_code == 422
