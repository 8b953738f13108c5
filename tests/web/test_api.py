"""The REST API through a real HTTP client against the real app under uvicorn, on SQLite
and PostgreSQL: every endpoint and every error code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.web.api_server import Running, serving


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def run_burst(url: str, tmp_path: Path) -> None:
    """Run every due job to its end with a real worker (`worker start --burst`)."""
    import subprocess

    command = [sys.executable, "-m", "queuectl", "--db", url, "worker", "start", "--burst"]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()


def test_enqueue_one_array_and_json_lines(api: Running) -> None:
    client = api.client
    one = client.post("/api/jobs", json={"id": "one", "command": "echo 1", "priority": 5})
    assert one.status_code == 201 and one.json() == {"id": "one"}
    many = client.post("/api/jobs", json=[{"id": "a1", "command": "true"}, {"command": "true"}])
    assert many.status_code == 201 and many.json()["ids"][0] == "a1"
    lines = '{"id": "l1", "command": "true"}\n\n{"id": "l2", "command": "true", "queue": "q"}\n'
    ndjson = client.post(
        "/api/jobs", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )
    assert ndjson.status_code == 201 and ndjson.json() == {"ids": ["l1", "l2"]}
    shown = client.get("/api/jobs/one").json()
    assert shown["job"]["state"] == "pending" and shown["job"]["priority"] == 5
    assert shown["attempts"] == []


def test_enqueue_takes_and_shows_cwd_and_env(api: Running) -> None:
    spec = {"id": "placed", "command": "true", "cwd": "/srv", "env": {"A": "1"}}
    assert api.client.post("/api/jobs", json=spec).status_code == 201
    job = api.client.get("/api/jobs/placed").json()["job"]
    assert (job["cwd"], job["env"]) == ("/srv", {"A": "1"})
    assert api.client.get("/api/jobs").json()["jobs"][0]["env"] == {"A": "1"}
    bad = api.client.post("/api/jobs", json={"command": "true", "cwd": "rel"})
    assert bad.status_code == 422 and bad.json()["field"] == "cwd"


def test_pause_and_resume_a_queue(api: Running) -> None:
    paused = api.client.post("/api/queues/ci/pause")
    assert paused.status_code == 200 and paused.json() == {"paused": ["ci"]}
    assert api.client.get("/api/status").json()["paused"] == ["ci"]
    assert api.client.post("/api/queues/ci/resume").json() == {"paused": []}
    assert api.client.post("/api/queues/a%20b/pause").status_code == 422


def test_bulk_enqueue_is_all_or_nothing(api: Running) -> None:
    api.client.post("/api/jobs", json={"id": "taken", "command": "true"})
    bad_line = '{"id": "n1", "command": "true"}\n{"id": "n2", "command": ""}\n'
    response = api.client.post(
        "/api/jobs", content=bad_line, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 422 and "line 2" in response.json()["error"]
    duplicate = api.client.post(
        "/api/jobs", json=[{"id": "n3", "command": "true"}, {"id": "taken", "command": "true"}]
    )
    assert duplicate.status_code == 409 and "item 1" in duplicate.json()["error"]
    ids = [job["id"] for job in api.client.get("/api/jobs").json()["jobs"]]
    assert ids == ["taken"]


def test_listing_filters_order_and_cursor(api: Running) -> None:
    specs = [
        {"id": f"j{i}", "command": f"echo {i}", "queue": "odd" if i % 2 else "even"}
        for i in range(7)
    ]
    assert api.client.post("/api/jobs", json=specs).status_code == 201
    api.client.post("/api/jobs/j3/cancel")
    page = api.client.get("/api/jobs", params={"limit": 3}).json()
    assert [j["id"] for j in page["jobs"]] == ["j6", "j5", "j4"]
    rest = api.client.get("/api/jobs", params={"limit": 3, "cursor": page["next_cursor"]}).json()
    assert [j["id"] for j in rest["jobs"]] == ["j3", "j2", "j1"]
    oldest = api.client.get("/api/jobs", params={"order": "oldest", "limit": 2}).json()
    assert [j["id"] for j in oldest["jobs"]] == ["j0", "j1"]
    odd = api.client.get("/api/jobs", params={"queue": "odd", "state": "pending"}).json()
    assert [j["id"] for j in odd["jobs"]] == ["j5", "j1"]
    both = api.client.get("/api/jobs", params=[("state", "cancelled"), ("state", "pending")])
    assert len(both.json()["jobs"]) == 7
    comma = api.client.get("/api/jobs", params={"state": "cancelled,pending", "search": "echo 3"})
    assert [j["id"] for j in comma.json()["jobs"]] == ["j3"]
    prefix = api.client.get("/api/jobs", params={"id_prefix": "j6"}).json()
    assert [j["id"] for j in prefix["jobs"]] == ["j6"]


def test_cancel_requeue_delete_one_and_many(api: Running) -> None:
    client = api.client
    client.post("/api/jobs", json=[{"id": f"c{i}", "command": "true"} for i in range(4)])
    assert client.post("/api/jobs/c0/cancel").json() == {"id": "c0", "state": "cancelled"}
    assert client.post("/api/jobs/c0/cancel").status_code == 409
    many = client.post("/api/jobs/cancel", json={"ids": ["c1", "c2"]})
    assert many.json() == {"states": {"c1": "cancelled", "c2": "cancelled"}}
    assert client.delete("/api/jobs/c3").status_code == 409  # pending: not finished
    assert client.post("/api/jobs/c3/requeue").status_code == 409
    requeued = client.post("/api/jobs/c0/requeue").json()
    assert requeued == {"id": "c0", "state": "pending", "brought_back": []}
    requeued = client.post("/api/jobs/requeue", json={"ids": ["c1"]}).json()
    assert requeued == {"ids": ["c1"], "brought_back": []}
    assert client.delete("/api/jobs/c2").json() == {"deleted": 1}
    assert client.get("/api/jobs/c2").status_code == 404
    client.post("/api/jobs/cancel", json={"ids": ["c0", "c1"]})
    assert client.post("/api/jobs/delete", json={"ids": ["c0", "c1"]}).json() == {"deleted": 2}
    client.post("/api/jobs/c3/cancel")
    missing = client.post("/api/jobs/delete", json={"ids": ["c3", "nope"]})
    assert missing.status_code == 404 and client.get("/api/jobs/c3").status_code == 200


def test_error_codes(api: Running) -> None:
    client = api.client
    malformed = client.post("/api/jobs", content=b'{"command": ')
    assert malformed.status_code == 400 and malformed.json()["error"].startswith("malformed JSON")
    invalid = client.post("/api/jobs", json={"command": "true", "priority": "high"})
    assert invalid.status_code == 422 and invalid.json()["field"] == "priority"
    unknown = client.post("/api/jobs", json={"command": "true", "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
    client.post("/api/jobs", json={"id": "dup", "command": "true"})
    assert client.post("/api/jobs", json={"id": "dup", "command": "true"}).status_code == 409
    assert client.get("/api/jobs/nope").json() == {"error": "no job with id 'nope'"}
    too_big = client.post("/api/jobs", content=b"[" + b" " * (11 * 1024 * 1024) + b"]")
    assert too_big.status_code == 413 and "too large" in too_big.json()["error"]
    bad_query = client.get("/api/jobs", params={"limit": "many"})
    assert bad_query.status_code == 400 and "limit" in bad_query.json()["error"]
    bad_state = client.get("/api/jobs", params={"state": "sleeping"})
    assert bad_state.status_code == 422 and bad_state.json()["field"] == "state"
    bad_body = client.post("/api/jobs/cancel", json={"ids": "c1"})
    assert bad_body.status_code == 422 and bad_body.json()["field"] == "ids"
    broken_body = client.post("/api/jobs/cancel", content=b'{"ids": [')
    assert broken_body.status_code == 400 and "JSON" in broken_body.json()["error"]
    no_route = client.get("/api/nothing-here")
    assert no_route.status_code == 404 and "error" in no_route.json()
    for response in (malformed, invalid, too_big, bad_query, bad_body, no_route):
        assert response.headers["content-type"].startswith("application/json")
        assert "\n" not in response.json()["error"]
        assert "Traceback" not in response.text


@pytest.mark.shared_store
def test_output_whole_and_dlq(api: Running, store_url: str, tmp_path: Path) -> None:
    client = api.client
    client.post(
        "/api/jobs",
        json=[
            {"id": "ok", "command": "echo out; echo err >&2"},
            {"id": "bad1", "command": "echo boom; exit 3", "max_retries": 0},
            {"id": "bad2", "command": "exit 3", "max_retries": 0},
            {"id": "bad3", "command": "exit 4", "max_retries": 0},
        ],
    )
    run_burst(store_url, tmp_path)
    output = client.get("/api/jobs/ok/output").json()
    assert output["stdout"] == "out\n" and output["stderr"] == "err\n"
    assert output["running"] is False and output["exit_code"] == 0 and output["attempt"] == 1
    assert client.get("/api/jobs/ok/output", params={"attempt": 2}).status_code == 404
    dead = client.get("/api/dlq").json()["jobs"]
    assert sorted(j["id"] for j in dead) == ["bad1", "bad2", "bad3"]
    groups = client.get("/api/dlq/groups").json()["groups"]
    by_code = {g["exit_code"]: g for g in groups}
    assert by_code[3]["count"] == 2 and by_code[4]["count"] == 1
    retried = client.post("/api/dlq/retry", json={"group": by_code[3]["key"]}).json()
    assert sorted(retried["ids"]) == ["bad1", "bad2"]
    assert client.post("/api/dlq/retry", json={"ids": ["bad1"]}).status_code == 409
    assert client.post("/api/dlq/retry", json={}).status_code == 422
    assert client.post("/api/dlq/purge", json={"older_than": 3600}).json() == {"deleted": 0}
    assert client.post("/api/dlq/purge", json={"older_than": None}).json() == {"deleted": 1}
    assert client.post("/api/dlq/retry", json={"all": True}).json() == {
        "ids": [],
        "brought_back": [],
    }
    minutes = client.get("/api/throughput", params={"minutes": 5}).json()["minutes"]
    assert len(minutes) == 5 and sum(m["completed"] for m in minutes) == 1


def test_status_workers_config_info(api: Running, backend: str) -> None:
    client = api.client
    client.post("/api/jobs", json={"command": "true", "queue": "mail"})
    status = client.get("/api/status").json()
    assert status["jobs"]["pending"] == 1 and status["queues"]["mail"]["pending"] == 1
    assert status["workers"] == [] and status["slots"] == 0
    assert client.get("/api/workers", params={"all": 1}).json() == {"workers": []}
    assert client.post("/api/workers/stop", json={}).json() == {"asked": 0}
    assert client.post("/api/workers/stop", json={"worker_id": "w-1"}).status_code == 404
    items = {i["key"]: i for i in client.get("/api/config").json()["items"]}
    assert items["max-retries"]["is_default"] is True
    changed = client.put("/api/config/max_retries", json={"value": "5"}).json()
    assert changed["key"] == "max-retries" and changed["value"] == "5"
    assert client.get("/api/config/max-retries").json()["is_default"] is False
    bad = client.put("/api/config/max-retries", json={"value": "many"})
    assert bad.status_code == 422 and bad.json()["field"] == "value"
    assert client.put("/api/config/colour", json={"value": "1"}).status_code == 404
    assert client.delete("/api/config/max-retries").json()["value"] == "3"
    info = client.get("/api/info").json()
    assert info["read_only"] is False and info["auth_required"] is False
    assert info["backend"] == backend  # the store's own name, whatever its URL's scheme


def test_metrics_health_openapi_docs(api: Running) -> None:
    client = api.client
    client.post("/api/jobs", json={"command": "true"})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'queuectl_jobs{queue="default",state="pending"} 1' in metrics.text
    assert client.get("/healthz").json()["ok"] is True
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/jobs" in schema["paths"] and "/enqueue" not in schema["paths"]
    body = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0]["required"] == ["command"]
    docs = client.get("/docs", follow_redirects=True)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.shared_store
def test_tool_000_routes(api: Running, store_url: str) -> None:
    client = api.client
    created = client.post("/enqueue", json={"id": "t1", "command": "exit 1", "max_retries": 0})
    assert created.status_code == 200 and created.json()["job_id"] == "t1"
    assert created.json()["status"] == "Insertion Successful"  # what tool 000 answered
    client.post("/enqueue", json={"id": "t2", "command": "true"})
    assert [j["id"] for j in client.get("/list", params={"state": "pending"}).json()] == [
        "t2",
        "t1",
    ]
    updated = client.put("/update", json={"id": "t2", "priority": 7}).json()
    assert updated["priority"] == 7
    status = client.get("/status").json()
    assert status["jobs"]["pending"] == 2
    assert status["summary"] == {
        "total_jobs": 2, "pending": 2, "processing": 0, "completed": 0, "failed": 0, "dead": 0
    }  # fmt: skip
    assert (status["active_workers"], status["system_status"]) == (0, "idle")
    assert status["timestamp"].endswith("Z")
    assert client.post("/config/set", json={"key": "max_retries", "value": "4"}).json() == {
        "key": "max-retries",
        "value": "4",
    }
    assert client.get("/config/get", params={"key": "max-retries"}).json()["value"] == "4"
    assert client.get("/worker/stop").json() == {"stopping": 0}
    started = client.get("/worker/start", params={"num_workers": 2}).json()
    assert started["started"] is True
    try:
        wait_for(lambda: client.get("/dlq/list").json()["jobs"], 60, "t1 to die")
        dead = client.get("/dlq/list").json()
        assert dead["status"] == "success" and [j["id"] for j in dead["jobs"]] == ["t1"]
        assert {"id", "command", "attempts"} <= set(dead["jobs"][0])
        assert client.post("/dlq/retry", params={"job_id": "t1"}).json() == {"retried": ["t1"]}
    finally:
        assert client.get("/worker/stop").json()["stopping"] == 1
        wait_for(lambda: not client.get("/api/workers").json()["workers"], 60, "worker stop")
    schema = json.dumps(client.get("/openapi.json").json()["paths"])
    assert "/dlq/list" not in schema and "/worker/start" not in schema


@pytest.mark.postgres
def test_database_gone_is_503_with_retry_after_and_no_password() -> None:
    from tests.conftest import pg_helpers

    helpers = pg_helpers()
    url = helpers.create_test_database()
    with_password = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    try:
        with serving(with_password) as api:
            assert api.client.get("/api/status").status_code == 200
            helpers.drop_test_database(url)
            for response in (
                api.client.get("/api/status"),
                api.client.post("/api/jobs", json={"command": "true"}),
                api.client.get("/healthz"),
            ):
                assert response.status_code == 503
                assert response.headers["retry-after"] == "5"
                assert "hunter2" not in response.text and response.json()["error"]
    finally:
        helpers.drop_test_database(url)


def test_ids_with_a_slash_are_reachable_percent_encoded(api: Running) -> None:
    client = api.client
    assert client.post("/api/jobs", json={"id": "team/a", "command": "true"}).status_code == 201
    assert client.post("/api/jobs", json={"id": "team", "command": "true"}).status_code == 201
    shown = client.get("/api/jobs/team%2Fa")
    assert shown.status_code == 200 and shown.json()["job"]["id"] == "team/a"
    assert client.get("/api/jobs/team%2fa").json()["job"]["id"] == "team/a"
    output = client.get("/api/jobs/team%2Fa/output")
    assert output.status_code == 200 and output.json()["attempt"] in (0, None)
    assert client.get("/api/jobs/nobody%2Fa/output").status_code == 404
    assert client.get("/jobs/team%2Fa").status_code == 200
    assert client.post("/api/jobs/team%2Fa/cancel").json() == {"id": "team/a", "state": "cancelled"}
    requeued = client.post("/api/jobs/team%2Fa/requeue").json()
    assert requeued == {"id": "team/a", "state": "pending", "brought_back": []}
    assert client.get("/api/jobs/team").json()["job"]["state"] == "pending"  # untouched
    client.post("/api/jobs/team%2Fa/cancel")
    assert client.delete("/api/jobs/team%2Fa").json() == {"deleted": 1}
    assert client.get("/api/jobs/team%2Fa").status_code == 404
    assert [job["id"] for job in client.get("/api/jobs").json()["jobs"]] == ["team"]
