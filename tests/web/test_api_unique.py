"""Unique jobs over the REST API, against the real app under uvicorn on every backend:
200 with the holder's id and "duplicate" when nothing was added, 409 on "error"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.api_server import Running, serving

KEY = "sync-user-42"


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def test_a_duplicate_is_answered_200_with_the_waiting_job(api: Running) -> None:
    client = api.client
    first = client.post("/api/jobs", json={"id": "first", "command": "true", "unique_key": KEY})
    assert first.status_code == 201 and first.json() == {"id": "first"}
    again = client.post("/api/jobs", json={"command": "echo 2", "unique_key": KEY})
    assert again.status_code == 200
    assert again.json() == {"id": "first", "duplicate": True, "replaced": False}
    replaced = client.post(
        "/api/jobs",
        json={"command": "echo 3", "unique_key": KEY, "on_duplicate": "replace", "delay": 60},
    )
    assert replaced.status_code == 200
    assert replaced.json() == {"id": "first", "duplicate": True, "replaced": True}
    shown = client.get("/api/jobs/first").json()["job"]
    assert (shown["command"], shown["unique_key"]) == ("echo 3", KEY)
    assert [job["id"] for job in client.get("/api/jobs").json()["jobs"]] == ["first"]


def test_on_duplicate_error_is_a_409_with_one_line(api: Running) -> None:
    client = api.client
    client.post("/api/jobs", json={"id": "first", "command": "true", "unique_key": KEY})
    refused = client.post(
        "/api/jobs", json={"command": "true", "unique_key": KEY, "on_duplicate": "error"}
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert "\n" not in error and f"unique key '{KEY}' is held by waiting job 'first'" in error
    assert len(client.get("/api/jobs").json()["jobs"]) == 1


def test_an_array_answers_per_item_and_201_when_one_was_added(api: Running) -> None:
    client = api.client
    many = client.post(
        "/api/jobs",
        json=[
            {"id": "a", "command": "true", "unique_key": KEY},
            {"id": "b", "command": "true", "unique_key": KEY},
        ],
    )
    assert many.status_code == 201
    answer = {"ids": ["a", "a"], "duplicate": [False, True], "replaced": [False, False]}
    assert many.json() == answer
    refused = client.post(
        "/api/jobs",
        json=[
            {"id": "c", "command": "true"},
            {"id": "d", "command": "true", "unique_key": KEY, "on_duplicate": "error"},
        ],
    )
    # array items are numbered from 0, as in every bulk error
    assert refused.status_code == 409 and refused.json()["error"].startswith("item 1: ")
    assert client.get("/api/jobs/c").status_code == 404


def test_a_requeue_whose_key_is_held_is_a_409(api: Running) -> None:
    client = api.client
    client.post("/api/jobs", json={"id": "old", "command": "true", "unique_key": KEY})
    client.post("/api/jobs/old/cancel")
    client.post("/api/jobs", json={"id": "new", "command": "true", "unique_key": KEY})
    for refused in (
        client.post("/api/jobs/old/requeue"),
        client.post("/api/jobs/requeue", json={"ids": ["old"]}),
    ):
        assert refused.status_code == 409
        assert "held by job 'new'" in refused.json()["error"]
    assert client.get("/api/jobs/old").json()["job"]["state"] == "cancelled"


def test_the_openapi_spec_tells_of_unique_keys(api: Running) -> None:
    spec = api.client.get("/openapi.json").json()
    enqueue = spec["paths"]["/api/jobs"]["post"]
    body = enqueue["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert {"unique_key", "on_duplicate"} <= set(body["properties"])
    assert {"200", "201", "409"} <= set(enqueue["responses"])
    assert "duplicate" in str(spec["components"]["schemas"])
