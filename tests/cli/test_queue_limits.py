"""`queuectl queue`: setting and listing limits, and the words that say why a due job is
not running (status, list --json, show)."""

from __future__ import annotations

from queuectl.store import open_store
from tests.cli.conftest import Run, Snapshot


def claim_all(db: str) -> list[str]:
    store = open_store(db)
    try:
        return [job.id for job in store.claim_jobs("w1", None, 10, 60.0)]
    finally:
        store.close()


def test_set_list_and_lift_a_queue_limit(run: Run) -> None:
    run("enqueue", "--queue", "video", "--", "true").ok()
    shown = run("queue", "set", "video", "--concurrency", "2", "--json").ok().json()
    assert shown == {"queue": "video", "concurrency": 2, "rate": None, "next_start_in": None}
    run("queue", "set", "video", "--rate", "60/m").ok()  # the concurrency limit stays
    (video,) = run("queue", "list", "--json").ok().json()
    assert (video["concurrency"], video["rate"], video["due"]) == (2, "60/m", 1)
    assert "0/2" in run("queue", "list").ok().stdout
    run("queue", "set", "video", "--concurrency", "none", "--rate", "none").ok()
    (video,) = run("queue", "list", "--json").ok().json()
    assert (video["concurrency"], video["rate"]) == (None, None)


def test_bad_limits_are_refused_and_change_nothing(run: Run, snapshot: Snapshot) -> None:
    run("queue", "set", "video", "--concurrency", "2").ok()
    before = run("queue", "list", "--json").ok().json()
    state = snapshot()
    run("queue", "set", "video", "--concurrency", "0").error("concurrency", code=1)
    run("queue", "set", "video", "--concurrency", "two").error("concurrency", code=1)
    run("queue", "set", "video", "--rate", "60/x").error("rate", code=1)
    run("queue", "set", "video", "--rate", "0/m").error("rate", code=1)
    run("queue", "set", "a b", "--concurrency", "1").error("queue", code=1)
    run("queue", "set", "video").error("concurrency", code=1)
    run("queue", "set-key", "bad key", "--concurrency", "1").error("key", code=1)
    run("enqueue", "--concurrency-key", "bad key", "--", "true").error("key", code=1)
    assert run("queue", "list", "--json").ok().json() == before
    assert snapshot() == state


def test_why_a_due_job_waits(run: Run, db: str) -> None:
    for n in (1, 2):
        run("enqueue", "--id", f"v{n}", "--queue", "video", "--", "true").ok()
        run("enqueue", "--id", f"d{n}", "--concurrency-key", "deploy-prod", "--", "true").ok()
    run("enqueue", "--id", "m1", "--queue", "mail", "--", "true").ok()
    run("enqueue", "--id", "m2", "--queue", "mail", "--", "true").ok()
    run("queue", "set", "video", "--concurrency", "1").ok()
    run("queue", "set", "mail", "--rate", "1/h").ok()
    assert sorted(claim_all(db)) == ["d1", "m1", "v1"]
    held = {job["id"]: job["held_back"] for job in run("list", "--json").ok().json()}
    assert held["v2"] == "queue at its concurrency limit 1/1"
    assert held["d2"] == "key deploy-prod busy (job d1)"
    assert held["m2"].startswith("rate limit: next start in ")
    assert held["v1"] is None
    assert run("show", "d2", "--json").ok().json()["held_back"] == "key deploy-prod busy (job d1)"
    assert "held_back:        queue at its concurrency limit 1/1" in run("show", "v2").ok().stdout
    status = run("status").ok().stdout
    assert "Held back: video: queue at its concurrency limit 1/1" in status
    assert "Held back: key deploy-prod: key deploy-prod busy (job d1)" in status
    assert run("status", "--json").ok().json()["held_back"]["video"].startswith("queue at")
    keys = run("queue", "keys", "--json").ok().json()
    assert keys == [{"key": "deploy-prod", "concurrency": 1, "own": False, "running": 1, "jobs": 2}]
    run("queue", "set-key", "deploy-prod", "--concurrency", "2").ok()
    assert run("show", "d2", "--json").ok().json()["held_back"] is None
