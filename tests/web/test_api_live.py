"""Live views: /api/events from one database waiter for every client, and a running
job's output followed over HTTP (real worker)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import start_worker, stop, wait_for
from tests.web.api_server import Running, serving, sse_events


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def next_event(
    events: Iterator[tuple[str, str]], name: str, check: Callable[[Any], bool] | None = None
) -> Any:
    """The data of the next `name` event (for which `check(data)` holds, if given): the
    event's JSON, as parsed (Any: its shape is what the test checks)."""
    for event, data in events:
        if event == name:
            value = json.loads(data)
            if check is None or check(value):
                return value
    raise AssertionError(f"stream ended before a {name} event")


def test_events_arrive_after_an_enqueue(api: Running) -> None:
    with httpx.stream("GET", f"{api.base_url}/api/events", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
        first = next_event(events, "status")
        assert first["jobs"]["pending"] == 0
        api.client.post("/api/jobs", json={"command": "true"})
        # The new status and the `jobs` hint come together, the status first; the hub's
        # first snapshot may already hold the job (it can be computed after the post), or
        # hold it in part (its reads are not one snapshot: the change wakes it again).
        later = next_event(events, "status", lambda s: "default" in s["queues"])
        assert later["queues"]["default"]["pending"] == 1
        assert later["jobs"]["pending"] == 1
        assert next_event(events, "jobs") == {"changed": True}


@pytest.mark.not_fast  # 100 event streams: seconds
def test_many_clients_share_one_computation(api: Running) -> None:
    clients = 100
    with ExitStack() as stack:
        streams = []
        for _ in range(clients):
            response = stack.enter_context(
                httpx.stream("GET", f"{api.base_url}/api/events", timeout=30)
            )
            events = sse_events(response.iter_lines())
            next_event(events, "status")
            streams.append(events)
        wait_for(lambda: api.hub.subscriber_count == clients, 30, "every client subscribed")
        before = api.hub.computations
        api.client.post("/api/jobs", json={"command": "true"})
        for events in streams:
            next_event(events, "status", lambda s: s["jobs"]["pending"] == 1)
        # One change, 100 clients: a handful of computations at most, not one per client.
        assert api.hub.computations - before <= 3
    wait_for(lambda: api.hub.subscriber_count == 0, 30, "disconnected clients dropped")


@pytest.mark.shared_store
def test_output_of_a_running_job_streams_live(api: Running, store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    command = f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second >&2"
    api.client.post("/api/jobs", json={"id": "live", "command": command})
    worker = start_worker(store_url, tmp_path / "worker.log")
    try:
        url = f"{api.base_url}/api/jobs/live/output?follow=1"
        with httpx.stream("GET", url, timeout=60) as response:
            assert response.status_code == 200
            events = sse_events(response.iter_lines())
            assert next_event(events, "stdout") == "first\n"
            assert api.client.get("/api/jobs/live").json()["job"]["state"] == "processing"
            whole = api.client.get("/api/jobs/live/output").json()
            assert whole["running"] is True and whole["stdout"] == "first\n"
            go.touch()
            assert next_event(events, "stderr") == "second\n"
            assert next_event(events, "end") == {
                "exit_code": 0,
                "state": "completed",
                "error": None,
            }
    finally:
        go.touch()  # let the job end even after a failure, so nothing outlives the test
        stop(worker)
    missing = api.client.get("/api/jobs/nope/output", params={"follow": 1})
    assert missing.status_code == 404 and "error" in missing.json()


def _followers(job_id: str) -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == f"queuectl-follow-{job_id}"]


def test_a_follower_whose_client_left_stops(api: Running) -> None:
    api.client.post("/api/jobs", json={"id": "later", "command": "true", "delay": 3600})
    url = f"{api.base_url}/api/jobs/later/output?follow=1"
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200
        wait_for(lambda: _followers("later"), 30, "the follower thread")
    # The job will not start for an hour; the thread must not poll for it that long.
    wait_for(lambda: not _followers("later"), 30, "the follower to stop")


@pytest.mark.shared_store
def test_a_worker_starting_is_an_event(api: Running, store_url: str, tmp_path: Path) -> None:
    with httpx.stream("GET", f"{api.base_url}/api/events", timeout=60) as response:
        events = sse_events(response.iter_lines())
        assert next_event(events, "workers") == {"workers": []}
        worker = start_worker(store_url, tmp_path / "worker.log", "--count", "2")
        try:
            seen = next_event(events, "workers", lambda w: len(w["workers"]) == 1)
            assert seen["workers"][0]["slots"] == 2
        finally:
            stop(worker)
