"""Parking on Redis (common.lua, claim.lua): a due job a claim passes over because its
concurrency key is full leaves the ready sets for P.."parked:"..key, so later claims do
not read it again; each slot of the key freed brings its best one back, and any index
move of a parked job makes it claimable again. White-box: the tests read the sets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from queuectl.models import JobChanges, JobState, NewJob, OnDuplicate, RunResult
from queuectl.service.enqueue import enqueue_answers
from queuectl.store import Store, open_store
from queuectl.store.redis import LOST_CLAIMS
from queuectl.store.redis_client import split_url
from tests.conftest import as_claimed, make_job
from tests.redis_helpers import fresh_prefix

pytestmark = pytest.mark.redis
OK = RunResult(exit_code=0, error=None, stdout=b"ok")
BOOM = RunResult(exit_code=1, error=None, stdout=b"")
KEY = "acct-1"


class Keys:
    """The store's sets, read straight from the server."""

    def __init__(self, url: str) -> None:
        base, self.prefix = split_url(url)
        self.client = redis.Redis.from_url(base)

    def members(self, name: str) -> list[str]:
        found: list[Any] = self.client.zrange(self.prefix + name, 0, -1)
        return [m.decode() for m in found]

    def ids(self, name: str) -> list[str]:
        return [m[16:] for m in self.members(name)]

    def size(self, name: str) -> int:
        return int(self.client.zcard(self.prefix + name))

    def parked(self, key: str = KEY) -> list[str]:
        return self.ids("parked:" + key)

    def ready(self, queue: str = "default") -> list[str]:
        shared = self.ids("ready")
        assert sorted(shared) == sorted(self.ids("ready:" + queue))
        return shared

    def timers(self) -> list[str]:
        return self.members("timers")

    def marked(self, job_id: str) -> bool:
        return self.client.hget(self.prefix + "job:" + job_id, "parked") == b"1"


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_prefix() as url:
        yield url


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    store = open_store(url)
    yield store
    store.close()


@pytest.fixture
def keys(url: str) -> Iterator[Keys]:
    found = Keys(url)
    yield found
    found.client.close()


def claim(store: Store, limit: int = 10) -> list[str]:
    return [job.id for job in store.claim_jobs("w1", None, limit, 60.0)]


def finish(store: Store, job_id: str) -> None:
    job = store.get_job(job_id)
    assert job is not None
    assert store.complete_job(job_id, job.worker_id or "", job.last_attempt, OK)


def hold_key(store: Store, key: str = KEY) -> None:
    """A running job `hold` holding `key` (its limit 1 unless set)."""
    store.enqueue_jobs([make_job("hold", concurrency_key=key)], 3)
    assert claim(store, 1) == ["hold"]


def busy(n: int, key: str = KEY, name: str = "b", **fields: Any) -> list[NewJob]:
    return [make_job(f"{name}{i:04d}", concurrency_key=key, **fields) for i in range(n)]


def test_a_free_job_behind_500_due_jobs_of_a_busy_key_is_claimed(store: Store, keys: Keys) -> None:
    hold_key(store)
    store.enqueue_jobs([*busy(500), make_job("free", concurrency_key="other")], 3)
    assert claim(store, 1) == ["free"]
    assert keys.size("parked:" + KEY) == 500 and keys.ready() == []
    assert keys.marked("b0000") and keys.marked("b0499")
    # a parked job is still pending in every count and listing
    assert store.count_jobs().by_state[JobState.PENDING] == 500
    assert len(store.list_jobs(state=JobState.PENDING)) == 500
    # the next claim reads none of them: nothing left in the ready sets, nothing parked anew
    store.enqueue_jobs([make_job("next")], 3)
    assert keys.ready() == ["next"]
    assert claim(store, 5) == ["next"]
    assert keys.size("parked:" + KEY) == 500 and keys.size("ready") == 0


def test_a_claim_parks_at_most_1000_and_the_next_claims_go_on(store: Store, keys: Keys) -> None:
    hold_key(store)
    store.enqueue_jobs([*busy(1500), make_job("free")], 3)
    waiter = store.change_waiter()
    try:
        assert claim(store, 1) == []
        assert keys.size("parked:" + KEY) == 1000
        assert waiter.wait(5.0)  # it stopped early: idle workers (itself too) claim again
    finally:
        waiter.close()
    assert claim(store, 1) == ["free"]
    assert keys.size("parked:" + KEY) == 1500 and keys.ready() == []


def test_each_freed_slot_brings_back_the_best_parked_job(store: Store, keys: Keys) -> None:
    hold_key(store)
    store.enqueue_jobs(
        [
            make_job("p0", concurrency_key=KEY),
            make_job("p5", concurrency_key=KEY, priority=5),
            make_job("p5b", concurrency_key=KEY, priority=5, max_retries=0),
            make_job("p1", concurrency_key=KEY, priority=1),
            make_job("p2", concurrency_key=KEY, priority=2),
        ],
        3,
    )
    assert claim(store) == []
    assert keys.parked() == ["p5", "p5b", "p2", "p1", "p0"] and keys.ready() == []
    waiter = store.change_waiter()
    try:
        finish(store, "hold")  # completed
        assert waiter.wait(5.0)  # idle workers are woken for it
    finally:
        waiter.close()
    assert keys.ready() == ["p5"] and keys.parked() == ["p5b", "p2", "p1", "p0"]
    assert not keys.marked("p5") and keys.marked("p5b")
    assert claim(store) == ["p5"]
    assert store.fail_job(as_claimed(store, "p5", "w1", 1), BOOM, 600) is JobState.FAILED
    assert keys.ready() == ["p5b"]  # a retry later frees its slot too
    assert claim(store) == ["p5b"]
    assert store.fail_job(as_claimed(store, "p5b", "w1", 1), BOOM, 0) is JobState.DEAD
    assert keys.ready() == ["p2"]
    assert claim(store) == ["p2"]
    store.cancel_jobs(["p2"])
    assert store.cancel_running_job("p2", "w1", 1, BOOM)
    assert keys.ready() == ["p1"]
    assert claim(store) == ["p1"]
    store.advance_clock(120)  # p1's worker died
    (expired,) = store.expired_jobs()
    assert store.reap_job(expired, BOOM, 600) is JobState.FAILED
    assert keys.ready() == ["p0"] and keys.parked() == []


def test_a_lease_renewed_frees_no_slot(store: Store, keys: Keys) -> None:
    hold_key(store)
    store.enqueue_jobs(busy(3), 3)
    assert claim(store) == []
    assert store.heartbeat("w1", 60.0, ["hold"]).renewed == {"hold"}
    # a claim whose answer was lost hands `hold` back, its lease renewed (an index move
    # from processing to processing)
    record = keys.client.get(f"{keys.prefix}claim:w1/{os.getpid()}")
    assert isinstance(record, bytes)
    LOST_CLAIMS.add(keys.prefix, "w1", record.decode().split("\n")[0])
    assert claim(store, 1) == ["hold"]
    assert keys.size("parked:" + KEY) == 3 and keys.ready() == []


def test_cancel_requeue_and_update_of_a_parked_job_make_it_claimable(
    store: Store, keys: Keys
) -> None:
    hold_key(store)
    store.enqueue_jobs([*busy(3), make_job("late", concurrency_key=KEY, delay=30.0)], 3)
    assert claim(store) == []
    store.advance_clock(60)  # a scheduled job comes due while its key is busy: parked too
    assert claim(store) == []
    assert keys.parked() == ["b0000", "b0001", "b0002", "late"]
    assert store.cancel_jobs(["b0000"]) == {"b0000": JobState.CANCELLED}
    assert keys.parked() == ["b0001", "b0002", "late"] and not keys.marked("b0000")
    store.requeue_jobs(["b0000"], 3)
    assert keys.ready() == ["b0000"] and not keys.marked("b0000")
    store.update_job("b0001", JobChanges(priority=9))
    assert keys.ready() == ["b0001", "b0000"] and keys.parked() == ["b0002", "late"]
    assert not keys.marked("b0001")
    store.update_job("b0002", JobChanges(command="echo changed"))  # not an index move
    assert keys.parked() == ["b0002", "late"] and keys.marked("b0002")
    assert claim(store) == []  # the key is still busy: parked again
    assert keys.parked() == ["b0001", "b0000", "b0002", "late"] and keys.ready() == []
    assert store.count_jobs().by_state[JobState.PENDING] == 4


def test_a_failed_job_parked_for_its_retry_can_be_requeued(store: Store, keys: Keys) -> None:
    store.enqueue_jobs([make_job("x", concurrency_key=KEY)], 3)
    assert claim(store) == ["x"]
    assert store.fail_job(as_claimed(store, "x", "w1", 1), BOOM, 0) is JobState.FAILED
    store.enqueue_jobs([make_job("h", concurrency_key=KEY, priority=9)], 3)
    assert claim(store, 1) == ["h"]
    assert claim(store) == [] and keys.parked() == ["x"] and keys.marked("x")
    assert store.count_jobs().by_state[JobState.FAILED] == 1
    store.requeue_jobs(["x"], 3)
    assert keys.ready() == ["x"] and keys.parked() == [] and not keys.marked("x")
    assert store.count_jobs().by_state[JobState.PENDING] == 1


def test_a_unique_key_replace_of_a_parked_job_makes_it_claimable(store: Store, keys: Keys) -> None:
    hold_key(store)
    store.enqueue_jobs([make_job("u", concurrency_key=KEY, unique_key="only")], 3)
    assert claim(store) == [] and keys.parked() == ["u"]
    new = make_job(
        "u2", "echo new", concurrency_key=KEY, unique_key="only", on_duplicate=OnDuplicate.REPLACE
    )
    [answer] = enqueue_answers(store, [new])
    assert (answer.id, answer.replaced) == ("u", True)
    assert keys.parked() == [] and keys.ready() == ["u"] and not keys.marked("u")
    assert claim(store) == [] and keys.parked() == ["u"]  # its key is still busy
    later = make_job(
        "u3", concurrency_key=KEY, unique_key="only", delay=30.0, on_duplicate=OnDuplicate.REPLACE
    )
    enqueue_answers(store, [later])
    assert keys.parked() == [] and keys.ready() == [] and keys.timers() == ["u"]


def test_setting_or_lifting_a_key_limit_brings_back_all_its_parked_jobs(
    store: Store, keys: Keys
) -> None:
    hold_key(store)
    store.enqueue_jobs([*busy(500), *busy(2, key="other", name="o", queue="q2")], 3)
    store.enqueue_jobs([make_job("o-hold", concurrency_key="other", priority=9, queue="q2")], 3)
    assert claim(store, 1) == ["o-hold"]
    assert claim(store) == []
    assert keys.size("parked:" + KEY) == 500 and keys.size("parked:other") == 2
    waiter = store.change_waiter()
    try:
        store.set_key_limit(KEY, 3)
        assert waiter.wait(5.0)
    finally:
        waiter.close()
    assert keys.size("parked:" + KEY) == 0 and keys.size("ready:default") == 500
    assert keys.size("parked:other") == 2  # another key's stay
    assert not keys.marked("b0000") and not keys.marked("b0499")
    assert claim(store) == ["b0000", "b0001"]  # 3 with hold; the rest are parked again
    assert keys.size("parked:" + KEY) == 498 and keys.size("ready:default") == 0
    store.set_key_limit(KEY, None)  # lifted: back to 1, and they come back too
    assert keys.size("parked:" + KEY) == 0 and keys.size("ready:default") == 498
    assert claim(store) == []
    assert keys.size("parked:" + KEY) == 498


def test_the_claim_reads_on_in_claim_order_across_queues(store: Store, keys: Keys) -> None:
    hold_key(store)
    store.enqueue_jobs(
        [*busy(150, queue="a", priority=5), make_job("a-free", queue="a", priority=5)], 3
    )
    store.enqueue_jobs([make_job("b-low", queue="b", priority=1)], 3)
    assert claim(store, 1) == ["a-free"]  # the best free job, past 150 parked ones
    assert keys.size("parked:" + KEY) == 150 and keys.ids("ready:b") != []


def test_a_job_refused_because_its_queue_filled_is_not_parked(store: Store, keys: Keys) -> None:
    store.set_queue_limit("q", 1, None)
    store.enqueue_jobs([make_job(f"q{i}", queue="q", concurrency_key="k") for i in range(3)], 3)
    assert claim(store) == ["q0"]
    assert keys.parked("k") == [] and keys.ids("ready:q") == ["q1", "q2"]
    assert claim(store) == []  # the queue is full: its set is not read
    assert keys.parked("k") == [] and keys.ids("ready:q") == ["q1", "q2"]
