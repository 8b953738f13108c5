"""The Store's promises about limits (queuectl/limits.py), on every backend: a queue's
concurrency limit and rate, and concurrency keys, each through the Store interface only,
so SQLite's statements, PostgreSQL's locked claim, Redis's Lua and the memory reference
answer to the same words."""

from __future__ import annotations

import pytest

from queuectl.limits import KeyLimit, QueueLimit, Rate
from queuectl.models import JobState
from queuectl.store import Store, open_store
from tests.conftest import as_claimed, make_job
from tests.store.test_conformance import BOOM, OK, enqueue, get, run_threads

PROCESSING = JobState.PROCESSING


def claim(store: Store, limit: int = 10, worker: str = "w1") -> list[str]:
    return [job.id for job in store.claim_jobs(worker, None, limit, 60.0)]


def finish(store: Store, job_id: str) -> None:
    job = get(store, job_id)
    assert store.complete_job(job_id, job.worker_id or "", job.last_attempt, OK)


def test_no_limit_claims_as_before(store: Store) -> None:
    enqueue(store, *(make_job(f"j{i}") for i in range(5)))
    assert store.queue_limits() == []
    assert claim(store, 3) == ["j0", "j1", "j2"]


def test_a_queue_concurrency_limit_holds_within_one_batch_and_frees_on_finish(
    store: Store,
) -> None:
    enqueue(store, *(make_job(f"v{i}", queue="video") for i in range(4)), make_job("other"))
    store.set_queue_limit("video", 2, None)
    assert store.queue_limits() == [QueueLimit("video", 2, None, 0.0)]
    assert claim(store, 10) == ["v0", "v1", "other"]  # one batch, still only 2 of video
    assert claim(store, 10) == []
    finish(store, "v0")
    assert claim(store, 10) == ["v2"]
    store.set_queue_limit("video", None, None)  # lifted
    assert store.queue_limits() == []
    assert claim(store, 10) == ["v3"]


def test_a_failed_reaped_or_released_job_gives_its_slot_back(store: Store) -> None:
    enqueue(store, *(make_job(f"v{i}", queue="video", max_retries=0) for i in range(4)))
    store.set_queue_limit("video", 1, None)
    assert claim(store) == ["v0"]
    assert store.fail_job(as_claimed(store, "v0", "w1", 1), BOOM, 0) is JobState.DEAD
    assert claim(store) == ["v1"]
    assert store.release_job("v1", "w1", 1)  # a worker stopping at once
    assert claim(store) == ["v1"]
    store.advance_clock(120)  # the worker died: its lease expires
    (expired,) = store.expired_jobs()
    assert store.reap_job(expired, BOOM, 0) is JobState.DEAD
    assert claim(store) == ["v2"]


def test_a_cancelled_running_job_gives_its_slot_back(store: Store) -> None:
    enqueue(store, make_job("a", queue="q"), make_job("b", queue="q"))
    store.set_queue_limit("q", 1, None)
    assert claim(store) == ["a"]
    store.cancel_jobs(["a"])
    assert claim(store) == []  # still running until its worker records it
    assert store.cancel_running_job("a", "w1", 1, BOOM)
    assert claim(store) == ["b"]


def test_a_paused_queue_keeps_its_limits(store: Store) -> None:
    enqueue(store, *(make_job(f"v{i}", queue="video") for i in range(3)))
    store.set_queue_limit("video", 1, Rate(60, 60.0))
    store.pause_queues(["video"])
    assert claim(store) == []
    store.resume_queues(["video"])
    assert store.queue_limits()[0].concurrency == 1
    assert claim(store) == ["v0"]


def test_a_rate_spaces_starts_evenly(store: Store) -> None:
    enqueue(store, *(make_job(f"m{i}", queue="mail") for i in range(5)))
    store.set_queue_limit("mail", None, Rate(60, 60.0))  # 60/m: one a second, never 60 at once
    assert claim(store, 10) == ["m0"]
    assert claim(store, 10) == []
    (limit,) = store.queue_limits()
    assert limit.rate == Rate(60, 60.0)
    assert 0.5 < limit.next_start_at - store.now() <= 1.0
    store.advance_clock(1.01)
    assert claim(store, 10) == ["m1"]
    assert claim(store, 10) == []


def test_an_idle_worker_learns_when_a_rate_allows_the_next_start(store: Store) -> None:
    enqueue(store, *(make_job(f"m{i}", queue="mail") for i in range(2)))
    store.set_queue_limit("mail", None, Rate(2, 60.0))  # one start every 30 s
    assert store.next_due_in(None) is None  # nothing started yet: due now
    assert claim(store, 10) == ["m0"]
    due_in = store.next_due_in(["mail"])
    assert due_in is not None and 29 < due_in <= 30
    assert store.next_due_in(["other"]) is None


def test_a_concurrency_key_spans_queues(store: Store) -> None:
    enqueue(
        store,
        make_job("d1", queue="a", concurrency_key="deploy-prod"),
        make_job("d2", queue="b", concurrency_key="deploy-prod"),
        make_job("free", queue="b"),
        make_job("other", queue="a", concurrency_key="deploy-dev"),
    )
    assert get(store, "d1").concurrency_key == "deploy-prod"
    assert claim(store, 10) == ["d1", "free", "other"]
    assert store.key_limits(["deploy-prod"]) == [KeyLimit("deploy-prod", None, 1, 2)]
    assert store.key_holder("deploy-prod") == "d1"
    assert claim(store, 10) == []
    finish(store, "d1")
    assert claim(store, 10) == ["d2"]
    finish(store, "d2")
    assert store.key_limits(["deploy-prod"]) == []  # no job, no limit of its own: forgotten


def test_a_key_limit_can_be_raised_and_lowered(store: Store) -> None:
    enqueue(store, *(make_job(f"g{i}", concurrency_key="gpu") for i in range(4)))
    store.set_key_limit("gpu", 3)
    assert claim(store, 10) == ["g0", "g1", "g2"]
    store.set_key_limit("gpu", 1)
    finish(store, "g0")
    assert claim(store, 10) == []  # still 2 running, above the new limit
    finish(store, "g1")
    finish(store, "g2")
    assert claim(store, 10) == ["g3"]
    assert store.key_limits(["gpu"]) == [KeyLimit("gpu", 1, 1, 1)]
    store.set_key_limit("gpu", None)
    assert store.key_limits(["gpu"]) == [KeyLimit("gpu", None, 1, 1)]


def test_full_queues_and_keys_do_not_hide_the_jobs_behind_them(store: Store) -> None:
    enqueue(
        store,
        *(make_job(f"k{i}", queue="q", concurrency_key="k", priority=5) for i in range(3)),
        *(make_job(f"v{i}", queue="video", priority=5) for i in range(3)),
        make_job("low"),
    )
    store.set_queue_limit("video", 1, None)
    assert sorted(claim(store, 3)) == ["k0", "low", "v0"]


@pytest.mark.parametrize("batch", [1, 3])
def test_racing_claimers_never_break_a_limit(store_url: str, batch: int) -> None:
    opened: list[Store] = []

    def more() -> Store:
        opened.append(open_store(store_url))
        return opened[-1]

    try:
        first = more()
        enqueue(
            first,
            *(make_job(f"v{i}", queue="video") for i in range(30)),
            *(make_job(f"k{i}", queue=f"q{i % 3}", concurrency_key="key") for i in range(30)),
        )
        first.set_queue_limit("video", 2, None)
        first.set_key_limit("key", 2)
        stores = [more() for _ in range(4)]
        taken: list[list[str]] = [[] for _ in stores]

        def claimer(n: int) -> None:
            for _ in range(20):
                taken[n] += claim(stores[n], batch, worker=f"w{n}")

        run_threads(len(stores), claimer)
        running = [j for j in first.list_jobs(PROCESSING)]
        assert sum(j.queue == "video" for j in running) == 2
        assert sum(j.concurrency_key == "key" for j in running) == 2
        assert sorted(i for ids in taken for i in ids) == sorted(j.id for j in running)
    finally:
        for each in opened:
            each.close()
