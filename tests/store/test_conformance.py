"""The conformance suite: every Store backend must pass every test here.

Each test checks one promise of the Store Protocol (queuectl/store/base.py) through the
interface only, so a new backend (Redis next) is done when this file passes against it.
Times are compared with the store's own clock (`store.now()`), and every wait is a loop on
a condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypedDict, Unpack

import pytest

from queuectl import rules
from queuectl.errors import DuplicateJob, InvalidStateChange, JobNotFound
from queuectl.models import (
    FINAL_STATES,
    SCHEDULED,
    Job,
    JobChanges,
    JobQuery,
    JobState,
    ListState,
    NewJob,
    RunResult,
    StopMode,
    WorkerOrders,
    WorkerRegistration,
)
from queuectl.store import Store, open_store
from queuectl.store.guarded import GuardedStore
from tests.conftest import as_claimed, make_job

PENDING, PROCESSING, COMPLETED = JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED
FAILED, DEAD, CANCELLED = JobState.FAILED, JobState.DEAD, JobState.CANCELLED

DEFAULT_RETRIES = 3
TOL = 0.01  # seconds: rounding of stored times, not waiting
HELPER = "helper-worker"
TOP = 1_000_000  # put_in_state's jobs jump the queue so its claim takes exactly them

OK = RunResult(exit_code=0, error=None, stdout=b"hello\n\xff\x00bin", stderr=b"warn\n")
BOOM = RunResult(exit_code=3, error="exit code 3", stdout=b"partial", stderr=b"boom\n")
LOST = RunResult(exit_code=None, error="lease expired")
KILLED = RunResult(exit_code=-15, error="cancelled", stdout=b"cut", stderr=b"")


# -- helpers -----------------------------------------------------------------------------------


def enqueue(store: Store, *jobs: NewJob, default: int = DEFAULT_RETRIES) -> list[str]:
    return store.enqueue_jobs(list(jobs), default)


def ids(jobs: Iterable[Job]) -> list[str]:
    return [job.id for job in jobs]


def claim_one(
    store: Store, worker: str = "w1", lease: float = 60.0, queues: Sequence[str] | None = None
) -> Job:
    jobs = store.claim_jobs(worker, queues, 1, lease)
    assert len(jobs) == 1, f"expected one job to claim, got {jobs}"
    return jobs[0]


def get(store: Store, job_id: str) -> Job:
    job = store.get_job(job_id)
    assert job is not None, f"job {job_id} is missing"
    return job


def snapshot(store: Store, job_id: str) -> tuple[Job | None, list[object]]:
    return store.get_job(job_id), list(store.list_attempts(job_id))


def put_in_state(store: Store, job_id: str, state: JobState, queue: str = "default") -> Job:
    """A job in `state`, reached through the interface the way the worker gets it there."""
    if state in (PENDING, CANCELLED):
        enqueue(store, make_job(job_id, queue=queue))
        if state is CANCELLED:
            store.cancel_jobs([job_id])[job_id]
        return get(store, job_id)
    retries = 0 if state is DEAD else 5
    enqueue(store, make_job(job_id, queue=queue, priority=TOP, max_retries=retries))
    job = claim_one(store, HELPER, queues=[queue])
    assert job.id == job_id
    if state is COMPLETED:
        assert store.complete_job(job_id, HELPER, job.last_attempt, OK)
    elif state in (FAILED, DEAD):
        assert (
            store.fail_job(as_claimed(store, job_id, HELPER, job.last_attempt), BOOM, 3600) == state
        )
    result = get(store, job_id)
    assert result.state == state
    return result


def wait_for(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.005)


def worker_info(
    worker_id: str, queues: tuple[str, ...] = (), slots: int = 2, pid: int = 1234
) -> WorkerRegistration:
    return WorkerRegistration(id=worker_id, host="host-1", pid=pid, queues=queues, slots=slots)


@pytest.fixture
def open_more(store_url: str) -> Iterator[Callable[[], Store]]:
    """Opens more stores on the test's database (more connections); closes them after."""
    opened: list[Store] = []

    def _open() -> Store:
        opened.append(open_store(store_url))
        return opened[-1]

    yield _open
    for extra in opened:
        extra.close()


def run_threads(count: int, target: Callable[[int], None], timeout: float = 60.0) -> None:
    """Run target(0..count-1) in threads started together; re-raise the first error."""
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            target(n)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    if errors:
        raise errors[0]


# -- life cycle --------------------------------------------------------------------------------


def test_ping_describes_the_database(store: Store) -> None:
    text = store.ping()
    assert isinstance(text, str)
    assert text.strip()


def test_now_is_epoch_seconds(store: Store) -> None:
    # Same host, so the clocks agree; catches milliseconds or a local-time offset.
    assert abs(store.now() - time.time()) < 5


def test_migrate_is_idempotent_and_reports_the_version(
    store: Store, open_more: Callable[[], Store]
) -> None:
    version = store.schema_version()
    assert version >= 1  # which number is the backend's own (its specific tests check it)
    assert store.migrate() == []
    assert store.migrate() == []
    other = open_more()
    assert other.migrate() == []
    assert store.schema_version() == other.schema_version() == version


def test_many_processes_can_open_a_fresh_database_at_once(store_url: str) -> None:
    openers = 4
    barrier = threading.Barrier(openers)
    versions: list[int] = []

    def open_and_use(n: int) -> None:
        barrier.wait(timeout=30)
        opened = open_store(store_url)
        try:
            enqueue(opened, make_job(f"from-{n}"))
            versions.append(opened.schema_version())
        finally:
            opened.close()

    run_threads(openers, open_and_use)
    assert len(set(versions)) == 1
    assert versions[0] >= 1
    reopened = open_store(store_url)
    try:
        assert sorted(ids(reopened.list_jobs())) == [f"from-{n}" for n in range(openers)]
        assert reopened.migrate() == []
    finally:
        reopened.close()


def test_reopening_keeps_jobs_attempts_and_config(store_url: str) -> None:
    first = open_store(store_url)
    enqueue(first, make_job("waiting", command="echo kept", priority=4), make_job("done"))
    first.set_config("max-retries", "5")
    job = claim_one(first, "w1", queues=None)
    assert job.id == "waiting"  # higher priority
    assert first.complete_job("waiting", "w1", 1, OK)
    first.close()

    second = open_store(store_url)
    try:
        kept = get(second, "waiting")
        assert (kept.state, kept.command, kept.priority) == (COMPLETED, "echo kept", 4)
        assert get(second, "done").state == PENDING
        [attempt] = second.list_attempts("waiting")
        assert (attempt.exit_code, attempt.stdout) == (0, OK.stdout)
        assert second.get_config() == {"max-retries": "5"}
    finally:
        second.close()


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_stores_pending_jobs_and_returns_their_ids(store: Store) -> None:
    before = store.now()
    spec = make_job("a", command="echo a", queue="q1", priority=5, max_retries=2, timeout=7.5)
    assert enqueue(store, spec, make_job("b")) == ["a", "b"]
    after = store.now()

    a = get(store, "a")
    assert isinstance(a.state, JobState)
    assert (a.command, a.queue, a.priority, a.max_retries, a.timeout) == ("echo a", "q1", 5, 2, 7.5)
    assert (a.state, a.attempts, a.worker_id, a.lease_expires_at) == (PENDING, 0, None, None)
    assert not a.cancel_requested
    assert (a.last_error, a.exit_code) == (None, None)
    assert before - TOL <= a.created_at <= after + TOL
    assert before - TOL <= a.run_at <= after + TOL
    assert a.created_at - TOL <= a.updated_at <= after + TOL

    b = get(store, "b")
    assert (b.queue, b.priority, b.timeout, b.max_retries) == ("default", 0, None, DEFAULT_RETRIES)


def test_keep_daemons_round_trips_and_defaults_to_false(store: Store) -> None:
    enqueue(store, make_job("keeps", keep_daemons=True), make_job("kills"))
    assert get(store, "keeps").keep_daemons is True
    assert get(store, "kills").keep_daemons is False
    [claimed] = [j for j in store.claim_jobs("w1", None, 2, 30) if j.id == "keeps"]
    assert claimed.keep_daemons is True  # what the worker acts on


def test_cwd_and_env_round_trip_and_default_to_none(store: Store) -> None:
    env = {"A": "1", "MIXED": "x=y \u00e9"}
    enqueue(store, make_job("placed", cwd="/srv/app", env=env), make_job("plain"))
    assert (get(store, "placed").cwd, get(store, "placed").env) == ("/srv/app", env)
    assert (get(store, "plain").cwd, get(store, "plain").env) == (None, None)
    claimed = {j.id: j for j in store.claim_jobs("w1", None, 2, 30)}
    assert (claimed["placed"].cwd, claimed["placed"].env) == ("/srv/app", env)


def test_get_job_of_an_unknown_id_is_none(store: Store) -> None:
    enqueue(store, make_job("known"))
    assert store.get_job("unknown") is None
    assert store.list_attempts("unknown") == []


def test_enqueue_with_a_duplicate_inside_the_batch_inserts_nothing(store: Store) -> None:
    batch = [make_job("first"), make_job("twice"), make_job("other"), make_job("twice")]
    with pytest.raises(DuplicateJob, match="twice"):
        enqueue(store, *batch)
    assert store.list_jobs() == []
    assert store.get_job("first") is None
    # The failed batch left no transaction open: the store still works.
    assert enqueue(store, make_job("first")) == ["first"]


def test_enqueue_with_an_existing_id_inserts_nothing(store: Store) -> None:
    enqueue(store, make_job("taken", command="echo original"))
    batch = [make_job("new-1"), make_job("taken", command="echo other"), make_job("new-2")]
    with pytest.raises(DuplicateJob, match="taken"):
        enqueue(store, *batch)
    assert ids(store.list_jobs()) == ["taken"]
    assert get(store, "taken").command == "echo original"
    assert enqueue(store, make_job("new-1")) == ["new-1"]


def test_enqueue_of_one_job_with_an_existing_id_changes_nothing(store: Store) -> None:
    """One job alone (PostgreSQL enqueues it in one statement, without a transaction)."""
    enqueue(store, make_job("taken", command="echo original"))
    with pytest.raises(DuplicateJob, match="taken"):
        enqueue(store, make_job("taken", command="echo other", queue="elsewhere"))
    assert ids(store.list_jobs()) == ["taken"]
    assert get(store, "taken").command == "echo original"
    assert store.count_jobs().by_state[JobState.PENDING] == 1


def test_enqueue_max_retries_own_else_the_callers_default(store: Store) -> None:
    enqueue(
        store,
        make_job("default"),
        make_job("own", max_retries=2),
        make_job("zero", max_retries=0),
        default=5,
    )
    # The caller reads the configured default; a stored value never overrides its argument.
    store.set_config("max-retries", "7")
    enqueue(store, make_job("later"), make_job("own-after", max_retries=1), default=6)
    got = {job.id: job.max_retries for job in store.list_jobs()}
    assert got == {"default": 5, "own": 2, "zero": 0, "later": 6, "own-after": 1}


def test_enqueue_run_at_and_delay(store: Store) -> None:
    now = store.now()
    enqueue(
        store,
        make_job("at", run_at=now + 100.5),
        make_job("past", run_at=now - 50),
        make_job("later", delay=60),
    )
    after = store.now()
    assert get(store, "at").run_at == pytest.approx(now + 100.5, abs=1e-3)
    assert get(store, "past").run_at == pytest.approx(now - 50, abs=1e-3)
    assert now + 60 - TOL <= get(store, "later").run_at <= after + 60 + TOL


# -- list, count -------------------------------------------------------------------------------


def test_list_jobs_newest_first_with_state_queue_and_limit(store: Store) -> None:
    enqueue(store, make_job("a1", queue="a"), make_job("b1", queue="b"), make_job("a2", queue="a"))
    enqueue(store, make_job("b2", queue="b"))
    enqueue(store, make_job("a3", queue="a"))
    everything = ["a3", "b2", "a2", "b1", "a1"]
    assert ids(store.list_jobs()) == everything
    assert ids(store.list_jobs(queue="a")) == ["a3", "a2", "a1"]
    assert ids(store.list_jobs(limit=2)) == ["a3", "b2"]
    assert ids(store.list_jobs(queue="b", limit=1)) == ["b2"]
    assert store.list_jobs(queue="nope") == []

    assert claim_one(store, queues=["a"]).id == "a1"
    assert ids(store.list_jobs()) == everything  # enqueue order, not last change
    assert ids(store.list_jobs(state=PROCESSING)) == ["a1"]
    assert ids(store.list_jobs(state=PENDING)) == ["a3", "b2", "a2", "b1"]
    assert ids(store.list_jobs(state=PENDING, queue="a")) == ["a3", "a2"]
    assert ids(store.list_jobs(state=PENDING, queue="a", limit=1)) == ["a3"]
    assert store.list_jobs(state=PROCESSING, queue="b") == []
    assert store.list_jobs(state=COMPLETED) == []


def test_count_jobs_of_an_empty_store_has_every_state(store: Store) -> None:
    counts = store.count_jobs()
    assert counts.by_state == dict.fromkeys(JobState, 0)
    assert counts.scheduled == 0


def test_count_jobs_per_state_queue_and_scheduled(store: Store) -> None:
    for state in JobState:
        put_in_state(store, f"one-{state}", state)
    put_in_state(store, "two-completed", COMPLETED)
    now = store.now()
    enqueue(
        store,
        make_job("later", delay=3600),
        make_job("at", run_at=now + 3600),
        make_job("elsewhere", queue="other"),
    )
    counts = store.count_jobs()
    expected = {PENDING: 4, PROCESSING: 1, COMPLETED: 2, FAILED: 1, DEAD: 1, CANCELLED: 1}
    assert counts.by_state == expected
    # The failed job also waits for a future run_at, but only pending ones are "scheduled".
    assert counts.scheduled == 2

    in_default = store.count_jobs(queue="default")
    assert in_default.by_state == {**expected, PENDING: 3}
    assert in_default.scheduled == 2
    in_other = store.count_jobs(queue="other")
    assert in_other.by_state == {**dict.fromkeys(JobState, 0), PENDING: 1}
    assert in_other.scheduled == 0


# -- claim -------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 10])
def test_claim_takes_highest_priority_first_then_oldest(store: Store, limit: int) -> None:
    enqueue(store, make_job("retried"))
    assert (
        store.fail_job(
            as_claimed(store, "retried", "w0", claim_one(store, "w0").last_attempt), BOOM, 0
        )
        == FAILED
    )
    enqueue(store, make_job("low-old"), make_job("high-old", priority=5))
    enqueue(store, make_job("negative", priority=-1))
    enqueue(store, make_job("low-new"), make_job("high-new", priority=5))

    order: list[str] = []
    while batch := store.claim_jobs("w1", None, limit, 60):
        assert len(batch) <= limit
        order += ids(batch)
    assert order == ["high-old", "high-new", "retried", "low-old", "low-new", "negative"]


def test_claim_never_takes_a_job_before_it_is_due(store: Store) -> None:
    now = store.now()
    enqueue(
        store,
        make_job("later", delay=3600, priority=9),
        make_job("at", run_at=now + 3600, priority=9),
        make_job("due"),
        make_job("overdue", run_at=now - 10),
    )
    put_in_state(store, "retry-later", FAILED)  # its retry is an hour away
    assert sorted(ids(store.claim_jobs("w1", None, 10, 60))) == ["due", "overdue"]
    assert store.claim_jobs("w1", None, 10, 60) == []
    assert get(store, "later").state == PENDING
    assert get(store, "retry-later").state == FAILED


def test_claim_only_from_the_given_queues(store: Store) -> None:
    enqueue(
        store,
        make_job("a1", queue="a"),
        make_job("b1", queue="b"),
        make_job("c1", queue="c"),
        make_job("d1"),
    )
    assert ids(store.claim_jobs("w1", ["b"], 10, 60)) == ["b1"]
    assert sorted(ids(store.claim_jobs("w1", ["a", "c"], 10, 60))) == ["a1", "c1"]
    assert store.claim_jobs("w1", ["a", "b", "c"], 10, 60) == []
    assert ids(store.claim_jobs("w1", None, 10, 60)) == ["d1"]


def test_claim_takes_at_most_limit_jobs(store: Store) -> None:
    enqueue(store, *(make_job(f"j{n}") for n in range(5)))
    assert len(store.claim_jobs("w1", None, 2, 60)) == 2
    assert len(store.claim_jobs("w1", None, 2, 60)) == 2
    assert len(store.claim_jobs("w1", None, 10, 60)) == 1
    assert store.claim_jobs("w1", None, 10, 60) == []


def test_claim_makes_the_job_processing_with_a_lease_and_an_attempt(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=2))
    before = store.now()
    job = claim_one(store, "w1", lease=30)
    after = store.now()
    assert job == get(store, "j")  # returned as stored after the claim
    assert (job.state, job.worker_id, job.attempts) == (PROCESSING, "w1", 1)
    assert job.lease_expires_at is not None
    assert before + 30 - TOL <= job.lease_expires_at <= after + 30 + TOL
    assert not job.cancel_requested

    [attempt] = store.list_attempts("j")
    assert (attempt.job_id, attempt.attempt, attempt.worker_id) == ("j", 1, "w1")
    assert before - TOL <= attempt.started_at <= after + TOL
    assert (attempt.finished_at, attempt.exit_code, attempt.error) == (None, None, None)
    assert store.claim_jobs("w2", None, 10, 30) == []  # a processing job is taken


def test_concurrent_claimers_each_get_a_job_exactly_once(store: Store, store_url: str) -> None:
    total, claimers = 300, 4
    all_ids = [f"c{n:03}" for n in range(total)]
    enqueue(store, *(make_job(job_id) for job_id in all_ids))
    barrier = threading.Barrier(claimers)
    claimed: dict[str, list[str]] = {}

    def claim_all(n: int) -> None:
        own = open_store(store_url)  # its own connection, like a worker process
        try:
            barrier.wait(timeout=30)
            got: list[str] = []
            while batch := own.claim_jobs(f"w{n}", None, 1 + n % 3, 60):
                got += ids(batch)
            claimed[f"w{n}"] = got
        finally:
            own.close()

    run_threads(claimers, claim_all)
    every_claim = [job_id for got in claimed.values() for job_id in got]
    assert len(every_claim) == total
    assert sorted(every_claim) == all_ids
    owner = {job_id: worker for worker, got in claimed.items() for job_id in got}
    for job in store.list_jobs():
        assert (job.state, job.worker_id, job.attempts) == (PROCESSING, owner[job.id], 1)
        [attempt] = store.list_attempts(job.id)
        assert attempt.worker_id == owner[job.id]


# -- heartbeat ---------------------------------------------------------------------------------


def test_heartbeat_extends_the_leases_of_its_own_jobs(store: Store) -> None:
    enqueue(store, make_job("mine"), make_job("theirs"))
    claim_one(store, "w1", lease=5)
    theirs = claim_one(store, "w2", lease=5)
    before = store.now()
    renewed = frozenset({"mine"})
    assert store.heartbeat("w1", 600, ["mine"]) == WorkerOrders(renewed=renewed)
    after = store.now()
    mine = get(store, "mine")
    assert mine.lease_expires_at is not None
    assert before + 600 - TOL <= mine.lease_expires_at <= after + 600 + TOL
    assert (mine.state, mine.worker_id, mine.attempts) == (PROCESSING, "w1", 1)
    assert get(store, "theirs") == theirs


def test_heartbeat_renews_only_the_jobs_the_worker_holds(store: Store) -> None:
    enqueue(store, make_job("held"), make_job("forgotten"), make_job("moved-on"))
    assert ids(store.claim_jobs("w1", None, 3, 5)) == ["held", "forgotten", "moved-on"]
    assert (
        store.fail_job(as_claimed(store, "moved-on", "w1", 1), LOST, 0) is not None
    )  # reaped meanwhile
    orders = store.heartbeat("w1", 600, ["held", "moved-on"])
    assert orders.renewed == frozenset({"held"})  # moved-on is not ours any more
    held, forgotten = get(store, "held"), get(store, "forgotten")
    assert held.lease_expires_at is not None and forgotten.lease_expires_at is not None
    assert held.lease_expires_at > forgotten.lease_expires_at + 500  # forgotten expires


def test_reap_job_spares_a_job_whose_lease_was_renewed(store: Store) -> None:
    enqueue(store, make_job("slow"))
    claim_one(store, "w1", lease=60)
    assert store.expired_jobs() == []
    store.advance_clock(61)
    assert ids(store.expired_jobs()) == ["slow"]
    store.heartbeat("w1", 600, ["slow"])  # the worker was only slow
    assert store.reap_job(as_claimed(store, "slow", "w1", 1), LOST, 0) is None
    assert get(store, "slow").state is PROCESSING
    store.heartbeat("w1", 60, ["slow"])
    store.advance_clock(61)
    assert ids(store.expired_jobs()) == ["slow"]
    assert store.reap_job(as_claimed(store, "slow", "w1", 1), LOST, 0) is not None


def test_heartbeat_records_that_the_worker_is_alive(store: Store) -> None:
    store.register_worker(worker_info("w1"))
    [registered] = store.list_workers()
    store.advance_clock(5)
    store.heartbeat("w1", 30)
    [beaten] = store.list_workers()
    assert beaten.heartbeat_at >= registered.heartbeat_at + 5


def test_heartbeat_returns_the_stop_request_and_the_jobs_to_cancel(store: Store) -> None:
    store.register_worker(worker_info("w1"))
    store.register_worker(worker_info("w2"))
    enqueue(store, make_job("run-1"), make_job("run-2"), make_job("elsewhere"))
    assert ids(store.claim_jobs("w1", None, 2, 60)) == ["run-1", "run-2"]
    claim_one(store, "w2")
    assert store.cancel_jobs(["run-2"])["run-2"] == PROCESSING
    assert store.cancel_jobs(["elsewhere"])["elsewhere"] == PROCESSING
    assert store.request_worker_stop(StopMode.GRACEFUL, ["w1"]) == 1

    assert store.heartbeat("w1", 60) == WorkerOrders(
        stop=StopMode.GRACEFUL, cancel=frozenset({"run-2"})
    )
    assert store.heartbeat("w2", 60) == WorkerOrders(stop=None, cancel=frozenset({"elsewhere"}))
    # An unknown worker gets no orders (and no error).
    assert store.heartbeat("ghost", 60) == WorkerOrders()


# -- complete, fail ----------------------------------------------------------------------------


def test_complete_job_records_the_result_in_the_attempt(store: Store) -> None:
    enqueue(store, make_job("j"))
    job = claim_one(store, "w1")
    before = store.now()
    assert store.complete_job("j", "w1", job.last_attempt, OK) is True
    after = store.now()
    done = get(store, "j")
    assert (done.state, done.exit_code, done.last_error, done.attempts) == (COMPLETED, 0, None, 1)
    assert (done.worker_id, done.lease_expires_at) == (None, None)

    [attempt] = store.list_attempts("j")
    assert attempt.finished_at is not None
    assert before - TOL <= attempt.finished_at <= after + TOL  # the store's clock
    assert (attempt.exit_code, attempt.error) == (0, None)
    assert (attempt.stdout, attempt.stderr) == (OK.stdout, OK.stderr)
    assert store.claim_jobs("w2", None, 10, 60) == []
    assert not store.has_unfinished_jobs(None)


def test_complete_jobs_records_several_in_one_call_each_guarded(store: Store) -> None:
    enqueue(store, make_job("a"), make_job("b"), make_job("c"), make_job("d"))
    a, b, c = (claim_one(store, "w1") for _ in range(3))
    claim_one(store, "w2")  # d: another worker's
    other = RunResult(exit_code=0, error=None, stdout=b"b out", stderr=b"")
    recorded = store.complete_jobs(
        "w1",
        [
            ("a", a.last_attempt, OK),
            ("b", b.last_attempt, other),
            ("c", c.last_attempt + 1, OK),  # not its attempt: refused, as complete_job does
            ("d", 1, OK),  # held by w2: refused
        ],
    )
    assert recorded == [True, True, False, False]
    assert [get(store, i).state for i in "abcd"] == [COMPLETED, COMPLETED, PROCESSING, PROCESSING]
    [attempt_b] = store.list_attempts("b")
    assert (attempt_b.exit_code, attempt_b.stdout, attempt_b.finished_at is not None) == (
        0,
        b"b out",
        True,
    )
    [attempt_a] = store.list_attempts("a")  # each result's outputs, none of its neighbour's
    assert (attempt_a.stdout, attempt_a.stderr) == (OK.stdout, OK.stderr)
    assert attempt_b.stderr == b""
    assert store.list_attempts("c")[0].finished_at is None
    assert store.count_jobs().by_state[COMPLETED] == 2
    assert store.complete_jobs("w1", []) == []


def test_fail_job_with_retries_left_waits_for_the_retry(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=2))
    claim_one(store, "w1")
    before = store.now()
    state = store.fail_job(as_claimed(store, "j", "w1", 1), BOOM, 30)
    after = store.now()
    assert state == FAILED
    assert isinstance(state, JobState)
    failed = get(store, "j")
    assert (failed.state, failed.attempts, failed.exit_code) == (FAILED, 1, 3)
    assert failed.last_error == BOOM.error
    assert (failed.worker_id, failed.lease_expires_at) == (None, None)
    assert before + 30 - TOL <= failed.run_at <= after + 30 + TOL

    [attempt] = store.list_attempts("j")
    assert attempt.finished_at is not None
    assert (attempt.exit_code, attempt.error) == (3, BOOM.error)
    assert (attempt.stdout, attempt.stderr) == (BOOM.stdout, BOOM.stderr)
    assert store.claim_jobs("w2", None, 10, 60) == []  # not due for 30 s
    store.advance_clock(31)
    assert ids(store.claim_jobs("w2", None, 10, 60)) == ["j"]  # the retry, due now


@pytest.mark.parametrize(
    ("own", "default", "attempts"), [(0, 3, 1), (2, 3, 3), (None, 1, 2)], ids=str
)
def test_fail_job_makes_the_job_dead_after_max_retries_plus_one_attempts(
    store: Store, own: int | None, default: int, attempts: int
) -> None:
    enqueue(store, make_job("j", max_retries=own), default=default)
    states = []
    for attempt in range(1, attempts + 1):
        job = claim_one(store, f"w{attempt}")
        assert job.attempts == attempt
        states.append(store.fail_job(as_claimed(store, "j", f"w{attempt}", attempt), BOOM, 0))
    assert states == [FAILED] * (attempts - 1) + [DEAD]
    dead = get(store, "j")
    assert (dead.state, dead.attempts, dead.last_error) == (DEAD, attempts, BOOM.error)
    history = store.list_attempts("j")
    assert [(a.attempt, a.worker_id) for a in history] == [
        (n, f"w{n}") for n in range(1, attempts + 1)
    ]
    assert all(a.error == BOOM.error and a.finished_at is not None for a in history)
    assert store.claim_jobs("w9", None, 10, 60) == []


# -- the guard on worker-side writes ----------------------------------------------------------

REFUSED: dict[str, object] = {
    "complete": False,
    "fail": None,
    "cancel_running": False,
    "release": False,
}


def worker_write(store: Store, op: str, job_id: str, worker: str, attempt: int) -> object:
    if op == "complete":
        return store.complete_job(job_id, worker, attempt, OK)
    if op == "fail":
        return store.fail_job(as_claimed(store, job_id, worker, attempt), BOOM, 0)
    if op == "cancel_running":
        return store.cancel_running_job(job_id, worker, attempt, KILLED)
    return store.release_job(job_id, worker, attempt)


@pytest.mark.parametrize("op", list(REFUSED))
def test_worker_writes_need_the_owner_and_its_attempt(store: Store, op: str) -> None:
    enqueue(store, make_job("j", max_retries=3))
    claim_one(store, "w1")
    before = snapshot(store, "j")
    for worker, attempt in (("w2", 1), ("w1", 2), ("w1", 0)):
        assert worker_write(store, op, "j", worker, attempt) is REFUSED[op], (worker, attempt)
        assert snapshot(store, "j") == before
    assert worker_write(store, op, "ghost", "w1", 1) is REFUSED[op]

    assert worker_write(store, op, "j", "w1", 1) is not REFUSED[op]
    assert get(store, "j").state != PROCESSING
    after = snapshot(store, "j")
    # The attempt is over: writing it again is refused too.
    assert worker_write(store, op, "j", "w1", 1) is REFUSED[op]
    assert snapshot(store, "j") == after


def test_a_late_result_after_lease_expiry_and_reclaim_changes_nothing(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=3))
    claim_one(store, "w-old", lease=60)
    store.advance_clock(61)
    assert ids(store.expired_jobs()) == ["j"]
    assert store.fail_job(as_claimed(store, "j", "w-old", 1), LOST, 0) == FAILED  # the reaper
    assert (
        store.fail_job(as_claimed(store, "j", "w-old", 1), LOST, 0) is None
    )  # a second reaper is too late
    assert claim_one(store, "w-new").attempts == 2

    before = snapshot(store, "j")
    assert store.complete_job("j", "w-old", 1, OK) is False
    assert store.fail_job(as_claimed(store, "j", "w-old", 1), BOOM, 0) is None
    assert store.cancel_running_job("j", "w-old", 1, KILLED) is False
    assert store.release_job("j", "w-old", 1) is False
    assert snapshot(store, "j") == before

    assert store.complete_job("j", "w-new", 2, OK) is True
    done = get(store, "j")
    assert (done.state, done.attempts) == (COMPLETED, 2)
    first, second = store.list_attempts("j")
    assert (first.attempt, first.worker_id, first.exit_code, first.error) == (
        1,
        "w-old",
        None,
        LOST.error,
    )
    assert (second.attempt, second.worker_id, second.exit_code, second.error) == (
        2,
        "w-new",
        0,
        None,
    )


# -- expired leases, release -------------------------------------------------------------------


def test_expired_jobs_finds_lapsed_leases_and_fail_job_reaps_them(store: Store) -> None:
    enqueue(
        store,
        make_job("short", max_retries=0),
        make_job("long"),
        make_job("short-2"),
        make_job("x"),
    )
    claim_one(store, "w-dead", lease=60)
    claim_one(store, "w-live", lease=600)
    claim_one(store, "w-dead-2", lease=60)
    assert store.expired_jobs() == []
    store.advance_clock(61)
    assert sorted(ids(store.expired_jobs())) == ["short", "short-2"]
    owners = {job.id: (job.state, job.worker_id) for job in store.expired_jobs()}
    assert owners == {"short": (PROCESSING, "w-dead"), "short-2": (PROCESSING, "w-dead-2")}
    assert len(store.expired_jobs(limit=1)) == 1

    assert (
        store.fail_job(as_claimed(store, "short", "w-dead", 1), LOST, 0) == DEAD
    )  # no retries left
    assert ids(store.expired_jobs()) == ["short-2"]
    reaped = get(store, "short")
    assert (reaped.state, reaped.last_error, reaped.worker_id) == (DEAD, LOST.error, None)

    # A worker that was only slow renews its lease with a heartbeat: no longer expired.
    store.heartbeat("w-dead-2", 600, ["short-2"])
    assert store.expired_jobs() == []


def test_release_job_puts_it_back_without_counting_the_attempt(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=1))
    claim_one(store, "w1")
    assert store.release_job("j", "w1", 1) is True
    released = get(store, "j")
    assert (released.state, released.attempts) == (PENDING, 0)
    assert (released.worker_id, released.lease_expires_at) == (None, None)
    assert released.run_at <= store.now() + TOL  # due again at once
    [record] = store.list_attempts("j")
    assert record.error == "released"
    assert record.finished_at is not None

    # With max_retries=1 the job still gets its two real attempts, numbered on from the
    # released one: attempt numbers never repeat.
    second = claim_one(store, "w2")
    assert (second.attempts, second.last_attempt) == (1, 2)
    assert (
        store.fail_job(as_claimed(store, "j", "w2", 1), BOOM, 0) is None
    )  # the released attempt's number
    assert store.fail_job(as_claimed(store, "j", "w2", 2), BOOM, 0) == FAILED
    third = claim_one(store, "w3")
    assert (third.attempts, third.last_attempt) == (2, 3)
    assert store.fail_job(as_claimed(store, "j", "w3", 3), BOOM, 0) == DEAD
    numbers = [(a.attempt, a.worker_id, a.error) for a in store.list_attempts("j")]
    assert numbers == [(1, "w1", "released"), (2, "w2", BOOM.error), (3, "w3", BOOM.error)]


# -- attempt numbers never repeat --------------------------------------------------------------


def test_requeueing_a_completed_job_numbers_its_next_attempt_on(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=0))
    first = claim_one(store, "w1")
    assert (first.attempts, first.last_attempt) == (1, 1)
    assert store.complete_job("j", "w1", 1, OK)

    requeued = store.update_job("j", JobChanges(requeue=True))
    assert (requeued.attempts, requeued.last_attempt) == (0, 1)  # budget reset, number kept
    second = claim_one(store, "w2")
    assert (second.attempts, second.last_attempt) == (1, 2)
    assert store.complete_job("j", "w2", 1, OK) is False  # the first run's number is spent
    assert store.complete_job("j", "w2", 2, OK) is True

    history = [(a.attempt, a.worker_id, a.exit_code) for a in store.list_attempts("j")]
    assert history == [(1, "w1", 0), (2, "w2", 0)]  # both runs kept, never renumbered
    assert get(store, "j").last_attempt == 2


def test_a_dlq_retry_resets_the_budget_but_keeps_counting_attempts(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=1))
    for number in (1, 2):
        claimed = claim_one(store, "w1")
        assert (claimed.attempts, claimed.last_attempt) == (number, number)
        store.fail_job(as_claimed(store, "j", "w1", number), BOOM, 0)
    assert get(store, "j").state == DEAD

    assert store.retry_dead_jobs(["j"], 3) == ["j"]
    retried = get(store, "j")
    assert (retried.state, retried.attempts, retried.last_attempt) == (PENDING, 0, 2)
    for budget, number in ((1, 3), (2, 4)):  # max_retries=1 again: two more attempts
        claimed = claim_one(store, "w2")
        assert (claimed.attempts, claimed.last_attempt) == (budget, number)
        store.fail_job(as_claimed(store, "j", "w2", number), BOOM, 0)
    assert get(store, "j").state == DEAD
    assert [a.attempt for a in store.list_attempts("j")] == [1, 2, 3, 4]


def test_attempt_numbers_of_a_job_never_repeat(store: Store) -> None:
    """Every way back to pending, one after another: the numbers only count up."""
    enqueue(store, make_job("j", max_retries=0))
    seen = []

    def run_once(finish: str) -> None:
        claimed = claim_one(store, "w")
        seen.append(claimed.last_attempt)
        if finish == "release":
            assert store.release_job("j", "w", claimed.last_attempt)
        elif finish == "complete":
            assert store.complete_job("j", "w", claimed.last_attempt, OK)
        else:
            assert (
                store.fail_job(as_claimed(store, "j", "w", claimed.last_attempt), BOOM, 0) == DEAD
            )

    run_once("release")
    run_once("complete")
    store.update_job("j", JobChanges(requeue=True))
    run_once("fail")
    store.retry_dead_jobs(None, 3)
    run_once("complete")
    assert seen == [1, 2, 3, 4]
    assert [a.attempt for a in store.list_attempts("j")] == [1, 2, 3, 4]


# -- cancel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [PENDING, FAILED])
def test_cancel_a_waiting_job_ends_it_at_once(store: Store, state: JobState) -> None:
    put_in_state(store, "j", state)
    result = store.cancel_jobs(["j"])["j"]
    assert result == CANCELLED
    assert isinstance(result, JobState)
    assert get(store, "j").state == CANCELLED
    assert store.claim_jobs("w1", None, 10, 60) == []
    assert not store.has_unfinished_jobs(None)


def test_cancel_a_running_job_is_left_to_its_worker(store: Store) -> None:
    enqueue(store, make_job("j", max_retries=3))
    claim_one(store, "w1")
    assert store.cancel_jobs(["j"])["j"] == PROCESSING
    marked = get(store, "j")
    assert (marked.state, marked.worker_id, marked.attempts) == (PROCESSING, "w1", 1)
    assert marked.cancel_requested
    assert store.cancel_jobs(["j"])["j"] == PROCESSING  # asking twice is harmless
    assert store.heartbeat("w1", 60).cancel == frozenset({"j"})

    assert store.cancel_running_job("j", "w1", 1, KILLED) is True
    done = get(store, "j")
    assert (done.state, done.worker_id, done.lease_expires_at) == (CANCELLED, None, None)
    [attempt] = store.list_attempts("j")
    assert (attempt.error, attempt.stdout) == (KILLED.error, KILLED.stdout)
    assert attempt.finished_at is not None
    assert store.heartbeat("w1", 60).cancel == frozenset()
    assert store.claim_jobs("w2", None, 10, 60) == []  # cancelled, not retried


@pytest.mark.parametrize("end", ["fail", "reap", "release"])
def test_a_cancel_asked_while_it_ran_wins_over_fail_reap_and_release(
    store: Store, end: str
) -> None:
    """The worker's copy of the job says no cancel was asked; the store's row says one
    was: the decision made on the copy must not apply, the one made on the row must."""
    enqueue(store, make_job("j", max_retries=3))
    claimed = claim_one(store, "w1", lease=60)
    assert store.cancel_jobs(["j"])["j"] == PROCESSING
    if end == "release":
        assert store.release_job("j", "w1", claimed.last_attempt) is True
    else:
        if end == "reap":
            store.advance_clock(61)
        finish = store.reap_job if end == "reap" else store.fail_job
        assert finish(claimed, BOOM, 0) == CANCELLED
    done = get(store, "j")
    assert (done.state, done.cancel_requested, done.worker_id) == (CANCELLED, False, None)
    [attempt] = store.list_attempts("j")
    assert attempt.finished_at is not None
    assert store.claim_jobs("w2", None, 10, 60) == []


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_cancel_an_ended_job_is_refused(store: Store, state: JobState) -> None:
    put_in_state(store, "ended-job", state)
    before = snapshot(store, "ended-job")
    with pytest.raises(InvalidStateChange, match="ended-job"):
        store.cancel_jobs(["ended-job"])["ended-job"]
    assert snapshot(store, "ended-job") == before


def test_cancel_an_unknown_job(store: Store) -> None:
    with pytest.raises(JobNotFound, match="ghost"):
        store.cancel_jobs(["ghost"])["ghost"]


# -- dead letter queue -------------------------------------------------------------------------


def test_retry_dead_jobs_by_id(store: Store) -> None:
    put_in_state(store, "dead-a", DEAD)
    put_in_state(store, "dead-b", DEAD)
    put_in_state(store, "done", COMPLETED)
    history = store.list_attempts("dead-a")
    store.update_job("dead-a", JobChanges(run_at=store.now() + 3600))  # "due now" must win over it
    before = store.now()
    assert store.retry_dead_jobs(["dead-a"], DEFAULT_RETRIES) == ["dead-a"]
    after = store.now()
    again = get(store, "dead-a")
    assert (again.state, again.attempts, again.worker_id) == (PENDING, 0, None)
    assert before - TOL <= again.run_at <= after + TOL
    assert get(store, "dead-b").state == DEAD
    assert get(store, "done").state == COMPLETED
    assert store.list_attempts("dead-a") == history

    assert claim_one(store, "w2").id == "dead-a"
    # The history is kept and the numbering goes on (the retry budget alone is reset).
    assert [(a.attempt, a.worker_id) for a in store.list_attempts("dead-a")] == [
        (1, HELPER),
        (2, "w2"),
    ]


def test_retry_all_dead_jobs(store: Store) -> None:
    put_in_state(store, "dead-1", DEAD)
    put_in_state(store, "dead-2", DEAD)
    put_in_state(store, "failing", FAILED)
    put_in_state(store, "done", COMPLETED)
    assert sorted(store.retry_dead_jobs(None, DEFAULT_RETRIES)) == ["dead-1", "dead-2"]
    states = {job.id: (job.state, job.attempts) for job in store.list_jobs()}
    assert states == {
        "dead-1": (PENDING, 0),
        "dead-2": (PENDING, 0),
        "failing": (FAILED, 1),
        "done": (COMPLETED, 1),
    }
    assert store.retry_dead_jobs(None, DEFAULT_RETRIES) == []


def kill(store: Store, job_id: str) -> None:
    """Fail a due job until it is dead (it must be the only due job)."""
    while (job := get(store, job_id)).state != DEAD:
        claimed = claim_one(store, "killer")
        assert claimed.id == job_id
        store.fail_job(as_claimed(store, job_id, "killer", claimed.last_attempt), BOOM, 0)
    assert job.state == DEAD


def test_retry_dead_jobs_takes_the_new_default_unless_the_job_set_its_own(store: Store) -> None:
    enqueue(store, make_job("inherits"), make_job("own", max_retries=0), default=0)
    kill(store, "inherits")
    kill(store, "own")
    store.set_config("max-retries", "4")  # the caller's argument decides, not this
    assert sorted(store.retry_dead_jobs(None, 6)) == ["inherits", "own"]
    assert get(store, "inherits").max_retries == 6
    assert get(store, "own").max_retries == 0


def test_max_retries_set_by_update_survives_a_dlq_retry(store: Store) -> None:
    enqueue(store, make_job("j"), default=0)
    kill(store, "j")
    assert store.update_job("j", JobChanges(max_retries=9)).max_retries == 9
    store.retry_dead_jobs(["j"], 4)
    assert get(store, "j").max_retries == 9


@pytest.mark.parametrize(("bad", "error"), [("alive", InvalidStateChange), ("ghost", JobNotFound)])
def test_retry_dead_jobs_moves_none_when_one_id_is_wrong(
    store: Store, bad: str, error: type[Exception]
) -> None:
    put_in_state(store, "dead-1", DEAD)
    put_in_state(store, "dead-2", DEAD)
    put_in_state(store, "alive", PENDING)
    with pytest.raises(error, match=bad):
        store.retry_dead_jobs(["dead-1", bad, "dead-2"], DEFAULT_RETRIES)
    states = {job.id: (job.state, job.attempts) for job in store.list_jobs()}
    assert states == {"dead-1": (DEAD, 1), "dead-2": (DEAD, 1), "alive": (PENDING, 0)}


# -- purge -------------------------------------------------------------------------------------


def test_purge_jobs_in_the_given_states_with_their_attempts(store: Store) -> None:
    for job_id, state in [
        ("done", COMPLETED),
        ("dead", DEAD),
        ("cancelled", CANCELLED),
        ("waiting", PENDING),
        ("failing", FAILED),
        ("running", PROCESSING),
    ]:
        put_in_state(store, job_id, state)
    assert store.purge_jobs([COMPLETED]) == 1
    assert store.get_job("done") is None
    assert store.list_attempts("done") == []
    assert store.purge_jobs([DEAD, CANCELLED]) == 2
    assert store.list_attempts("dead") == []
    assert sorted(ids(store.list_jobs())) == ["failing", "running", "waiting"]
    assert store.purge_jobs(sorted(FINAL_STATES)) == 0
    assert len(store.list_attempts("failing")) == 1
    # The id is free again.
    assert enqueue(store, make_job("done")) == ["done"]


def test_purge_jobs_older_than(store: Store) -> None:
    old = put_in_state(store, "old", COMPLETED)
    assert store.purge_jobs([COMPLETED], older_than=3600) == 0
    assert store.get_job("old") is not None
    store.advance_clock(3000)
    assert store.purge_jobs([COMPLETED], older_than=3600) == 0
    store.advance_clock(601)
    assert store.now() - old.updated_at > 3600
    assert store.purge_jobs([COMPLETED], older_than=3600) == 1
    assert store.get_job("old") is None


# -- update ------------------------------------------------------------------------------------


def test_update_job_changes_its_fields(store: Store) -> None:
    enqueue(store, make_job("j", command="echo old"))
    before = get(store, "j")
    run_at = store.now() + 500
    changes = JobChanges(
        command="echo new", queue="other", priority=7, max_retries=9, timeout=12.5, run_at=run_at
    )
    updated = store.update_job("j", changes)
    assert updated == get(store, "j")
    assert (updated.command, updated.queue, updated.priority) == ("echo new", "other", 7)
    assert (updated.max_retries, updated.timeout) == (9, 12.5)
    assert updated.run_at == pytest.approx(run_at, abs=1e-3)
    assert (updated.state, updated.attempts, updated.created_at) == (PENDING, 0, before.created_at)
    assert updated.updated_at >= before.updated_at
    assert store.claim_jobs("w1", ["other"], 10, 60) == []  # not due before run_at


@pytest.mark.parametrize("state", [DEAD, CANCELLED, COMPLETED])
def test_update_state_pending_requeues_an_ended_job_with_attempts_reset(
    store: Store, state: JobState
) -> None:
    put_in_state(store, "j", state)
    updated = store.update_job("j", JobChanges(requeue=True))
    assert (updated.state, updated.attempts, updated.worker_id) == (PENDING, 0, None)
    assert updated.run_at <= store.now() + TOL
    assert not updated.cancel_requested
    again = claim_one(store, "w2")
    assert (again.id, again.attempts) == ("j", 1)


def test_update_state_pending_keeps_the_attempts_of_a_failed_job(store: Store) -> None:
    put_in_state(store, "j", FAILED)  # its retry is an hour away
    updated = store.update_job("j", JobChanges(requeue=True))
    assert (updated.state, updated.attempts) == (PENDING, 1)
    assert updated.run_at <= store.now() + TOL
    assert claim_one(store, "w2").attempts == 2


def test_update_refuses_a_running_job(store: Store) -> None:
    put_in_state(store, "j", PROCESSING)
    before = snapshot(store, "j")
    with pytest.raises(InvalidStateChange):
        store.update_job("j", JobChanges(priority=5))
    with pytest.raises(InvalidStateChange):
        store.update_job("j", JobChanges(requeue=True))
    assert snapshot(store, "j") == before


def test_update_clears_a_timeout_and_leaves_unset_fields_alone(store: Store) -> None:
    enqueue(store, make_job("j", command="echo kept", timeout=5.0, priority=2))
    updated = store.update_job("j", JobChanges(timeout=None))
    assert (updated.timeout, updated.command, updated.priority) == (None, "echo kept", 2)


def test_update_an_unknown_job(store: Store) -> None:
    with pytest.raises(JobNotFound, match="ghost"):
        store.update_job("ghost", JobChanges(priority=1))


# -- config ------------------------------------------------------------------------------------


def test_config_set_get_and_reset(store: Store, open_more: Callable[[], Store]) -> None:
    assert store.get_config() == {}
    store.set_config("max-retries", "5")
    store.set_config("backoff-base", "3")
    store.set_config("max-retries", "6")
    assert store.get_config() == {"max-retries": "6", "backoff-base": "3"}
    assert open_more().get_config() == {"max-retries": "6", "backoff-base": "3"}

    store.reset_config("max-retries")
    assert store.get_config() == {"backoff-base": "3"}
    store.reset_config("max-retries")  # forgetting an unset key is harmless
    store.set_config("lease-seconds", "10")
    store.reset_config()
    assert store.get_config() == {}


# -- workers -----------------------------------------------------------------------------------


def test_register_and_list_workers_oldest_first(store: Store) -> None:
    before = store.now()
    store.register_worker(worker_info("w-b", queues=("a", "b"), slots=3, pid=111))
    store.register_worker(worker_info("w-a", pid=222))
    after = store.now()
    older, newer = store.list_workers()
    assert (older.id, newer.id) == ("w-b", "w-a")
    assert (older.host, older.pid, older.queues, older.slots) == ("host-1", 111, ("a", "b"), 3)
    assert (older.stop_requested, older.running) == (None, ())
    assert before - TOL <= older.heartbeat_at <= after + TOL
    assert (newer.pid, newer.queues) == (222, ())


def test_list_workers_shows_the_jobs_each_runs(store: Store) -> None:
    store.register_worker(worker_info("w1"))
    store.register_worker(worker_info("w2"))
    enqueue(store, make_job("r1"), make_job("r2"), make_job("r3"))
    store.claim_jobs("w1", None, 2, 60)
    claim_one(store, "w2")
    running = {w.id: sorted(w.running) for w in store.list_workers()}
    assert running == {"w1": ["r1", "r2"], "w2": ["r3"]}
    assert store.complete_job("r1", "w1", 1, OK)
    running = {w.id: sorted(w.running) for w in store.list_workers()}
    assert running == {"w1": ["r2"], "w2": ["r3"]}


def test_register_again_replaces_the_worker(store: Store) -> None:
    store.register_worker(worker_info("w1", queues=("a",), slots=1, pid=100))
    store.request_worker_stop(StopMode.NOW, ["w1"])
    store.register_worker(worker_info("w1", queues=("b", "c"), slots=4, pid=200))
    [worker] = store.list_workers()
    assert worker.stop_requested is None
    assert (worker.pid, worker.queues, worker.slots) == (200, ("b", "c"), 4)


def test_alive_within_and_prune_workers_go_by_the_last_heartbeat(store: Store) -> None:
    store.register_worker(worker_info("stale"))
    store.register_worker(worker_info("fresh"))
    assert [w.id for w in store.list_workers(alive_within=3600)] == ["stale", "fresh"]
    stale_at = store.list_workers()[0].heartbeat_at
    store.advance_clock(100)
    assert store.now() - stale_at >= 100
    store.heartbeat("fresh", 30)
    assert [w.id for w in store.list_workers(alive_within=50)] == ["fresh"]
    assert [w.id for w in store.list_workers()] == ["stale", "fresh"]
    assert store.prune_workers(dead_for=3600) == 0
    assert store.prune_workers(dead_for=50) == 1
    assert [w.id for w in store.list_workers()] == ["fresh"]


def test_request_worker_stop_graceful_never_downgrades_now(store: Store) -> None:
    for worker_id in ("w1", "w2", "w3"):
        store.register_worker(worker_info(worker_id))
    assert store.request_worker_stop(StopMode.GRACEFUL, ["w1"]) == 1
    assert store.heartbeat("w1", 30).stop == "graceful"
    assert store.heartbeat("w2", 30).stop is None
    assert store.request_worker_stop(StopMode.NOW, ["w2", "ghost"]) == 1
    assert store.heartbeat("w2", 30).stop == "now"

    assert store.request_worker_stop(StopMode.GRACEFUL) == 3
    stops = {w.id: w.stop_requested for w in store.list_workers()}
    assert stops == {"w1": "graceful", "w2": "now", "w3": "graceful"}
    assert store.request_worker_stop(StopMode.NOW) == 3
    assert {w.stop_requested for w in store.list_workers()} == {"now"}
    assert store.heartbeat("w1", 30).stop == "now"


def test_unregister_worker(store: Store) -> None:
    store.register_worker(worker_info("w1"))
    store.register_worker(worker_info("w2"))
    store.unregister_worker("w1")
    assert [w.id for w in store.list_workers()] == ["w2"]
    store.unregister_worker("ghost")  # harmless
    assert store.heartbeat("w1", 30) == WorkerOrders()
    assert [w.id for w in store.list_workers()] == ["w2"]


# -- has_unfinished_jobs -----------------------------------------------------------------------


def test_has_unfinished_jobs(store: Store) -> None:
    assert not store.has_unfinished_jobs(None)
    enqueue(store, make_job("later", delay=3600, queue="a"))
    assert not store.has_unfinished_jobs(None)  # scheduled for later does not count
    for state in sorted(FINAL_STATES):
        put_in_state(store, f"ended-{state}", state, queue="a")
    assert not store.has_unfinished_jobs(None)

    put_in_state(store, "retrying", FAILED, queue="b")  # its retry is an hour away
    assert store.has_unfinished_jobs(None)
    assert store.has_unfinished_jobs(["b"])
    assert not store.has_unfinished_jobs(["a"])
    store.cancel_jobs(["retrying"])["retrying"]
    assert not store.has_unfinished_jobs(None)

    running = put_in_state(store, "running", PROCESSING, queue="c")
    assert store.has_unfinished_jobs(["c"])
    assert not store.has_unfinished_jobs(["a", "b"])
    assert store.complete_job("running", HELPER, running.last_attempt, OK)
    assert not store.has_unfinished_jobs(None)

    enqueue(store, make_job("due", queue="d"))
    assert store.has_unfinished_jobs(["a", "d"])
    assert store.has_unfinished_jobs(None)
    assert not store.has_unfinished_jobs(["a", "b", "c"])


# -- next_due_in -------------------------------------------------------------------------------


def test_next_due_in(store: Store) -> None:
    def ahead(queues: list[str] | None) -> float | None:
        return store.next_due_in(queues)

    assert ahead(None) is None
    enqueue(store, make_job("due", queue="a"))
    assert ahead(None) is None  # a job due now is the claim's, not a time to wait for
    enqueue(store, make_job("later", delay=600, queue="a"))
    put_in_state(store, "retrying", FAILED, queue="b")  # its retry is an hour away
    enqueue(store, make_job("soon", delay=60, queue="c"))
    put_in_state(store, "running", PROCESSING, queue="d")

    def near(value: float | None, expected: float) -> bool:
        return value is not None and expected - 5 < value <= expected

    assert near(ahead(None), 60)
    assert near(ahead(["a", "b"]), 600)
    assert near(ahead(["b"]), 3600)  # a failed job's retry counts
    assert ahead(["d"]) is None and ahead(["nowhere"]) is None and ahead([]) is None

    store.advance_clock(61)  # "soon" is due: the next is "later"
    assert near(ahead(None), 539)
    assert ahead(["c"]) is None
    store.cancel_jobs(["later"])
    assert near(ahead(None), 3539)


# -- change waiter -----------------------------------------------------------------------------


def test_change_waiter_wakes_soon_after_a_commit_from_another_connection(
    store: Store, open_more: Callable[[], Store]
) -> None:
    producer = open_more()
    waiter = store.change_waiter()
    go = threading.Event()
    committed_at: list[float] = []

    def produce() -> None:
        go.wait(10)
        enqueue(producer, make_job("wake"))
        committed_at.append(time.monotonic())

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        go.set()
        # Always at least one wait, whether the commit lands before it starts (reported
        # at once) or during it; "may have changed": early wake-ups are allowed.
        while True:
            assert waiter.wait(5.0) is True, "no wake-up within 5 s of a commit"
            woke_at = time.monotonic()
            if store.get_job("wake") is not None:
                break
            assert woke_at < deadline, "woken again and again, but no job"
    finally:
        thread.join(10)
        waiter.close()
    assert committed_at, "the producer never committed"
    # "As soon as": a wake-up that comes only when the wait times out is a lost one.
    assert woke_at - committed_at[0] < 2.0, "the wake-up came seconds after the commit"


def test_change_waiter_reports_a_commit_made_before_wait_is_called(
    store: Store, open_more: Callable[[], Store]
) -> None:
    waiter = store.change_waiter()
    try:
        enqueue(open_more(), make_job("early"))  # between a worker's claim and its wait
        assert waiter.wait(5.0) is True
    finally:
        waiter.close()


def test_change_waiter_times_out_when_nothing_changes(store: Store) -> None:
    enqueue(store, make_job("before-the-waiter"))
    waiter = store.change_waiter()
    try:
        started = time.monotonic()
        assert waiter.wait(0.2) is False
        assert time.monotonic() - started >= 0.19
    finally:
        waiter.close()


# -- listing pages (query_jobs) ----------------------------------------------------------------


class QueryFields(TypedDict, total=False):
    """JobQuery's fields the listing tests set (the others keep JobQuery's defaults)."""

    states: tuple[ListState, ...]
    queue: str
    id_prefix: str
    search: str
    order: str


def page_ids(
    store: Store, after: int | None = None, limit: int | None = None, **query: Unpack[QueryFields]
) -> list[str]:
    return ids(store.query_jobs(JobQuery(**query), after, limit))


def test_query_jobs_orders_by_seq_and_continues_after_a_seq(store: Store) -> None:
    enqueue(store, *(make_job(f"q{n:02d}") for n in range(12)))
    newest = store.query_jobs(JobQuery(), None, None)
    assert ids(newest) == [f"q{n:02d}" for n in reversed(range(12))]
    assert [job.seq for job in newest] == sorted((job.seq for job in newest), reverse=True)
    assert len({job.seq for job in newest}) == 12
    assert page_ids(store, limit=3) == ["q11", "q10", "q09"]
    assert page_ids(store, after=newest[2].seq, limit=3) == ["q08", "q07", "q06"]
    assert page_ids(store, order="oldest", limit=3) == ["q00", "q01", "q02"]
    assert page_ids(store, order="oldest", after=newest[2].seq) == ["q10", "q11"]
    assert page_ids(store, after=newest[-1].seq) == []


def test_query_jobs_page_after_a_cursor_is_stable_under_inserts_and_deletes(
    store: Store,
) -> None:
    enqueue(store, *(make_job(f"s{n}") for n in range(6)))
    first = store.query_jobs(JobQuery(), None, 3)
    assert ids(first) == ["s5", "s4", "s3"]
    enqueue(store, make_job("new1"), make_job("new2"))  # newer: before the cursor
    put_in_state(store, "gone", CANCELLED)
    store.delete_jobs(["gone"])
    assert page_ids(store, after=first[-1].seq, limit=3) == ["s2", "s1", "s0"]


def test_query_jobs_several_states_and_scheduled(store: Store) -> None:
    for state in (PENDING, COMPLETED, FAILED, DEAD, CANCELLED):
        put_in_state(store, f"st-{state}", state)
    enqueue(store, make_job("later", delay=3600), make_job("due-now"))
    assert page_ids(store, states=(DEAD,)) == ["st-dead"]
    assert page_ids(store, states=(FAILED, DEAD)) == ["st-dead", "st-failed"]
    assert page_ids(store, states=(DEAD, FAILED), order="oldest") == ["st-failed", "st-dead"]
    assert page_ids(store, states=(SCHEDULED,)) == ["later"]  # not due-now, not failed
    assert page_ids(store, states=(SCHEDULED, CANCELLED)) == ["later", "st-cancelled"]
    assert page_ids(store, states=(PENDING,)) == ["due-now", "later", "st-pending"]
    both = page_ids(store, states=(COMPLETED, PENDING, CANCELLED), limit=4)
    assert both == ["due-now", "later", "st-cancelled", "st-completed"]
    dead = get(store, "st-dead")
    assert page_ids(store, states=(FAILED, DEAD), after=dead.seq) == ["st-failed"]
    enqueue(store, make_job("later-2", delay=3600, command="nightly backup"))
    later = get(store, "later")
    assert page_ids(store, states=(SCHEDULED,), after=later.seq) == []
    assert page_ids(store, states=(SCHEDULED,), after=later.seq, order="oldest") == ["later-2"]
    assert page_ids(store, states=(SCHEDULED, DEAD), order="oldest", limit=2) == [
        "st-dead",
        "later",
    ]
    assert page_ids(store, states=(SCHEDULED,), search="backup") == ["later-2"]
    assert page_ids(store, states=(SCHEDULED,), queue="elsewhere") == []


def test_query_jobs_filters_by_queue_id_prefix_and_command_substring(store: Store) -> None:
    enqueue(
        store,
        make_job("build.1", "make all", queue="ci"),
        make_job("build.10", "make test", queue="ci"),
        make_job("build.2", "echo 100%_done", queue="web"),
        make_job("buildx", "make 100% sure"),
        make_job("Build.3", "MAKE all"),
        make_job("b", "echo b"),
    )
    assert page_ids(store, queue="ci") == ["build.10", "build.1"]
    assert page_ids(store, id_prefix="build.") == ["build.2", "build.10", "build.1"]
    assert page_ids(store, id_prefix="build.1") == ["build.10", "build.1"]
    assert page_ids(store, id_prefix="build.1", order="oldest") == ["build.1", "build.10"]
    assert page_ids(store, id_prefix="b") == ["b", "buildx", "build.2", "build.10", "build.1"]
    assert page_ids(store, id_prefix="build.10") == ["build.10"]  # the whole id
    assert page_ids(store, id_prefix="c") == []
    assert page_ids(store, id_prefix="build", limit=2) == ["buildx", "build.2"]
    # A plain substring: case-sensitive, and % or _ are not wildcards.
    assert page_ids(store, search="make") == ["buildx", "build.10", "build.1"]
    assert page_ids(store, search="100%") == ["buildx", "build.2"]
    assert page_ids(store, search="%_") == ["build.2"]
    assert page_ids(store, search="make", queue="ci", limit=1) == ["build.10"]
    put_in_state(store, "build.9", DEAD, queue="ci")
    assert page_ids(store, id_prefix="build.", states=(DEAD, COMPLETED)) == ["build.9"]
    assert page_ids(store, id_prefix="build.", states=(PENDING,), search="echo") == ["build.2"]
    first = get(store, "build.10")
    assert page_ids(store, id_prefix="build.", after=first.seq) == ["build.1"]
    assert page_ids(store, id_prefix="build.", after=first.seq, order="oldest") == [
        "build.2",
        "build.9",
    ]


def test_job_seq_is_the_enqueue_order(store: Store) -> None:
    enqueue(store, make_job("first"), make_job("second"))
    enqueue(store, make_job("third"))
    seqs = [get(store, job_id).seq for job_id in ("first", "second", "third")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[0] > 0


# -- requeue and delete -------------------------------------------------------------------------


@pytest.mark.parametrize("state", [COMPLETED, FAILED, DEAD, CANCELLED])
def test_requeue_jobs_runs_a_finished_job_again_from_scratch(store: Store, state: JobState) -> None:
    put_in_state(store, "again", state)
    assert store.requeue_jobs(["again", "again"], DEFAULT_RETRIES) == ["again"]
    job = get(store, "again")
    assert (job.state, job.attempts, job.last_error, job.exit_code) == (PENDING, 0, None, None)
    assert job.worker_id is None and job.run_at <= store.now() + TOL
    assert claim_one(store).id == "again"


@pytest.mark.parametrize("blocker", [PENDING, PROCESSING, "missing"])
def test_requeue_jobs_is_all_or_nothing(store: Store, blocker: JobState | str) -> None:
    put_in_state(store, "d1", DEAD)
    put_in_state(store, "c1", COMPLETED)
    if blocker != "missing":
        put_in_state(store, "blocker", JobState(blocker))
    before = [snapshot(store, job_id) for job_id in ("d1", "c1")]
    expected = JobNotFound if blocker == "missing" else InvalidStateChange
    with pytest.raises(expected, match="blocker"):
        store.requeue_jobs(["d1", "blocker", "c1"], DEFAULT_RETRIES)
    assert [snapshot(store, job_id) for job_id in ("d1", "c1")] == before


def test_delete_jobs_removes_finished_jobs_and_their_attempts(store: Store) -> None:
    for state in (COMPLETED, DEAD, CANCELLED):
        put_in_state(store, f"del-{state}", state)
    put_in_state(store, "kept", COMPLETED)
    assert store.list_attempts("del-completed") != []
    assert store.delete_jobs(["del-completed", "del-dead", "del-cancelled", "del-dead"]) == 3
    assert ids(store.list_jobs()) == ["kept"]
    assert store.list_attempts("del-completed") == []


@pytest.mark.parametrize("blocker", [PENDING, PROCESSING, FAILED, "missing"])
def test_delete_jobs_refuses_unfinished_or_missing_jobs_and_deletes_none(
    store: Store, blocker: JobState | str
) -> None:
    put_in_state(store, "done", COMPLETED)
    if blocker != "missing":
        put_in_state(store, "blocker", JobState(blocker))
    expected = JobNotFound if blocker == "missing" else InvalidStateChange
    with pytest.raises(expected, match="blocker"):
        store.delete_jobs(["done", "blocker"])
    assert get(store, "done").state is COMPLETED


# -- the one guarded write every operator goes through --------------------------------------


def test_changes_decided_on_a_stale_read_write_nothing(store: Store) -> None:
    """GuardedStore._apply_changes: all or none, each job guarded by the state and
    attempt its change was decided from (the caller then reads and decides again)."""
    assert isinstance(store, GuardedStore)
    enqueue(store, make_job("moved"), make_job("still"))
    stale = {job.id: job for job in store.list_jobs()}
    claim_one(store)  # "moved", enqueued first, is processing now
    before = [snapshot(store, job_id) for job_id in ("moved", "still")]
    changes = [rules.cancel(stale["still"]), rules.cancel(stale["moved"])]
    assert store._apply_changes(changes).moved == "moved"
    assert [snapshot(store, job_id) for job_id in ("moved", "still")] == before
    fresh = [rules.cancel(get(store, "still")), rules.cancel(get(store, "moved"))]
    assert store._apply_changes(fresh).moved is None
    assert get(store, "still").state is CANCELLED and get(store, "moved").cancel_requested


def test_a_change_decided_on_an_earlier_attempt_writes_nothing(store: Store) -> None:
    """The same state is not enough: the job ran again meanwhile (a later attempt)."""
    assert isinstance(store, GuardedStore)
    enqueue(store, make_job("again"))
    first = claim_one(store)
    assert store.complete_job("again", "w1", first.last_attempt, OK)
    store.requeue_jobs(["again"], DEFAULT_RETRIES)
    second = claim_one(store)
    assert (second.state, second.last_attempt) == (PROCESSING, first.last_attempt + 1)
    assert store._apply_changes([rules.cancel(first)]).moved == "again"
    assert not get(store, "again").cancel_requested


# -- queue_stats --------------------------------------------------------------------------------


def test_queue_stats_counts_per_queue_and_state_and_the_oldest_due_job(store: Store) -> None:
    assert store.queue_stats() == []
    enqueue(store, make_job("a1", queue="alpha"))
    enqueue(store, make_job("a2", queue="alpha"), make_job("a-later", queue="alpha", delay=600))
    put_in_state(store, "a-dead", DEAD, queue="alpha")
    put_in_state(store, "b-done", COMPLETED, queue="beta")
    stats = {s.queue: s for s in store.queue_stats()}
    assert sorted(stats) == ["alpha", "beta"]
    assert stats["alpha"].by_state == {PENDING: 3, DEAD: 1}
    assert stats["beta"].by_state == {COMPLETED: 1}
    assert stats["beta"].oldest_due_at is None
    oldest = stats["alpha"].oldest_due_at
    assert oldest is not None and abs(oldest - get(store, "a1").run_at) < TOL


def test_counts_follow_every_kind_of_move(store: Store) -> None:
    """count_jobs and queue_stats are kept as jobs move (not counted from the table):
    after enqueue, claim, finish, cancel, requeue, update of queue, delete and purge they
    still agree with the jobs themselves."""

    def agree() -> None:
        every = store.list_jobs()
        expected = {state: sum(job.state is state for job in every) for state in JobState}
        assert store.count_jobs().by_state == expected
        for queue in {job.queue for job in every}:
            mine = [job for job in every if job.queue == queue]
            assert store.count_jobs(queue).by_state == {
                state: sum(job.state is state for job in mine) for state in JobState
            }
        per_queue = {s.queue: s.by_state for s in store.queue_stats()}
        assert per_queue == {
            queue: {
                state: n
                for state in JobState
                if (n := sum(j.state is state and j.queue == queue for j in every))
            }
            for queue in {job.queue for job in every}
        }

    enqueue(store, *(make_job(f"m{n}", queue="one" if n % 2 else "two") for n in range(6)))
    agree()
    for state in (COMPLETED, FAILED, DEAD, CANCELLED, PROCESSING):
        put_in_state(store, f"x-{state}", state, queue="three")
        agree()
    store.cancel_jobs(["m0"])["m0"]
    store.update_job("m1", JobChanges(queue="four"))
    agree()
    store.requeue_jobs(["x-dead", "m0"], DEFAULT_RETRIES)
    store.delete_jobs(["x-completed"])
    agree()
    store.purge_jobs([CANCELLED])
    store.retry_dead_jobs(None, DEFAULT_RETRIES)
    agree()
    assert store.count_jobs("nowhere").by_state == dict.fromkeys(JobState, 0)


# -- what wakes an idle worker -------------------------------------------------------------


def _dead_job(store: Store) -> None:
    put_in_state(store, "d", DEAD)


def _running_job(store: Store) -> None:
    enqueue(store, make_job("r"))
    claim_one(store, "w1")


def _paused_job(store: Store) -> None:
    enqueue(store, make_job("p", queue="q"))
    store.pause_queues(["q"])


WAKE_UPS: dict[str, tuple[Callable[[Store], object], Callable[[Store], object]]] = {
    "enqueue": (lambda s: None, lambda s: enqueue(s, make_job("new"))),
    # A job due later: idle workers read when it comes due (Store.next_due_in).
    "enqueue for later": (lambda s: None, lambda s: enqueue(s, make_job("new", delay=3600))),
    "a retry recorded": (
        _running_job,
        lambda s: s.fail_job(as_claimed(s, "r", "w1", 1), BOOM, 3600),
    ),
    "dlq retry": (_dead_job, lambda s: s.retry_dead_jobs(["d"], 3)),
    "requeue": (_dead_job, lambda s: s.requeue_jobs(["d"], 3)),
    "update to pending": (_dead_job, lambda s: s.update_job("d", JobChanges(requeue=True))),
    "cancel a running job": (_running_job, lambda s: s.cancel_jobs(["r"])),
    "release": (_running_job, lambda s: s.release_job("r", "w1", 1)),
    "resume a paused queue": (_paused_job, lambda s: s.resume_queues(["q"])),
    "worker stop request": (
        lambda s: s.register_worker(worker_info("w1")),
        lambda s: s.request_worker_stop(StopMode.GRACEFUL),
    ),
}


@pytest.mark.parametrize("reason", list(WAKE_UPS))
def test_changes_that_give_workers_something_to_do_wake_them(
    store: Store, open_more: Callable[[], Store], reason: str
) -> None:
    """The store contract (Store.change_waiter): whatever makes a job claimable now or
    later, or gives a worker an order, wakes a waiter on another connection within the
    wait."""
    prepare, act = WAKE_UPS[reason]
    prepare(store)
    waiter = open_more().change_waiter()  # listening from here on
    try:
        while waiter.wait(0):  # what the preparation left pending
            pass
        act(store)
        assert waiter.wait(5) is True
    finally:
        waiter.close()


# -- paused queues ----------------------------------------------------------------------


def test_a_paused_queue_is_not_claimed_until_resumed(store: Store) -> None:
    enqueue(store, make_job("p1", queue="paused"), make_job("d1", queue="default"))
    store.pause_queues(["paused", "paused"])
    assert store.paused_queues() == ["paused"]
    assert [j.id for j in store.claim_jobs("w1", None, 10, 30)] == ["d1"]
    assert store.claim_jobs("w1", ["paused"], 10, 30) == []
    store.resume_queues(["paused"])
    assert store.paused_queues() == []
    assert [j.id for j in store.claim_jobs("w1", None, 10, 30)] == ["p1"]


def test_pausing_every_queue_and_resuming_all(store: Store) -> None:
    enqueue(store, make_job("a", queue="a"), make_job("b", queue="b"))
    store.pause_queues(["*"])
    store.pause_queues(["a"])
    assert store.paused_queues() == ["*", "a"]
    assert store.claim_jobs("w1", None, 10, 30) == []
    store.resume_queues(None)
    assert store.paused_queues() == []
    assert {j.id for j in store.claim_jobs("w1", None, 10, 30)} == {"a", "b"}


def test_a_large_batch_counts_per_queue_and_refuses_a_taken_id_whole(store: Store) -> None:
    """Bulk enqueues (hundreds of jobs) may take a faster path; the promises stay."""
    big = [make_job(f"big-{i}", queue="qa" if i % 3 else "qb") for i in range(600)]
    enqueue(store, *big)
    assert store.count_jobs().by_state[PENDING] == 600
    assert store.count_jobs("qa").by_state[PENDING] == 400
    assert store.count_jobs("qb").by_state[PENDING] == 200
    stored = store.get_jobs([job.id for job in big])
    seqs = [stored[job.id].seq for job in big]
    assert seqs == sorted(seqs) and len(set(seqs)) == 600  # the input's order, throughout
    again = [make_job(f"more-{i}") for i in range(500)] + [make_job("big-7")]
    again += [make_job(f"after-{i}") for i in range(10)]
    with pytest.raises(DuplicateJob, match="big-7"):
        enqueue(store, *again)
    assert store.get_job("more-0") is None and store.get_job("after-0") is None
    assert store.count_jobs().by_state[PENDING] == 600
    # Counting still works job by job afterwards.
    enqueue(store, make_job("single", queue="qb"))
    assert store.count_jobs("qb").by_state[PENDING] == 201
    claim_one(store, queues=["qb"])
    assert store.count_jobs("qb").by_state[PENDING] == 200


def test_a_bulk_of_thousands_keeps_every_index_of_one_at_a_time(store: Store) -> None:
    """A bulk past the batches a backend writes at once (thousands of jobs, mixed queues,
    priorities and run times, some after others) is stored as if added one by one: due
    jobs claim by priority then input order, later ones wait, those after others are
    blocked, counts and id lookups see every job; a taken id deep in the next bulk
    refuses all of it."""
    jobs = [
        make_job(
            f"bulk-{i:05d}",
            queue="qa" if i % 2 else "qb",
            priority=1 if i % 1000 == 7 else 0,
            delay=3600.0 if i % 5 == 0 else 0.0,
            after=("bulk-00001",) if i % 700 == 3 else (),
        )
        for i in range(2500)
    ]
    enqueue(store, *jobs)
    counts = store.count_jobs()
    assert counts.by_state[PENDING] == 2500
    assert counts.scheduled == 500 and counts.blocked == 4
    assert store.count_jobs("qa").by_state[PENDING] == 1250
    assert store.get_jobs(["bulk-02499", "bulk-01234"]).keys() == {"bulk-02499", "bulk-01234"}
    top = [job.id for job in store.claim_jobs("w1", None, 3, 60.0)]
    assert top == ["bulk-00007", "bulk-01007", "bulk-02007"]  # priority 1, in input order
    rest = [job.id for job in store.claim_jobs("w1", None, 3, 60.0)]
    assert rest == ["bulk-00001", "bulk-00002", "bulk-00004"]  # 0, 5: later; 3: blocked
    taken = [make_job(f"late-{i}") for i in range(2200)] + [make_job("bulk-02222")]
    with pytest.raises(DuplicateJob, match="bulk-02222"):
        enqueue(store, *taken, make_job("late-last"))
    assert store.get_job("late-0") is None and store.get_job("late-last") is None
    assert store.count_jobs().by_state[PENDING] == 2494
