"""Workflows over the API, on every backend: a job's graph (GET /api/jobs/{id}/graph),
drawn whole or counted past its limit, and requeue and DLQ retry saying which jobs came
back with the jobs they put back. Jobs are claimed, failed and completed through the
store itself, as a worker does it, so nothing waits on a worker process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from queuectl.models import RunResult
from queuectl.service.workflows import COMMAND_CHARS
from queuectl.store import Store
from tests.conftest import as_claimed
from tests.web.api_server import Running, serving, sse_events
from tests.web.test_api_live import next_event


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def _complete(store: Store, job_id: str) -> None:
    (claimed,) = store.claim_jobs("w1", [job_id.split("-", maxsplit=1)[0]], 1, 60.0)
    assert claimed.id == job_id
    assert store.complete_job(job_id, "w1", claimed.last_attempt, RunResult(0, None))


def _kill(store: Store, job_id: str, queue: str) -> None:
    (claimed,) = store.claim_jobs("w1", [queue], 1, 60.0)
    assert claimed.id == job_id
    store.fail_job(as_claimed(store, job_id, "w1", claimed.last_attempt), RunResult(1, "no"), 0.0)


def test_a_jobs_graph_is_the_same_from_any_of_its_jobs(api: Running, store: Store) -> None:
    long = "echo " + "x" * 400
    api.client.post(
        "/api/jobs",
        json=[
            {"id": "a-1", "command": "true", "queue": "a"},
            {"id": "b-1", "command": long, "queue": "b", "after": ["a-1"]},
            {"id": "b-2", "command": "true", "queue": "b", "after": ["a-1"]},
            {"id": "c-1", "command": "true", "after": ["b-1", "b-2"], "after_mode": "finished"},
            {"id": "alone", "command": "true"},
        ],
    )
    client = api.client
    edges = {("a-1", "b-1"), ("a-1", "b-2"), ("b-1", "c-1"), ("b-2", "c-1")}
    for start in ("a-1", "b-2", "c-1"):
        graph = client.get(f"/api/jobs/{start}/graph").json()
        assert (graph["job"], graph["complete"], graph["total"]) == (start, True, 4)
        assert {(e["parent"], e["child"]) for e in graph["edges"]} == edges
        nodes = {n["id"]: n for n in graph["nodes"]}
        assert sorted(nodes) == ["a-1", "b-1", "b-2", "c-1"]
        assert graph["counts"] == {"pending": 1, "blocked": 3}
    assert nodes["b-1"]["command"] == long[:COMMAND_CHARS] + "…"
    assert (nodes["a-1"]["blocked"], nodes["c-1"]["blocked"]) == (False, True)
    alone = client.get("/api/jobs/alone/graph").json()
    assert ([n["id"] for n in alone["nodes"]], alone["edges"]) == (["alone"], [])

    _complete(store, "a-1")
    states = {
        n["id"]: (n["state"], n["blocked"])
        for n in client.get("/api/jobs/c-1/graph").json()["nodes"]
    }
    assert states["a-1"] == ("completed", False)
    assert states["b-1"] == ("pending", False)  # released
    assert states["c-1"] == ("pending", True)


def test_a_graph_past_its_limit_is_counted_and_a_deleted_job_stays_in_it(
    api: Running, store: Store
) -> None:
    client = api.client
    parents = [{"id": f"p-{i}", "command": "true", "queue": "p"} for i in range(3)]
    child = {"id": "c-1", "command": "true", "after": [p["id"] for p in parents]}
    client.post("/api/jobs", json=[*parents, child])
    counted = client.get("/api/jobs/p-0/graph", params={"limit": 3}).json()
    assert (counted["complete"], counted["total"], counted["exact"]) == (False, 4, True)
    assert counted["counts"] == {"pending": 3, "blocked": 1}
    assert (counted["nodes"], counted["edges"]) == ([], [])

    _complete(store, "p-0")
    assert client.delete("/api/jobs/p-0").status_code == 200
    graph = client.get("/api/jobs/c-1/graph").json()
    gone = {n["id"]: n for n in graph["nodes"]}["p-0"]
    assert (gone["state"], gone["command"]) == (None, None)
    assert graph["counts"] == {"deleted": 1, "pending": 2, "blocked": 1}
    assert {"parent": "p-0", "child": "c-1"} in graph["edges"]

    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        refused = client.get("/api/jobs/c-1/graph", params=bad)
        assert refused.status_code in (400, 422) and "\n" not in refused.text.strip()
    missing = client.get("/api/jobs/p-0/graph")  # deleted: no graph of its own
    assert missing.status_code == 404 and "p-0" in missing.json()["error"]


def test_requeue_and_dlq_retry_say_which_jobs_came_back(api: Running, store: Store) -> None:
    client = api.client
    client.post(
        "/api/jobs",
        json=[
            {"id": "a-1", "command": "false", "queue": "a", "max_retries": 0},
            {"id": "b-1", "command": "true", "queue": "b", "after": ["a-1"]},
            {"id": "c-1", "command": "true", "queue": "c", "after": ["b-1"]},
        ],
    )
    _kill(store, "a-1", "a")
    assert client.get("/api/jobs/c-1").json()["job"]["cancelled_by"] == "b-1"
    retried = client.post("/api/dlq/retry", json={"ids": ["a-1"]}).json()
    assert retried["ids"] == ["a-1"]
    assert sorted(retried["brought_back"]) == ["b-1", "c-1"]
    assert client.get("/api/jobs/c-1").json()["job"]["blocked"] is True

    _kill(store, "a-1", "a")
    one = client.post("/api/jobs/a-1/requeue").json()
    assert (one["id"], one["state"], sorted(one["brought_back"])) == (
        "a-1",
        "pending",
        ["b-1", "c-1"],
    )
    _kill(store, "a-1", "a")
    many = client.post("/api/jobs/requeue", json={"ids": ["a-1"]}).json()
    assert (many["ids"], sorted(many["brought_back"])) == (["a-1"], ["b-1", "c-1"])
    _kill(store, "a-1", "a")
    group = client.get("/api/dlq/groups").json()["groups"][0]["key"]
    by_group = client.post("/api/dlq/retry", json={"group": group}).json()
    assert (by_group["ids"], sorted(by_group["brought_back"])) == (["a-1"], ["b-1", "c-1"])
    _complete(store, "a-1")
    alone = client.post("/api/jobs/a-1/requeue").json()  # nothing was cancelled after it
    assert alone["brought_back"] == []

    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "brought_back" in schemas["Requeued"]["required"]
    assert "brought_back" in schemas["RequeuedJob"]["required"]
    graph = document["paths"]["/api/jobs/{job_id}/graph"]["get"]["responses"]["200"]
    assert graph["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Graph"}
    assert {"nodes", "edges", "counts", "complete"} <= set(schemas["Graph"]["required"])


def test_a_release_is_an_event_on_every_backend(api: Running, store: Store) -> None:
    """What an open page hears when a blocked job is released: its count moves (blocked to
    due), so /api/events sends a status and the `jobs` hint, with no new event kind."""
    api.client.post(
        "/api/jobs",
        json=[
            {"id": "a-1", "command": "true", "queue": "a"},
            {"id": "b-1", "command": "true", "queue": "b", "after": ["a-1"]},
        ],
    )
    with httpx.stream("GET", f"{api.base_url}/api/events", timeout=30) as response:
        events = sse_events(response.iter_lines())
        first = next_event(events, "status")
        assert (first["blocked"], first["due"]) == (1, 1)
        # (A claim alone need not wake the page: the store signals new work, and its
        # count shows at the next refresh. The release below is new work.)
        (claimed,) = store.claim_jobs("w1", ["a"], 1, 60.0)
        assert store.complete_job("a-1", "w1", claimed.last_attempt, RunResult(0, None))
        later = next_event(events, "status", lambda s: s["jobs"]["completed"] == 1)
        assert (later["blocked"], later["due"]) == (0, 1)
        assert next_event(events, "jobs") == {"changed": True}  # sent after the status
