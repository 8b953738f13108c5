"""Limits with a long backlog, on every backend: what a claim must answer when many due
jobs wait behind a full queue or a busy concurrency key.

Stores may take such jobs out of their claim index while they cannot start ("parking"),
so that a claim need not read past them; memory:// keeps its plain scan. Either way the
answers are the same, and these tests hold every backend to them: a job with room is
claimed whatever waits ahead of it, and when a key or a queue frees (finish, failure,
cancel, reaped lease, a raised or lifted limit) its jobs start in claim order (priority,
then enqueue order), however they were moved while they waited.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from queuectl.limits import Rate
from queuectl.models import JobChanges, JobState, OnDuplicate
from queuectl.service.enqueue import enqueue_answers
from queuectl.store import Store
from tests.conftest import as_claimed, make_job
from tests.store.test_conformance import BOOM, enqueue, get
from tests.store.test_conformance_limits import claim, finish

PENDING, CANCELLED = JobState.PENDING, JobState.CANCELLED
BACKLOG = 500  # past any fixed look-ahead a claim might have
HOUR = 3600.0


def busy_key(store: Store, key: str = "k", backlog: int = 0, priority: int = 5) -> None:
    """Job `run` holds `key` (limit 1); `backlog` more jobs of the key wait behind it,
    due now and ahead of everything else (higher priority), passed over once."""
    enqueue(store, make_job("run", concurrency_key=key, priority=priority + 1))
    assert claim(store, 1) == ["run"]
    enqueue(
        store,
        *(make_job(f"b{i}", concurrency_key=key, priority=priority) for i in range(backlog)),
    )
    assert claim(store, 10) == []


@pytest.mark.parametrize("free_key", [None, "other"])
def test_a_free_job_behind_a_long_busy_key_backlog_is_claimed_next(
    store: Store, free_key: str | None
) -> None:
    busy_key(store, backlog=BACKLOG)
    enqueue(store, make_job("free", concurrency_key=free_key), make_job("later"))
    assert claim(store, 1) == ["free"]
    assert claim(store, 1) == ["later"]
    assert claim(store, 10) == []


def test_a_free_job_behind_a_long_backlog_fills_a_batch(store: Store) -> None:
    busy_key(store, backlog=BACKLOG)
    enqueue(store, *(make_job(f"f{i}") for i in range(3)))
    assert claim(store, 10) == ["f0", "f1", "f2"]


def _finish(store: Store) -> None:
    finish(store, "run")


def _fail_and_retry_later(store: Store) -> None:
    assert store.fail_job(as_claimed(store, "run", "w1", 1), BOOM, HOUR) is JobState.FAILED


def _cancel(store: Store) -> None:
    store.cancel_jobs(["run"])
    assert claim(store, 10) == []  # still running until its worker records it
    assert store.cancel_running_job("run", "w1", 1, BOOM)


def _reap(store: Store) -> None:
    store.advance_clock(120)  # the worker died: its 60 s lease expires
    (expired,) = store.expired_jobs()
    assert expired.id == "run"
    assert store.reap_job(expired, BOOM, HOUR) is JobState.FAILED


FREEING: dict[str, Callable[[Store], None]] = {
    "finish": _finish,
    "fail-retry": _fail_and_retry_later,
    "cancel": _cancel,
    "reap": _reap,
}


@pytest.mark.parametrize("how", list(FREEING))
def test_a_freed_key_starts_its_jobs_in_claim_order_one_at_a_time(store: Store, how: str) -> None:
    busy_key(store)
    priorities = [0, 2, 0, 2, 1]
    enqueue(
        store,
        *(make_job(f"k{i}", concurrency_key="k", priority=p) for i, p in enumerate(priorities)),
        make_job("free", priority=-1),
    )
    assert claim(store, 10) == ["free"]
    finish(store, "free")
    FREEING[how](store)
    started = []
    for _ in priorities:
        (job_id,) = claim(store, 10)  # one at a time: the key's limit is 1
        assert claim(store, 10) == []
        started.append(job_id)
        finish(store, job_id)
    assert started == ["k1", "k3", "k4", "k0", "k2"]  # priority, then enqueue order
    assert claim(store, 10) == []


def test_a_freed_key_behind_a_long_backlog_takes_its_best_job(store: Store) -> None:
    busy_key(store, backlog=BACKLOG)
    enqueue(store, make_job("best", concurrency_key="k", priority=9))
    assert claim(store, 10) == []
    finish(store, "run")
    assert claim(store, 10) == ["best"]
    finish(store, "best")
    assert claim(store, 10) == ["b0"]
    finish(store, "b0")
    assert claim(store, 10) == ["b1"]


def test_raising_a_key_limit_lets_that_many_run(store: Store) -> None:
    busy_key(store, backlog=6)
    store.set_key_limit("k", 3)
    assert claim(store, 10) == ["b0", "b1"]  # 3 with `run`
    assert claim(store, 10) == []
    store.set_key_limit("k", None)  # back to 1: the 3 finish before another starts
    for job_id in ("run", "b0"):
        finish(store, job_id)
        assert claim(store, 10) == []
    finish(store, "b1")
    assert claim(store, 10) == ["b2"]


def test_lifting_a_queue_limit_lets_all_its_due_jobs_be_claimed(store: Store) -> None:
    enqueue(store, *(make_job(f"v{i}", queue="video", priority=i % 2) for i in range(6)))
    store.set_queue_limit("video", 1, None)
    assert claim(store, 10) == ["v1"]
    assert claim(store, 10) == []
    store.set_queue_limit("video", None, None)
    assert claim(store, 10) == ["v3", "v5", "v0", "v2", "v4"]


def test_a_passed_over_job_cancelled_then_requeued_waits_for_its_key(store: Store) -> None:
    busy_key(store, backlog=2)
    store.cancel_jobs(["b0"])
    assert get(store, "b0").state is CANCELLED
    finish(store, "run")
    assert claim(store, 10) == ["b1"]  # not the cancelled one
    assert store.requeue_jobs(["b0"], 3) == ["b0"]
    assert get(store, "b0").state is PENDING
    assert claim(store, 10) == []  # its key is still busy
    finish(store, "b1")
    assert claim(store, 10) == ["b0"]


def test_a_passed_over_job_cancelled_is_never_claimed(store: Store) -> None:
    busy_key(store, backlog=3)
    store.cancel_jobs(["b0", "b1"])
    finish(store, "run")
    assert claim(store, 10) == ["b2"]
    finish(store, "b2")
    assert claim(store, 10) == []


def test_a_passed_over_job_moved_to_another_queue_keeps_its_key_and_new_priority(
    store: Store,
) -> None:
    busy_key(store, backlog=3, priority=0)
    store.update_job("b2", JobChanges(queue="other", priority=7))
    assert claim(store, 10) == []  # its key is still busy
    finish(store, "run")
    assert claim(store, 10) == ["b2"]
    assert get(store, "b2").queue == "other"


def test_a_job_passed_over_for_its_queue_and_moved_to_another_is_claimable(
    store: Store,
) -> None:
    enqueue(store, *(make_job(f"v{i}", queue="video") for i in range(3)))
    store.set_queue_limit("video", 1, None)
    assert claim(store, 10) == ["v0"]
    assert claim(store, 10) == []
    store.update_job("v2", JobChanges(queue="mail"))
    assert claim(store, 10) == ["v2"]
    assert claim(store, 10) == []
    finish(store, "v0")
    assert claim(store, 10) == ["v1"]


@pytest.mark.parametrize("new_key", [None, "other"])
def test_a_passed_over_job_replaced_through_its_unique_key(
    store: Store, new_key: str | None
) -> None:
    """A replace gives the waiting job the new spec, concurrency key included: with a
    free key (or none) it is claimable at once, the busy key's jobs keep waiting."""
    busy_key(store, backlog=2, priority=0)
    enqueue(store, make_job("u", concurrency_key="k", unique_key="u1"))
    assert claim(store, 10) == []
    new = make_job(
        "dup",
        "echo new",
        queue="other",
        priority=3,
        concurrency_key=new_key,
        unique_key="u1",
        on_duplicate=OnDuplicate.REPLACE,
    )
    [answer] = enqueue_answers(store, [new])
    assert (answer.id, answer.replaced) == ("u", True)
    replaced = get(store, "u")
    assert (replaced.command, replaced.queue, replaced.priority) == ("echo new", "other", 3)
    assert replaced.concurrency_key == new_key
    keys = {k.key: (k.running, k.jobs) for k in store.key_limits()}
    assert keys["k"] == (1, 3)  # the running job and its backlog of 2; "u" left the key
    assert keys.get("other") == (None if new_key is None else (0, 1))
    assert claim(store, 10) == ["u"]
    finish(store, "u")
    assert claim(store, 10) == []  # the key is still busy
    finish(store, "run")
    assert claim(store, 10) == ["b0"]


def test_a_full_queue_with_a_long_backlog_does_not_hold_back_another_queue(
    store: Store,
) -> None:
    enqueue(store, make_job("v-run", queue="video", priority=9))
    store.set_queue_limit("video", 1, None)
    assert claim(store, 1) == ["v-run"]
    enqueue(store, *(make_job(f"v{i}", queue="video", priority=5 + i % 3) for i in range(300)))
    assert claim(store, 10) == []
    enqueue(store, make_job("mail", queue="mail"), make_job("mail2", queue="mail"))
    assert claim(store, 1) == ["mail"]
    assert claim(store, 10) == ["mail2"]
    started = []
    for running in ("v-run", "v2", "v5"):
        finish(store, running)
        started += claim(store, 10)
    assert started == ["v2", "v5", "v8"]  # priority 7 first, then enqueue order


def test_a_rate_limited_backlog_starts_at_its_rate_while_other_queues_run(store: Store) -> None:
    enqueue(store, *(make_job(f"m{i}", queue="mail", priority=5) for i in range(300)))
    enqueue(store, *(make_job(f"o{i}", queue="other") for i in range(4)))
    store.set_queue_limit("mail", None, Rate(60, 60.0))  # one start a second
    assert claim(store, 1) == ["m0"]
    assert claim(store, 1) == ["o0"]
    assert claim(store, 1) == ["o1"]
    store.advance_clock(1.01)
    assert claim(store, 1) == ["m1"]
    assert claim(store, 10) == ["o2", "o3"]
    store.advance_clock(1.01)
    assert claim(store, 10) == ["m2"]


def test_a_freed_key_whose_best_job_is_now_behind_a_full_queue_starts_its_next(
    store: Store,
) -> None:
    """Both jobs of the key waited for the key alone (their queues had room); by the
    time the key frees, the best one's queue is full: the next one takes the slot."""
    busy_key(store)
    store.set_queue_limit("video", 1, None)
    enqueue(
        store,
        make_job("k-video", queue="video", concurrency_key="k", priority=5),
        make_job("k-other", queue="other", concurrency_key="k"),
    )
    assert claim(store, 10) == []  # both wait for the key
    enqueue(store, make_job("v-run", queue="video", priority=9))
    assert claim(store, 10) == ["v-run"]  # video is full now
    finish(store, "run")
    assert claim(store, 10) == ["k-other"]
    finish(store, "k-other")
    assert claim(store, 10) == []  # k-video: its queue is still full
    finish(store, "v-run")
    assert claim(store, 10) == ["k-video"]


def test_a_freed_key_starts_a_job_whose_queue_has_room_before_one_whose_queue_is_full(
    store: Store,
) -> None:
    """The key's best job waits for its full queue; the key's next job, in a queue with
    room, takes the freed slot (no slot of the key stays idle while one of its jobs
    could run), as on every backend before parking and on memory://."""
    enqueue(store, make_job("v-run", queue="video", priority=9))
    store.set_queue_limit("video", 1, None)
    assert claim(store, 1) == ["v-run"]
    busy_key(store)
    enqueue(
        store,
        make_job("k-video", queue="video", concurrency_key="k", priority=5),
        make_job("k-other", queue="other", concurrency_key="k"),
    )
    assert claim(store, 10) == []
    finish(store, "run")
    assert claim(store, 10) == ["k-other"]
    finish(store, "v-run")
    assert claim(store, 10) == []  # the key is busy again
    finish(store, "k-other")
    assert claim(store, 10) == ["k-video"]
