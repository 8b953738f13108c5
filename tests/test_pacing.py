"""Short jobs share the store's work: a claim takes several, a write records several.

The worker runs in a process of its own on the real store; the script below only counts
the calls it makes to that store (pacing.py decides how many there are)."""

from __future__ import annotations

import pytest

from queuectl.limits import QueueLimit, Rate
from queuectl.models import JobState, NewJob
from queuectl.pacing import MAX_RESERVE, RECORD_BATCH, RESERVE_PER_SLOT, Pacing, limited_queue
from queuectl.store import Store
from queuectl.timers import Duty
from queuectl.worker_options import WorkerOptions
from tests.conftest import make_job
from tests.helpers import settled, stepped_worker, worker_script_report

pytestmark = [pytest.mark.slow, pytest.mark.shared_store]

_COUNTING_WORKER = """
import json, sys
from collections import Counter
import queuectl.claimer
from queuectl.store import open_store
from queuectl.worker import Worker
from queuectl.worker_options import WorkerOptions

calls, jobs = Counter(), Counter()

def counting(store):
    for name in ("claim_jobs", "complete_jobs", "complete_job"):
        real = getattr(store, name)
        def counted(*args, _real=real, _name=name):
            calls[_name] += 1
            answer = _real(*args)
            jobs[_name] += len(answer) if isinstance(answer, list) else 1
            return answer
        setattr(store, name, counted)
    return store

# Server stores claim on a connection of their own (claimer.py): count those calls too.
queuectl.claimer.open_store = lambda *args, **kwargs: counting(open_store(*args, **kwargs))
worker = Worker(sys.argv[1], WorkerOptions(slots=2, burst=True))
counting(worker.store)
worker.run()
print(json.dumps({"calls": calls, "jobs": jobs, "tally": worker.results.tally}))
"""


def test_short_jobs_are_claimed_and_recorded_in_batches(store: Store, store_url: str) -> None:
    total = 300
    store.enqueue_jobs([NewJob(id=f"j{i}", command="true") for i in range(total)], 0)
    counts = worker_script_report(_COUNTING_WORKER, store_url)
    calls, jobs = counts["calls"], counts["jobs"]
    assert store.count_jobs().by_state[JobState.COMPLETED] == total
    assert jobs["claim_jobs"] == total
    assert counts["tally"] == {"completed": total}  # its summary counts batched ones too
    # One job a claim and a write each would be 2 x 300 calls; batches need far fewer.
    # (The first jobs, before the worker has seen that they are short, go one by one.)
    assert calls["claim_jobs"] < total / 3, counts
    assert calls["complete_jobs"] + calls.get("complete_job", 0) < total / 3, counts


def test_quick_jobs_are_claimed_a_few_at_a_time_and_recorded_together(
    store: Store, store_url: str
) -> None:
    """Jobs of tens of milliseconds: a 4-slot worker holds two in reserve and lets a
    success wait up to RECORD_LINGER_S for others, so it writes fewer results than it
    runs jobs (the first dozen, before its average falls below QUICK_S, go one by one)."""
    total = 60
    store.enqueue_jobs([NewJob(id=f"q{i}", command="sleep 0.02") for i in range(total)], 0)
    script = _COUNTING_WORKER.replace("WorkerOptions(slots=2,", "WorkerOptions(slots=4,")
    counts = worker_script_report(script, store_url)
    calls, jobs = counts["calls"], counts["jobs"]
    assert store.count_jobs().by_state[JobState.COMPLETED] == total
    assert jobs["claim_jobs"] == total
    assert counts["tally"] == {"completed": total}
    assert calls["complete_jobs"] > 0, counts  # results recorded in batches
    assert calls["complete_jobs"] + calls.get("complete_job", 0) < total - 10, counts


def test_long_jobs_get_no_reserve_and_no_delay() -> None:
    pacing = Pacing()
    assert pacing.reserve(4) == 0
    assert pacing.record_after(1, 0.0, batchable=True) == 0.0
    for _ in range(30):
        pacing.observe(0.05)
    assert pacing.reserve(8) == 4  # quick jobs: half the slots in reserve
    assert pacing.reserve(1) == 1
    assert pacing.record_after(1, 0.0, batchable=True) > 0  # and results wait for company
    assert pacing.record_after(1, 0.0, batchable=False) == 0.0
    for _ in range(30):
        pacing.observe(0.001)
    assert pacing.reserve(4) > 4  # short jobs: several per slot
    assert pacing.record_after(1, 0.0, batchable=True) > 0
    assert pacing.record_after(RECORD_BATCH, 0.0, batchable=True) == 0.0
    assert pacing.record_after(1, 0.0, batchable=False) == 0.0  # a failure, a stop
    assert pacing.record_after(1, 1.0, batchable=True) == 0.0  # waited long enough
    pacing.slow_down()
    assert pacing.reserve(4) == 0


def test_a_quick_reserve_is_at_most_the_processs_own_slots() -> None:
    """A process of a worker in several processes sizes its reserve for the whole worker,
    but a quick job it reserves must start within one job's run (a reserved job still
    waiting after RESERVE_HOLD_S goes back): at most one job per slot of its own."""
    pacing = settled(Pacing(), 0.05)
    assert pacing.reserve(8, own=4) == 4  # 2 processes of 4 slots
    assert pacing.reserve(8, own=2) == 2  # 4 processes of 2
    assert pacing.reserve(8, own=1) == 1  # 8 processes of 1
    assert pacing.claim_worthwhile(1, 8, idle_slot=False, own=1)
    assert not pacing.claim_worthwhile(1, 8, idle_slot=False, own=4)  # half of 4 still held


def test_the_shorter_the_jobs_the_larger_the_reserve() -> None:
    """About 25 ms of work per slot, at least RESERVE_PER_SLOT, at most MAX_RESERVE: a
    claim (half a reserve) of 1-ms jobs takes a batch of about 25 for a 2-slot worker."""
    pacing = settled(Pacing(), 0.009)
    assert pacing.reserve(2) == 2 * RESERVE_PER_SLOT
    settled(pacing, 0.001)
    assert pacing.reserve(1) == 25
    assert pacing.reserve(2) == 50
    assert pacing.reserve(8) == MAX_RESERVE
    pacing.recent_runtime = 0.0  # jobs that take no time at all: no division by zero
    assert pacing.reserve(1) == MAX_RESERVE
    pacing = Pacing()
    pacing.observe(-3600.0)  # the wall clock stepped back an hour: no time, not less
    assert pacing.recent_runtime == 0.8


def test_limits_in_play_keep_the_reserve_small() -> None:
    """A reserved job counts against its queue's and key's limits: where one may be in
    play, a worker reserves RESERVE_PER_SLOT a slot, not 25 ms of work, and one quick
    job, not half its slots."""
    pacing = settled(Pacing(), 0.001)
    assert pacing.reserve(2) == 50
    pacing.limited_queue = True
    assert pacing.reserve(2) == 2 * RESERVE_PER_SLOT
    pacing.limited_queue, pacing.keyed = False, True
    assert pacing.reserve(2) == 2 * RESERVE_PER_SLOT
    settled(pacing, 0.05)
    assert pacing.reserve(8) == 1
    pacing.keyed = False
    assert pacing.reserve(8) == 4
    capped, rated = QueueLimit("video", concurrency=2), QueueLimit("mail", rate=Rate(60, 60))
    assert limited_queue([capped], None)  # a worker of every queue
    assert limited_queue([capped], ["video", "ci"])
    assert not limited_queue([capped], ["ci"])
    assert not limited_queue([rated], None)  # a rate spaces starts: claims stay small
    assert not limited_queue([], None)


def test_a_worker_reads_its_queues_limits_and_claimed_keys(store: Store, store_url: str) -> None:
    """Through the real store: a concurrency limit on one of the worker's queues (read
    with its settings), or a claim that brought jobs with a concurrency key, keeps the
    reserve at RESERVE_PER_SLOT a slot."""
    store.enqueue_jobs([make_job("k1", concurrency_key="gpu"), make_job("p1")], 0)
    with stepped_worker(store_url, WorkerOptions(slots=2, queues=["video"])) as worker:
        worker.reap_expired()
        settled(worker.pacing, 0.001)
        assert worker.slots.wanted() == 2 + 50  # no limit yet
        store.set_queue_limit("video", 3, None)
        store.set_queue_limit("other", 3, None)
        worker.timers.due_now(Duty.REAP)
        worker.reap_expired()
        assert worker.pacing.limited_queue
        assert worker.slots.wanted() == 2 + 2 * RESERVE_PER_SLOT
    with stepped_worker(store_url, WorkerOptions(slots=2, queues=["default"])) as worker:
        worker.reap_expired()
        assert not worker.pacing.limited_queue  # "video" is not its queue
        settled(worker.pacing, 0.001)
        worker.slots.reserve(store.claim_jobs(worker.id, None, 1, 60))
        assert worker.pacing.keyed
        assert worker.slots.wanted() == 2 + 2 * RESERVE_PER_SLOT - 1
        worker.slots.reserve(store.claim_jobs(worker.id, None, 1, 60))  # p1: no key
        assert not worker.pacing.keyed


def test_a_claim_is_made_for_an_idle_slot_however_small() -> None:
    pacing = Pacing()
    for _ in range(30):
        pacing.observe(0.001)
    slots = 2
    assert pacing.claim_worthwhile(1, slots, idle_slot=True)
    assert not pacing.claim_worthwhile(1, slots, idle_slot=False)  # the reserve holds
    assert pacing.claim_worthwhile(pacing.reserve(slots), slots, idle_slot=False)
    assert not pacing.claim_worthwhile(0, slots, idle_slot=True)
