"""The Store's promises about workflows (jobs that run after other jobs), on every backend.

Each test states one rule of queuectl/workflow.py through the Store interface only, so the
same test holds SQLite's statements, PostgreSQL's queuectl_release, Redis's Lua and the
memory reference to the same words.
"""

from __future__ import annotations

import itertools

import pytest

from queuectl.errors import InvalidSpec
from queuectl.models import BLOCKED, SCHEDULED, AfterMode, JobLinks, JobQuery, JobState
from queuectl.store import Store
from tests.conftest import as_claimed, make_job
from tests.store.test_conformance import BOOM, DEFAULT_RETRIES, OK, enqueue, get

PENDING, PROCESSING, COMPLETED = JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED
DEAD, CANCELLED = JobState.DEAD, JobState.CANCELLED
FINISHED = AfterMode.FINISHED


def claim(store: Store, limit: int = 10) -> list[str]:
    return sorted(job.id for job in store.claim_jobs("w1", None, limit, 60.0))


def run_ok(store: Store, job_id: str) -> None:
    job = get(store, job_id)
    assert job.state is PROCESSING, job
    assert store.complete_job(job_id, "w1", job.last_attempt, OK)


def run_dead(store: Store, job_id: str) -> None:
    job = get(store, job_id)
    assert job.state is PROCESSING, job
    assert store.fail_job(as_claimed(store, job_id, "w1", job.last_attempt), BOOM, 0) is DEAD


def states(store: Store, *job_ids: str) -> list[JobState]:
    return [get(store, job_id).state for job_id in job_ids]


def test_a_job_waits_until_every_job_it_runs_after_completed(store: Store) -> None:
    enqueue(
        store,
        make_job("a"),
        make_job("b"),
        make_job("stitch", after=("a", "b")),
    )
    stitch = get(store, "stitch")
    assert (stitch.state, stitch.blockers, stitch.after_mode) == (PENDING, 2, AfterMode.COMPLETED)
    assert claim(store) == ["a", "b"]  # never the blocked one
    run_ok(store, "a")
    assert claim(store) == []
    assert get(store, "stitch").blockers == 1
    run_ok(store, "b")
    assert get(store, "stitch").blockers == 0
    assert claim(store) == ["stitch"]


def test_a_whole_graph_in_one_enqueue_in_any_order(store: Store) -> None:
    enqueue(
        store,
        make_job("deploy", after=("test-1", "test-2")),
        make_job("test-1", after=("build",)),
        make_job("test-2", after=("build",)),
        make_job("build"),
    )
    assert [get(store, i).blockers for i in ("deploy", "test-1", "build")] == [2, 1, 0]
    assert get(store, "build").dependents == 2
    assert store.job_links(["test-1", "build"]) == {
        "test-1": JobLinks(after=("build",), dependents=("deploy",)),
        "build": JobLinks(after=(), dependents=("test-1", "test-2")),
    }
    assert claim(store) == ["build"]
    run_ok(store, "build")
    assert claim(store) == ["test-1", "test-2"]


@pytest.mark.parametrize(
    ("jobs", "names"),
    [
        ([make_job("x", after=("nowhere",))], "'nowhere', which does not exist"),
        ([make_job("x", after=("y",)), make_job("y", after=("x",))], "cycle: "),
        ([make_job("x", after=("x",))], "runs after itself"),
        ([make_job("x", after=("y", "y")), make_job("y")], "names a job twice"),
    ],
)
def test_a_bad_graph_adds_nothing(store: Store, jobs: list[object], names: str) -> None:
    enqueue(store, make_job("before"))
    with pytest.raises(InvalidSpec, match=names):
        store.enqueue_jobs(jobs, DEFAULT_RETRIES)  # type: ignore[arg-type]
    assert [job.id for job in store.list_jobs()] == ["before"]
    assert get(store, "before").dependents == 0


@pytest.mark.parametrize("order", list(itertools.permutations("abc")))
def test_a_cycle_is_found_in_whatever_order_its_jobs_come(store: Store, order: str) -> None:
    """A batch in run order is known to hold no cycle without a walk of its graph: every
    other order must still be walked, whichever job the cycle seems to start from."""
    after = {"a": ("c",), "b": ("a",), "c": ("b",)}
    jobs = [make_job("root"), *(make_job(i, after=(*after[i], "root")) for i in order)]
    with pytest.raises(InvalidSpec, match="cycle: "):
        store.enqueue_jobs(jobs, DEFAULT_RETRIES)
    assert store.list_jobs() == []


def test_a_graph_given_against_its_run_order_is_taken(store: Store) -> None:
    """Each job listed before the job it runs after: no cycle, and the blockers count."""
    chain = [make_job(f"j{i}", after=(f"j{i - 1}",) if i else ()) for i in range(50)]
    enqueue(store, *reversed(chain))
    assert [get(store, f"j{i}").blockers for i in (0, 1, 49)] == [0, 1, 1]
    assert claim(store) == ["j0"]


def test_a_job_after_one_that_ended_dead_is_refused_unless_it_runs_whatever_happened(
    store: Store,
) -> None:
    enqueue(store, make_job("build", max_retries=0))
    assert claim(store) == ["build"]
    run_dead(store, "build")
    with pytest.raises(InvalidSpec, match="'build', which is dead: it would never run"):
        enqueue(store, make_job("deploy", after=("build",)))
    assert store.get_job("deploy") is None
    enqueue(store, make_job("notify", after=("build",), after_mode=FINISHED))
    assert get(store, "notify").blockers == 0
    assert claim(store) == ["notify"]


def test_a_job_after_a_completed_one_runs_at_once_and_after_a_running_one_waits(
    store: Store,
) -> None:
    enqueue(store, make_job("done"), make_job("running"))
    assert claim(store, 1) == ["done"]
    run_ok(store, "done")
    assert claim(store) == ["running"]
    enqueue(store, make_job("x", after=("done",)), make_job("y", after=("running",)))
    assert (get(store, "x").blockers, get(store, "y").blockers) == (0, 1)
    assert get(store, "running").dependents == 1
    assert claim(store) == ["x"]
    run_ok(store, "running")  # its claimed copy knew of no dependents: the store does
    assert claim(store) == ["y"]


def test_a_dead_job_cancels_what_waits_for_it_down_the_graph(store: Store) -> None:
    enqueue(
        store,
        make_job("build", max_retries=0),
        make_job("test", after=("build",)),
        make_job("deploy", after=("test",)),
        make_job("cleanup", after=("test",), after_mode=FINISHED),
    )
    assert claim(store) == ["build"]
    run_dead(store, "build")
    test, deploy = get(store, "test"), get(store, "deploy")
    assert (test.state, test.last_error, test.cancelled_by) == (
        CANCELLED,
        "after build, which ended dead",
        "build",
    )
    assert (deploy.state, deploy.last_error) == (CANCELLED, "after test, which was cancelled")
    cleanup = get(store, "cleanup")  # runs whatever happened: released, not cancelled
    assert (cleanup.state, cleanup.blockers) == (PENDING, 0)
    assert claim(store) == ["cleanup"]


def test_cancelling_a_waiting_job_cancels_what_runs_after_it(store: Store) -> None:
    enqueue(store, make_job("a"), make_job("b", after=("a",)), make_job("c", after=("b",)))
    store.cancel_jobs(["a"])
    assert states(store, "a", "b", "c") == [CANCELLED, CANCELLED, CANCELLED]
    assert get(store, "c").last_error == "after b, which was cancelled"


def test_a_long_chain_is_cancelled_to_its_end(store: Store) -> None:
    chain = [make_job("link-0")]
    chain += [make_job(f"link-{i}", after=(f"link-{i - 1}",)) for i in range(1, 300)]
    enqueue(store, *chain)
    store.cancel_jobs(["link-0"])
    assert store.count_jobs().by_state[CANCELLED] == 300


def test_a_requeue_brings_back_what_was_cancelled_only_because_of_it(store: Store) -> None:
    enqueue(
        store,
        make_job("build", max_retries=0),
        make_job("other", max_retries=0),
        make_job("test", after=("build",)),
        make_job("deploy", after=("test",)),
        make_job("both", after=("build", "other")),
    )
    assert claim(store) == ["build", "other"]
    run_dead(store, "build")
    run_dead(store, "other")
    assert states(store, "test", "deploy", "both") == [CANCELLED] * 3
    requeued = store.retry_dead_jobs(["build"], DEFAULT_RETRIES)
    assert requeued == ["build"]
    assert sorted(requeued.brought_back) == ["deploy", "test"]
    test, deploy = get(store, "test"), get(store, "deploy")
    assert (test.state, test.blockers, test.last_error, test.cancelled_by) == (
        PENDING,
        1,
        None,
        None,
    )
    assert (deploy.state, deploy.blockers) == (PENDING, 1)
    # "both" also waits for "other", still dead: it stays cancelled
    assert get(store, "both").state is CANCELLED
    assert claim(store) == ["build"]
    run_ok(store, "build")
    assert claim(store) == ["test"]


def test_requeueing_a_cancelled_job_recounts_what_it_waits_for(store: Store) -> None:
    enqueue(store, make_job("a"), make_job("b", after=("a",)))
    store.cancel_jobs(["b"])
    requeued = store.requeue_jobs(["b"], DEFAULT_RETRIES)
    assert (requeued, requeued.brought_back) == (["b"], [])
    assert (get(store, "b").state, get(store, "b").blockers) == (PENDING, 1)
    assert claim(store) == ["a"]
    run_ok(store, "a")
    assert claim(store) == ["b"]


def test_a_retry_of_every_dead_job_says_what_came_back(store: Store) -> None:
    enqueue(store, make_job("a", max_retries=0), make_job("b", after=("a",)))
    assert claim(store) == ["a"]
    run_dead(store, "a")
    requeued = store.retry_dead_jobs(None, DEFAULT_RETRIES)
    assert (requeued, requeued.brought_back) == (["a"], ["b"])


def test_blocked_is_a_view_of_pending_jobs(store: Store) -> None:
    enqueue(
        store,
        make_job("a"),
        make_job("b", after=("a",)),
        make_job("later", delay=3600),
        make_job("later-blocked", delay=3600, after=("a",)),
    )
    counts = store.count_jobs()
    assert (counts.by_state[PENDING], counts.blocked, counts.scheduled) == (4, 2, 1)

    def listed(*names: str) -> list[str]:
        page = store.query_jobs(JobQuery(states=names, order="oldest"), None, None)
        return [job.id for job in page]

    assert listed(BLOCKED) == ["b", "later-blocked"]
    assert listed(SCHEDULED) == ["later"]
    assert listed(BLOCKED, SCHEDULED) == ["b", "later", "later-blocked"]
    prefix = store.query_jobs(JobQuery(states=(BLOCKED,), id_prefix="lat"), None, None)
    assert [job.id for job in prefix] == ["later-blocked"]
    assert store.next_due_in(None) == pytest.approx(3600, abs=5)


def test_a_blocked_job_does_not_keep_a_burst_worker_going(store: Store) -> None:
    enqueue(store, make_job("parent", delay=3600), make_job("child", after=("parent",)))
    assert not store.has_unfinished_jobs(None)


def test_a_deleted_job_takes_its_links_but_the_jobs_after_it_remember_it(store: Store) -> None:
    enqueue(store, make_job("a"), make_job("b", after=("a",)), make_job("c", after=("b",)))
    assert claim(store) == ["a"]
    run_ok(store, "a")
    assert claim(store) == ["b"]
    run_ok(store, "b")
    assert store.delete_jobs(["b"]) == 1
    assert store.job_links(["a", "c"]) == {
        "a": JobLinks(after=(), dependents=()),
        "c": JobLinks(after=("b",), dependents=()),
    }
    assert store.purge_jobs([COMPLETED]) == 1  # "a"
    assert store.job_links(["c"])["c"] == JobLinks(after=("b",), dependents=())


def test_watchers_are_woken_when_jobs_after_one_are_released_or_cancelled(store: Store) -> None:
    enqueue(
        store,
        make_job("ok"),
        make_job("bad", max_retries=0),
        make_job("after-ok", after=("ok",)),
        make_job("after-bad", after=("bad",)),
    )
    assert claim(store) == ["bad", "ok"]
    waiter = store.change_waiter()
    try:
        waiter.wait(0)  # what is pending so far
        run_ok(store, "ok")
        assert waiter.wait(5), "no wake-up for a released job"
        waiter.wait(0)
        run_dead(store, "bad")
        assert waiter.wait(5), "no wake-up for a cancelled job"
        assert get(store, "after-bad").state is CANCELLED
    finally:
        waiter.close()
