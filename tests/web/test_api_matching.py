"""GET /api/jobs's `total` (how many jobs answer the filter) and POST /api/jobs/bulk (an
action on every job that answers one), through a real HTTP client on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.api_server import Running, serving


@pytest.fixture
def api(store_url: str) -> Iterator[Running]:
    with serving(store_url) as running:
        yield running


def _seed(api: Running) -> None:
    """mail: 3 pending (one says "report"), 1 cancelled; web: 2 pending, 1 scheduled."""
    specs: list[dict[str, Any]] = [
        {"id": "m-1", "command": "echo one", "queue": "mail"},
        {"id": "m-2", "command": "echo report", "queue": "mail"},
        {"id": "m-3", "command": "echo three", "queue": "mail"},
        {"id": "m-4", "command": "echo four", "queue": "mail"},
        {"id": "w-1", "command": "echo report", "queue": "web"},
        {"id": "w-2", "command": "echo two", "queue": "web"},
        {"id": "w-later", "command": "echo later", "queue": "web", "delay": 3600},
    ]
    assert api.client.post("/api/jobs", json=specs).status_code == 201
    assert api.client.post("/api/jobs/m-4/cancel").status_code == 200


def _total(api: Running, query: str) -> Any:
    response = api.client.get("/api/jobs?" + query)
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_the_listing_says_how_many_jobs_answer_its_filter(api: Running) -> None:
    _seed(api)
    assert _total(api, "limit=1") == {"count": 7, "exact": True}
    assert _total(api, "state=pending") == {"count": 6, "exact": True}  # w-later is pending
    assert _total(api, "state=pending&queue=mail") == {"count": 3, "exact": True}
    assert _total(api, "state=cancelled,scheduled") == {"count": 2, "exact": True}
    assert _total(api, "queue=nowhere") == {"count": 0, "exact": True}
    assert _total(api, "id_prefix=m-&state=pending") == {"count": 3, "exact": True}
    # A command search is not counted: only reading every job would tell.
    assert _total(api, "search=report") is None
    # The total is the filter's, whatever page is shown.
    first = api.client.get("/api/jobs?state=pending&limit=2").json()
    second = api.client.get(f"/api/jobs?state=pending&limit=2&cursor={first['next_cursor']}")
    assert second.json()["total"] == {"count": 6, "exact": True}


def test_blocked_jobs_are_counted_apart_from_scheduled_ones(api: Running) -> None:
    specs = [
        {"id": "first", "command": "true"},
        {"id": "then", "command": "true", "after": ["first"]},
        {"id": "later", "command": "true", "delay": 3600},
        {"id": "later-too", "command": "true", "delay": 3600},
    ]
    assert api.client.post("/api/jobs", json=specs).status_code == 201
    assert _total(api, "state=blocked") == {"count": 1, "exact": True}
    assert _total(api, "state=scheduled") == {"count": 2, "exact": True}
    assert _total(api, "state=blocked,scheduled") == {"count": 3, "exact": True}
    assert _total(api, "state=pending,blocked") == {"count": 4, "exact": True}


def test_an_id_prefix_is_counted_up_to_five_hundred(api: Running) -> None:
    specs = [{"id": f"batch-{n:04}", "command": "true"} for n in range(501)]
    assert api.client.post("/api/jobs", json=specs).status_code == 201
    assert _total(api, "id_prefix=batch-") == {"count": 500, "exact": False}
    assert _total(api, "id_prefix=batch-000") == {"count": 10, "exact": True}
    assert _total(api, "id_prefix=batch-05&order=oldest") == {"count": 1, "exact": True}


def _states(api: Running) -> dict[str, str]:
    jobs = api.client.get("/api/jobs?limit=1000").json()["jobs"]
    return {job["id"]: job["state"] for job in jobs}


def test_bulk_by_filter_acts_on_exactly_the_matching_jobs(api: Running) -> None:
    _seed(api)
    done = api.client.post(
        "/api/jobs/bulk", json={"action": "cancel", "state": ["pending"], "queue": "mail"}
    )
    assert done.status_code == 200 and done.json() == {"action": "cancel", "count": 3}
    states = _states(api)
    assert {k: v for k, v in states.items() if v == "cancelled"}.keys() == {
        "m-1",
        "m-2",
        "m-3",
        "m-4",
    }
    assert states["w-1"] == states["w-2"] == states["w-later"] == "pending"

    searched = api.client.post("/api/jobs/bulk", json={"action": "requeue", "search": "report"})
    # "report" matches m-2 (cancelled) and w-1 (pending): a pending job cannot be requeued,
    # so neither is.
    assert searched.status_code == 409, searched.text
    assert _states(api) == states

    requeued = api.client.post(
        "/api/jobs/bulk", json={"action": "requeue", "state": ["cancelled"], "search": "report"}
    )
    assert requeued.json() == {"action": "requeue", "count": 1}
    assert _states(api)["m-2"] == "pending"

    deleted = api.client.post("/api/jobs/bulk", json={"action": "delete", "state": ["cancelled"]})
    assert deleted.json() == {"action": "delete", "count": 3}
    assert sorted(_states(api)) == ["m-2", "w-1", "w-2", "w-later"]

    none = api.client.post("/api/jobs/bulk", json={"action": "delete", "queue": "nowhere"})
    assert none.status_code == 200 and none.json() == {"action": "delete", "count": 0}


def test_bulk_by_filter_is_all_or_nothing_and_refuses_bad_bodies(api: Running) -> None:
    _seed(api)
    before = _states(api)
    # Every mail job: three are pending, and a pending job cannot be deleted.
    refused = api.client.post("/api/jobs/bulk", json={"action": "delete", "queue": "mail"})
    assert refused.status_code == 409 and "error" in refused.json()
    for body in (
        {"action": "explode"},
        {"action": "cancel", "state": ["sleeping"]},
        {"action": "cancel", "ids": ["m-1"]},
        {"action": "cancel", "search": "x" * 1001},
        {"state": ["pending"]},
    ):
        bad = api.client.post("/api/jobs/bulk", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert list(bad.json()) in (["error"], ["error", "field"]), bad.text
    malformed = api.client.post(
        "/api/jobs/bulk", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert _states(api) == before


@pytest.mark.not_fast  # ten thousand jobs: seconds
def test_bulk_by_filter_refuses_more_than_ten_thousand_jobs(api: Running) -> None:
    specs = [{"id": f"n-{n:05}", "command": "true"} for n in range(10_001)]
    assert api.client.post("/api/jobs", json=specs).status_code == 201
    refused = api.client.post("/api/jobs/bulk", json={"action": "cancel"})
    assert refused.status_code == 422 and refused.json()["field"] == "filter"
    assert "10,000" in refused.json()["error"]
    assert _total(api, "state=cancelled") == {"count": 0, "exact": True}
    done = api.client.post("/api/jobs/bulk", json={"action": "cancel", "id_prefix": "n-0"})
    assert done.json() == {"action": "cancel", "count": 10_000}
