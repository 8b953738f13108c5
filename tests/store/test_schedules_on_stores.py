"""Schedules on every backend, driven by the store's clock (Store.advance_clock): runs are
enqueued once per due time however many hosts look, catch-up and no-overlap hold, and
pausing, resuming and removing work."""

from __future__ import annotations

import pytest

from queuectl.errors import Conflict, InvalidSpec, NotFound
from queuectl.models import JobQuery, JobState
from queuectl.schedules import CatchUp
from queuectl.service import schedules
from queuectl.store import Store, open_store
from tests.helpers import all_at_once


def runs(store: Store, name: str) -> list[str]:
    page = store.query_jobs(JobQuery(id_prefix=f"{name}@", order="oldest"), None, None)
    return [job.id for job in page]


def test_a_run_is_enqueued_when_due_and_only_then(store: Store) -> None:
    made = schedules.add(store, "tick", {"command": "true", "queue": "ops"}, every=10.0)
    assert schedules.run_due(store) == []
    store.advance_clock(10.5)
    enqueued = schedules.run_due(store)
    assert enqueued == [f"tick@{_stamp(made.next_due)}"]
    assert schedules.run_due(store) == []  # the same due time never twice
    job = store.get_job(enqueued[0])
    assert job is not None and (job.command, job.queue) == ("true", "ops")
    shown = schedules.get(store, "tick")
    assert (shown.last_job, shown.next_due) == (enqueued[0], made.next_due + 10.0)


def _stamp(at: float) -> str:
    from queuectl.schedules import run_id

    return run_id("x", at).split("@", 1)[1]


@pytest.mark.parametrize(("catch_up", "expected"), [(CatchUp.LATEST, 1), (CatchUp.ALL, 4)])
def test_runs_missed_meanwhile_follow_catch_up(
    store: Store, catch_up: CatchUp, expected: int
) -> None:
    schedules.add(store, "c", {"command": "true"}, every=10.0, catch_up=catch_up)
    store.advance_clock(45.0)  # 4 due times passed with no worker
    assert len(schedules.run_due(store)) == expected
    assert schedules.get(store, "c").skipped == 4 - expected


def test_no_overlap_skips_a_run_while_the_last_one_waits(store: Store) -> None:
    schedules.add(store, "slow", {"command": "sleep 60"}, every=10.0, no_overlap=True)
    store.advance_clock(10.5)
    assert len(schedules.run_due(store)) == 1
    store.advance_clock(10.0)
    assert schedules.run_due(store) == []  # the first run is still pending
    assert schedules.get(store, "slow").skipped == 1
    store.cancel_jobs(runs(store, "slow"))
    store.advance_clock(10.0)
    assert len(schedules.run_due(store)) == 1


def test_a_paused_schedule_enqueues_nothing_until_resumed(store: Store) -> None:
    schedules.add(store, "p", {"command": "true"}, every=10.0)
    schedules.set_paused(store, "p", True)
    store.advance_clock(25.0)
    assert schedules.run_due(store) == []
    schedules.set_paused(store, "p", False)
    assert len(schedules.run_due(store)) == 1  # the latest missed run (catch-up latest)


def test_run_now_remove_and_errors(store: Store) -> None:
    schedules.add(store, "n", {"command": "true"}, cron="0 2 * * *", tz="Europe/Paris")
    with pytest.raises(Conflict, match="exists already"):
        schedules.add(store, "n", {"command": "true"}, every=60.0)
    with pytest.raises(InvalidSpec, match="schedule name"):
        schedules.add(store, "-bad", {"command": "true"}, every=60.0)
    with pytest.raises(InvalidSpec, match="command"):
        schedules.add(store, "empty", {"command": " "}, every=60.0)
    job_id = schedules.run_now(store, "n")
    assert job_id.startswith("n@") and job_id.endswith("-now")
    assert runs(store, "n") == [job_id]
    schedules.remove(store, "n")
    with pytest.raises(NotFound):
        schedules.get(store, "n")
    assert store.get_job(job_id) is not None  # its runs stay, as ordinary jobs


@pytest.mark.shared_store
def test_hosts_looking_at_once_enqueue_each_due_time_once(store_url: str) -> None:
    """Six stores (as six hosts) look at the same due times together, ten times over."""
    hosts = [open_store(store_url) for _ in range(6)]
    try:
        schedules.add(hosts[0], "race", {"command": "true"}, every=10.0, catch_up=CatchUp.ALL)
        for round_ in range(10):
            for host in hosts:
                host.advance_clock(10.0)
            found = all_at_once(hosts, schedules.run_due)
            enqueued = [job_id for ids in found for job_id in ids]
            assert len(enqueued) == len(set(enqueued)), f"round {round_}: {enqueued}"
        ids = runs(hosts[0], "race")
        assert len(ids) == len(set(ids)) == 10
        states = {hosts[0].get_job(i).state for i in ids}  # type: ignore[union-attr]
        assert states == {JobState.PENDING}
    finally:
        for host in hosts:
            host.close()
