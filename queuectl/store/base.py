"""The storage interface: every operation the rest of queuectl needs, and nothing about SQL.

A backend (SQLite, PostgreSQL, later Redis) implements `Store`; the conformance suite in
tests/store/ is what proves it. Each docstring is the method's contract. Rules that hold
for every method:

- Decisions about jobs are queuectl.rules' (retry or dead, cancel precedence, what
  `update` may change, max-retries defaults, stop precedence); a backend stores and
  guards: it applies a decided change only while the job is as the decision saw it, and
  says whether it applied. Defaults that live in config reach the store as arguments.
- Times are epoch seconds read from the store's own clock (`now()`), so hosts with skewed
  clocks agree; callers never pass "now" in.
- A method either does all of its change or none of it (one transaction).
- Expected failures raise `queuectl.errors.QueueError` subclasses, never driver errors:
  `StoreUnavailable` when the database cannot be reached (worth retrying), `StoreError`
  when it cannot be used (locked too long, not a queuectl database, ...), `StoreRefused`
  when it answered and refused the data itself (a value too large, a constraint): the
  same write would be refused again (the worker then records a degraded result).
- Worker-side writes (`complete_job`, `fail_job`, `reap_job`, `cancel_running_job`,
  `release_job`) are guarded by (job id, worker id, attempt): they return False (None)
  and change nothing when the worker no longer owns that attempt (its lease expired and
  the job moved on). `attempt` is the claimed job's `last_attempt`: a job's attempt
  numbers never repeat, whatever
  resets its retry budget (`attempts`), and its attempt records are never rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from queuectl.models import (
    Attempt,
    DeadGroup,
    Job,
    JobChanges,
    JobLinks,
    JobQuery,
    JobState,
    LiveTail,
    MetricSample,
    MinuteCount,
    NewJob,
    QueueCounts,
    QueueStats,
    Record,
    Requeued,
    RunResult,
    StopMode,
    WorkerInfo,
    WorkerOrders,
    WorkerRegistration,
)

if TYPE_CHECKING:  # not at run time: `queuectl enqueue` imports this module
    from queuectl.limits import KeyLimit, QueueLimit, Rate

__all__ = [
    "ChangeWaiter",
    "JobChanges",
    "StopMode",
    "Store",
    "WorkerRegistration",
]


class ChangeWaiter(Protocol):
    """Blocks until the jobs may have changed; owns its own connection, used by one thread."""

    def wait(self, timeout: float) -> bool:
        """Return True as soon as something may have changed, False after `timeout` seconds.
        `wait(0)` only consumes what is pending."""
        ...

    def fileno(self) -> int | None:
        """A descriptor that becomes readable when `wait(0)` has something to consume, so an
        event loop can watch it; None when the waiter can only poll (then call `wait`
        from a thread)."""
        ...

    def look_again_at(self) -> float | None:
        """When (time.monotonic()) to call `wait(0)` again although the descriptor is not
        readable: a change was seen under way but not yet visible (`wait(0)` never waits
        for one); None when nothing is under way."""
        ...

    def close(self) -> None: ...


class Store(Protocol):
    """A durable job store shared by every process that opens the same URL."""

    url: str
    # The backend's own name ("sqlite", "postgres", ...): what GET /api/info reports.
    backend: str
    # A backend class may set `process_local = True` when its database lives in the
    # memory of one process (memory://): the command line then refuses it.
    # Whether the store is a server across a connection (PostgreSQL, Redis): a worker
    # then claims on a second connection, in a thread, and runs jobs meanwhile.
    remote: bool

    # -- life cycle ------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection. The store is unusable afterwards."""
        ...

    def ping(self) -> str:
        """Check that the database answers; returns a short description (backend, version)."""
        ...

    def durability_warning(self) -> str | None:
        """One line when jobs the store acknowledged would not survive a crash or restart
        of the database as it is configured (a Redis server that does not fsync every
        write), else None. Read from the server once per store."""
        ...

    def migrate(self) -> list[int]:
        """Apply the numbered migrations not yet applied, in order; return their numbers.
        Safe to run from many processes at once. Opening a store already migrates it."""
        ...

    def schema_version(self) -> int:
        """The highest applied migration number."""
        ...

    def now(self) -> float:
        """The store's clock (epoch seconds): the one every lease and run_at is measured on."""
        ...

    def advance_clock(self, seconds: float) -> None:
        """For tests: move this store object's clock `seconds` on, for everything it reads
        and writes (leases, run_at, ages, heartbeats), so lease expiry, backoff and purge
        ages need no real wait. Other store objects keep the real clock."""
        ...

    # -- jobs: producers and operators -----------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[NewJob], default_max_retries: int) -> list[str]:
        """Insert all jobs as pending, durably, all or none; return their ids in order.
        `max_retries=None` takes `default_max_retries` (the caller's configured default,
        queuectl.rules.max_retries_for; the job keeps no own value then),
        `run_at=None` means now + `delay`. Raises DuplicateJob (naming the id) when an id
        exists; then nothing is inserted. Wakes idle workers.
        Jobs with `after` (queuectl.workflow): every id named is in the batch or exists
        (read in the same transaction, where it cannot end meanwhile); each new job
        stores its blockers (queuectl.workflow.blockers_at_enqueue), its after_mode and
        its links, and each job named counts the new dependents. InvalidSpec (naming the
        id) for an unknown id or one that ended as its new job never accepts; the caller
        has checked the batch itself (queuectl.workflow.check_graph).
        Unique keys: raises UniqueKeyTaken for the first job whose `unique_key` a waiting
        or running job holds (queuectl.rules.HOLDS_UNIQUE_KEY) or an earlier job of the
        batch has, naming the holder; then nothing is inserted. Checked in the same
        transaction as the insert and guarded by the store itself, whatever the races."""
        ...

    def unique_holders(self, keys: Sequence[str]) -> dict[str, str]:
        """For each of these unique keys held by a waiting or running job: its id."""
        ...

    def replace_waiting_job(
        self, job_id: str, new: NewJob, run_at: float | None, default_max_retries: int
    ) -> Job | None:
        """on_duplicate "replace": queuectl.rules.replace_waiting applied to the job while
        it still waits (pending or failed) and holds `new.unique_key`; `run_at` None is
        the store's now. Returns the job as it is now (replaced, or running: then it was
        left as is), or None when it no longer holds the key (ended or deleted)."""
        ...

    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        ...

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs with these ids that exist, by id, in one read (GuardedStore's)."""
        ...

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        """Jobs newest first (by enqueue order), filtered by state and by queue."""
        ...

    def query_jobs(self, query: JobQuery, after_seq: int | None, limit: int | None) -> list[Job]:
        """Jobs matching `query` (states, with "scheduled" = pending and due later; queue;
        id_prefix; search, a substring of the command), ordered by seq: descending for
        order "newest", ascending for "oldest"; only those after `after_seq` in that order;
        at most `limit` (None = all). `query.limit` and `query.cursor` are the caller's.
        Cost grows with `limit` and the rows skipped by the filters, never the table."""
        ...

    def job_links(self, job_ids: Sequence[str]) -> dict[str, JobLinks]:
        """For each id: the ids of the jobs it runs after and of those that run after it,
        each sorted (links to deleted jobs included: a reader looks them up)."""
        ...

    def list_attempts(self, job_id: str) -> list[Attempt]:
        """Every attempt of the job, oldest first (including those before a DLQ retry)."""
        ...

    def count_jobs(self, queue: str | None = None) -> QueueCounts:
        """Jobs per state, every state present (zeros included), and how many pending jobs
        wait for a run_at in the future."""
        ...

    def queue_stats(self) -> list[QueueStats]:
        """Per queue (those holding any job, by name): jobs per state (states without jobs
        absent) and the earliest run_at among pending jobs that are due now."""
        ...

    def update_job(self, job_id: str, changes: JobChanges) -> Job:
        """Apply queuectl.rules.update to the job, guarded by its state (re-decided when it
        moved meanwhile); return the job as changed. A requeue (`changes.requeue`) wakes
        idle workers. Raises JobNotFound or InvalidStateChange (a running job)."""
        ...

    def cancel_jobs(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """Cancel the jobs (queuectl.rules.cancel), all or none, in one transaction:
        pending/failed become cancelled at once; a processing one is marked for its worker
        to kill (it stays processing until the worker records it; its worker is woken).
        Returns each id's resulting state. Raises JobNotFound / InvalidStateChange (naming
        the id) for a missing or ended job; then nothing changes."""
        ...

    def retry_dead_jobs(self, job_ids: Sequence[str] | None, default_max_retries: int) -> Requeued:
        """Move dead jobs (all of them when `job_ids` is None) back to pending, due now,
        attempts reset to 0, max_retries `default_max_retries` unless the job set its own.
        Raises JobNotFound / InvalidStateChange (naming the id) for an id that is missing or
        not dead; then none move. Returns the ids moved, and in `brought_back` the jobs
        that came back with them: those cancelled only because one of them ended, down
        the graph (queuectl.workflow)."""
        ...

    def requeue_jobs(self, job_ids: Sequence[str], default_max_retries: int) -> Requeued:
        """Move finished or failed jobs (completed, failed, dead, cancelled) back to pending,
        due now, attempts reset, max_retries re-read as in retry_dead_jobs. All or none:
        JobNotFound / InvalidStateChange (naming the id) for a missing, pending or
        processing one; UniqueKeyTaken for one whose unique key another job holds (then
        nothing changes; the same for every change that puts a finished job back to
        waiting: a DLQ retry, an update to pending). Returns the ids (duplicates once),
        with the jobs brought back as in retry_dead_jobs. Wakes idle workers."""
        ...

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete finished jobs (completed, dead, cancelled) and their attempts. All or none:
        JobNotFound / InvalidStateChange (naming the id) otherwise. Returns how many."""
        ...

    def purge_jobs(
        self, states: Sequence[JobState], older_than: float | None = None, limit: int | None = None
    ) -> int:
        """Delete jobs (and their attempts) in final `states` whose updated_at is more than
        `older_than` seconds ago (any age when None); return how many. With `limit`, at
        most that many, the oldest first (retention prunes in small batches)."""
        ...

    # -- jobs: workers ------------------------------------------------------------------

    def claim_jobs(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        """Atomically take up to `limit` due jobs (pending or failed, run_at <= now) from
        `queues` (all when None), highest priority first, then oldest. Each becomes
        processing, owned by `worker_id` with a lease of `lease_seconds`, its attempts
        and last_attempt counted up by one and an attempt record numbered last_attempt
        started. No job is ever handed to two
        claimers. Returned in claim order. Limits (queuectl.limits) hold whatever the
        races, within one batch too: a job whose queue or key is full is passed over, a
        rate-limited queue starts at most one job per interval."""
        ...

    def heartbeat(
        self, worker_id: str, lease_seconds: float, held: Sequence[str] = ()
    ) -> WorkerOrders:
        """Record that the worker is alive and extend the leases of the jobs in `held` that
        are still processing under this worker. Returns its orders: a pending stop
        request, the processing jobs of this worker to cancel, and `renewed`, the held
        jobs it still owns (one missing has moved on: the worker lost its lease).
        Raises StoreGone when the database is gone for good (a SQLite file deleted or
        replaced under the worker, a PostgreSQL database dropped): the worker stops
        rather than run on unseen or retry forever."""
        ...

    def complete_job(self, job_id: str, worker_id: str, attempt: int, result: RunResult) -> bool:
        """Mark the attempt succeeded and the job completed (guarded, see module doc)."""
        ...

    def complete_jobs(
        self, worker_id: str, finished: Sequence[tuple[str, int, RunResult]]
    ) -> list[bool]:
        """complete_job for several (job id, attempt, result) in one transaction, each
        guarded exactly as there; whether each was recorded, in order."""
        ...

    def fail_job(self, job: Job, result: RunResult, retry_delay: float) -> JobState | None:
        """Record a failed attempt of `job`, the job as its worker claimed it (its
        worker_id, last_attempt, attempts and max_retries are what the decision reads):
        queuectl.rules.failed decides (failed and due `retry_delay` seconds from now,
        dead, or cancelled when a cancel was asked for while it ran). Returns the new
        state, or None when guarded out."""
        ...

    def reap_job(self, job: Job, result: RunResult, retry_delay: float) -> JobState | None:
        """fail_job for a job as expired_jobs listed it, guarded also by its lease still
        being expired (a heartbeat in between wins): how dead workers' jobs are retried."""
        ...

    def cancel_running_job(
        self, job_id: str, worker_id: str, attempt: int, result: RunResult
    ) -> bool:
        """Record a running job killed on a cancel request: it ends cancelled (guarded)."""
        ...

    def release_job(self, job_id: str, worker_id: str, attempt: int) -> bool:
        """Put a job back to pending without counting the attempt (cold shutdown): its
        attempt record ends with error "released" (guarded). A job whose cancel was
        requested meanwhile ends cancelled instead."""
        ...

    def release_jobs(self, worker_id: str, held: Sequence[tuple[str, int]]) -> list[bool]:
        """release_job for each (job id, attempt), in order, in one round trip where the
        backend can (a worker handing back a reserve of dozens of jobs)."""
        ...

    def expired_jobs(self, limit: int = 100) -> list[Job]:
        """Processing jobs whose lease has expired (their worker is presumed dead)."""
        ...

    def has_unfinished_jobs(self, queues: Sequence[str] | None) -> bool:
        """Whether any job of `queues` is due now, processing, or failed awaiting a retry
        (jobs scheduled for later do not count): what keeps a burst worker going."""
        ...

    def next_due_in(self, queues: Sequence[str] | None) -> float | None:
        """Seconds from the store's now until the earliest waiting job (pending, or failed
        awaiting its retry) of `queues` (all when None) that is not due yet comes due;
        None when no job waits for a later time. An idle worker sleeps until then; in
        seconds, not a time, so that a worker whose clock is off still wakes on time."""
        ...

    def change_waiter(self) -> ChangeWaiter:
        """A waiter (own connection) that wakes idle workers. It must wake on every change
        that makes a job claimable now or gives a worker an order: enqueue, requeue, DLQ
        retry, update to pending, release, a cancel request for a running job and a stop
        request; and on a job put to wait for a later time (an enqueue scheduled ahead, a
        retry recorded), whose time an idle worker then reads (next_due_in). The
        conformance suite checks each; it may wake on any other change."""
        ...

    # -- config -------------------------------------------------------------------------

    def get_config(self) -> dict[str, str]:
        """Every stored config value (keys not set are absent)."""
        ...

    def set_config(self, key: str, value: str) -> None:
        """Store one already-validated value."""
        ...

    def reset_config(self, key: str | None = None) -> None:
        """Forget one stored value, or all when `key` is None, so defaults apply."""
        ...

    # -- records: queuectl's own bookkeeping ------------------------------------------------

    def get_records(self, kind: str) -> dict[str, Record]:
        """Every record of `kind` (schedules, retention, ...), by name."""
        ...

    def put_record(self, kind: str, name: str, value: str, version: int | None) -> int | None:
        """Write a record only if it is still as the caller read it: absent when `version`
        is None, else at that version. Returns the new version (1 for a new record), or
        None when another write came first (then nothing changed)."""
        ...

    def delete_record(self, kind: str, name: str) -> bool:
        """Forget a record; whether there was one."""
        ...

    # -- paused queues ------------------------------------------------------------------

    def pause_queues(self, queues: Sequence[str]) -> None:
        """From now on claim_jobs takes nothing from these queues ("*" = every queue);
        running jobs are not touched. Pausing a paused queue changes nothing."""
        ...

    def resume_queues(self, queues: Sequence[str] | None) -> None:
        """Undo pause_queues for these queues ("*" included), or for all when None; wakes
        idle workers."""
        ...

    def paused_queues(self) -> list[str]:
        """The paused queue names, sorted ("*" when every queue is paused)."""
        ...

    # -- limits (queuectl.limits decides; the store keeps settings and counters) ---------

    def queue_limits(self) -> list[QueueLimit]:
        """The queues with a concurrency limit or a rate, by name."""
        ...

    def set_queue_limit(self, queue: str, concurrency: int | None, rate: Rate | None) -> None:
        """Set both limits of a queue (None lifts one; both None forget the queue's
        limits). From the next claim on, claim_jobs never starts a job of the queue while
        `concurrency` of its jobs are processing, nor sooner than `rate.interval` seconds
        after the previous start it allowed; wakes idle workers."""
        ...

    def key_limits(self, keys: Sequence[str] | None = None) -> list[KeyLimit]:
        """Concurrency keys (these, or all that have unfinished jobs or a limit of their
        own), by name: limit, jobs processing now, unfinished jobs."""
        ...

    def set_key_limit(self, key: str, concurrency: int | None) -> None:
        """A key's own limit (None: back to the default, 1); wakes idle workers."""
        ...

    def key_holder(self, key: str) -> str | None:
        """The id of one processing job holding the key, or None."""
        ...

    # -- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerRegistration) -> None:
        """Add (or replace, stop request cleared) a worker in the registry, started and
        heartbeat now."""
        ...

    def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker that stopped cleanly."""
        ...

    def list_workers(self, alive_within: float | None = None) -> list[WorkerInfo]:
        """Registered workers, oldest first, with the ids of the jobs each runs; only those
        whose last heartbeat is at most `alive_within` seconds old, when given."""
        ...

    def request_worker_stop(self, mode: StopMode, worker_ids: Sequence[str] | None = None) -> int:
        """Ask workers (all when None) to stop; a pending request becomes
        queuectl.rules.stop_request of it and `mode` ("now" beats "graceful"). They see it
        on their next heartbeat (idle ones are woken). Returns how many were asked."""
        ...

    def prune_workers(self, dead_for: float) -> int:
        """Forget workers whose last heartbeat is more than `dead_for` seconds old."""
        ...

    # -- observability: live output, throughput, DLQ groups, metrics ----------------------

    def publish_output(self, tails: Sequence[LiveTail]) -> int:
        """Store the output so far of running attempts, all in one transaction; each only
        while its attempt is open under that worker (an ended attempt keeps its final
        tail). Returns how many attempts were updated."""
        ...

    def get_attempt(self, job_id: str, attempt: int | None = None) -> Attempt | None:
        """The latest run of attempt number `attempt` of the job (the latest attempt when
        None), with its output so far while it runs; None when there is none."""
        ...

    def throughput(self, since: float) -> list[MinuteCount]:
        """Runs that ended in the minutes starting at or after `since` (whole minutes of
        epoch time, only minutes with any, at most the last day): completed, and failed
        (the job became failed or dead; cancelled and released runs are neither). Kept
        as counters, so purges do not lower them."""
        ...

    def dead_groups(self) -> list[DeadGroup]:
        """Dead jobs grouped by (last_error, exit_code), largest group first."""
        ...

    def dead_group_ids(self, error: str | None, exit_code: int | None) -> list[str]:
        """The ids of the dead jobs with exactly this last_error and exit_code, oldest first."""
        ...

    def metric_buckets(self) -> list[float]:
        """The histograms' bucket upper bounds, ascending, the last one infinite."""
        ...

    def metric_samples(self) -> list[MetricSample]:
        """The counters kept since the database was created (purges do not lower them):
        claims' wait times ("wait"), ended runs by outcome ("run"), waiting jobs cancelled
        ("end"), each per queue and histogram bucket."""
        ...
