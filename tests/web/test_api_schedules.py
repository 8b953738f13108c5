"""/api/schedules on every backend, and the workflow fields of the job API (a graph in one
bulk enqueue, `after` and `dependents` with a job)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.api_server import Running, serving


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def test_schedules_over_http(api: Running) -> None:
    client = api.client
    body = {
        "name": "nightly",
        "cron": "0 2 * * *",
        "tz": "Europe/Paris",
        "spec": {"command": "./backup.sh", "queue": "ops", "timeout": 600},
    }
    added = client.post("/api/schedules", json=body)
    assert added.status_code == 201, added.text
    shown = added.json()
    assert (shown["name"], shown["words"]) == ("nightly", "At 02:00 AM (Europe/Paris)")
    assert shown["spec"] == {
        "command": "./backup.sh",
        "queue": "ops",
        "timeout": 600.0,
        "priority": 0,
    }
    assert client.post("/api/schedules", json=body).status_code == 409
    bad = client.post("/api/schedules", json={**body, "name": "x", "cron": "0 2 * *"})
    assert bad.status_code == 422 and "invalid cron" in bad.json()["error"]
    empty = client.post("/api/schedules", json={**body, "name": "y", "spec": {"command": ""}})
    assert empty.status_code == 422
    endless = {"name": "z", "every": 1.5e190, "spec": {"command": "true"}}
    assert client.post("/api/schedules", json=endless).status_code == 422  # not a 500
    assert [s["name"] for s in client.get("/api/schedules").json()] == ["nightly"]
    assert client.post("/api/schedules/nightly/pause").json()["paused"] is True
    assert client.post("/api/schedules/nightly/resume").json()["paused"] is False
    run = client.post("/api/schedules/nightly/run")
    assert run.status_code == 201 and run.json()["id"].startswith("nightly@")
    assert [j["id"] for j in client.get("/api/schedules/nightly/runs").json()] == [run.json()["id"]]
    assert client.delete("/api/schedules/nightly").status_code == 204
    missing = client.get("/api/schedules/nightly")
    assert missing.status_code == 404 and missing.json() == {"error": "no schedule named 'nightly'"}


def test_a_pipeline_in_one_bulk_request(api: Running) -> None:
    client = api.client
    graph = [
        {"id": "stitch", "command": "true", "after": ["r1", "r2"]},
        {"id": "r1", "command": "true", "after": ["fetch"]},
        {"id": "r2", "command": "true", "after": ["fetch"]},
        {"id": "fetch", "command": "true"},
    ]
    assert client.post("/api/jobs", json=graph).status_code == 201
    shown = client.get("/api/jobs/r1").json()
    assert shown["after"] == [{"id": "fetch", "state": "pending"}]
    assert shown["dependents"] == [{"id": "stitch", "state": "pending"}]
    assert shown["job"]["blocked"] is True and shown["job"]["waiting_for"] == 1
    listed = client.get("/api/jobs", params={"state": "blocked"}).json()["jobs"]
    assert sorted(job["id"] for job in listed) == ["r1", "r2", "stitch"]
    cycle = [
        {"id": "x", "command": "true", "after": ["y"]},
        {"id": "y", "command": "true", "after": ["x"]},
    ]
    bad = client.post("/api/jobs", json=cycle)
    assert bad.status_code == 422 and "cycle" in bad.json()["error"]
    unknown = client.post("/api/jobs", json={"command": "true", "after": ["nope"]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "after"
    assert client.get("/api/jobs/x").status_code == 404
