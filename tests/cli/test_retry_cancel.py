"""`retry ID... | --state S` (any finished job back to pending, attempts reset, as `rq
requeue` and `pueue restart`) and `cancel --state S / --queue Q` for many jobs at once."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Put, Run, Snapshot


def states(run: Run) -> dict[str, tuple[str, int]]:
    return {j["id"]: (j["state"], j["attempts"]) for j in run("list", "--json").ok().json()}


def test_retry_ids_of_any_finished_state(run: Run, put: Put) -> None:
    for state in ("completed", "failed", "dead", "cancelled"):
        put(state, state)
    done = run("retry", "completed", "failed", "dead", "cancelled").ok()
    assert done.lines == [f"{s}: pending" for s in ("completed", "failed", "dead", "cancelled")]
    assert all(v == ("pending", 0) for v in states(run).values())


def test_retry_by_state_and_queue(run: Run, put: Put) -> None:
    put("c1", "completed", queue="a")
    put("c2", "completed", queue="b")
    put("d1", "dead", queue="a")
    put("p1", "pending", queue="a")  # after the others: put() claims the due job
    assert run("retry", "--state", "completed,dead", "--queue", "a", "--json").ok().json() == {
        "ids": ["c1", "d1"],
        "brought_back": [],
    }
    assert states(run) == {
        "c1": ("pending", 0),
        "c2": ("completed", 1),
        "d1": ("pending", 0),
        "p1": ("pending", 0),
    }
    assert run("retry", "--state", "failed").ok().stdout == "no jobs to retry\n"


def test_retry_refuses_waiting_jobs_and_changes_nothing(
    run: Run, put: Put, snapshot: Snapshot
) -> None:
    put("done", "completed")
    put("waiting", "pending")
    before = snapshot()
    run("retry", "done", "waiting").error("waiting", code=1)
    run("retry", "--state", "pending").error("--state", code=2)
    run("retry").error("--state", code=2)
    run("retry", "done", "--state", "completed").error("not both", code=2)
    assert snapshot() == before


def test_cancel_by_state_and_queue(run: Run, put: Put) -> None:
    put("a3", "completed", queue="a")  # the claims of put() take the only due job
    put("a2", "failed", queue="a")
    put("a1", "pending", queue="a")
    put("b1", "pending", queue="b")
    assert run("cancel", "--queue", "a", "--json").ok().json() == {
        "states": {"a2": "cancelled", "a1": "cancelled"}
    }
    assert run("cancel", "--state", "pending").ok().lines == ["b1: cancelled"]
    assert {k: v[0] for k, v in states(run).items()} == {
        "a1": "cancelled",
        "a2": "cancelled",
        "b1": "cancelled",
        "a3": "completed",
    }
    assert run("cancel", "--state", "pending").ok().stdout == "no jobs to cancel\n"


@pytest.mark.before_store
def test_cancel_bad_selection_is_refused(run: Run, put: Put, snapshot: Snapshot) -> None:
    put("p", "pending")
    before = snapshot()
    run("cancel").error("--state", code=2)
    run("cancel", "--state", "dead").error("--state", code=2)
    run("cancel", "p", "--queue", "x").error("not both", code=2)
    assert snapshot() == before


# -- a job whose worker died ------------------------------------------------------------------


def _orphaned(db: str, job_id: str) -> None:
    """`job_id` claimed by a worker that then died: processing, its lease run out, and no
    worker running to notice."""
    from queuectl.store import open_store
    from tests.helpers import wait_for

    store = open_store(db)
    try:
        assert [j.id for j in store.claim_jobs("gone-1", None, 1, 0.05)] == [job_id]
        wait_for(store.expired_jobs, 30, "the lease to run out")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("command", "after"),
    [
        (["show", "orphan"], "failed"),
        (["list"], "failed"),
        (["status", "--json"], "failed"),
        (["cancel", "orphan"], "cancelled"),
        (["retry", "orphan"], "pending"),
    ],
    ids=["show", "list", "status-json", "cancel", "retry"],
)
def test_a_job_whose_worker_died_is_reaped_by_the_command_that_touches_it(
    run: Run, db: str, command: list[str], after: str
) -> None:
    run("enqueue", '{"id": "orphan", "command": "true", "max_retries": 2}').ok()
    _orphaned(db, "orphan")
    result = run(*command)
    result.ok()
    assert "its worker will kill it" not in result.stdout + result.stderr
    shown = run("show", "orphan", "--json").ok().json()
    assert shown["state"] == after, shown
    assert shown["attempt_log"][0]["error"] == "worker lost (lease expired)"


def test_wait_says_when_no_live_worker_serves_the_queue(run: Run, db: str) -> None:
    run("enqueue", '{"id": "w1", "command": "true", "queue": "mail"}').ok()
    result = run("wait", "w1", "--timeout", "0.1")
    assert result.exit_code == 124
    assert "no live worker serves queue mail" in result.stderr
