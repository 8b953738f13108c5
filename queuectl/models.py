"""The values that move between the store, the worker and the front ends.

Rows become frozen values at the store boundary, so nothing above the store sees a
database row or a driver type. Times are float seconds since the epoch (UTC). They are
msgspec Structs rather than dataclasses: defined in microseconds, which keeps the
start-up of `queuectl enqueue` short.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class JobState(StrEnum):
    """The six states of a job; see the diagram in docs/jobs.md."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED})


class AfterMode(StrEnum):
    """When a job that runs after others may start: once they all "completed" (the
    default), or once they all "finished" however they ended (completed, dead or
    cancelled): a clean-up or notify step. The rules are queuectl.workflow's."""

    COMPLETED = "completed"
    FINISHED = "finished"


class OnDuplicate(StrEnum):
    """What an enqueue does when its unique key is held by a waiting or running job (the
    decision is queuectl.service.unique's): answer with that job ("existing", the
    default), refuse ("error"), or put the new spec in place of the waiting one
    ("replace"; a running one is answered as with "existing")."""

    EXISTING = "existing"
    ERROR = "error"
    REPLACE = "replace"


class StopMode(StrEnum):
    """How a worker is asked to stop: "graceful" lets running jobs end (up to the grace
    period), "now" kills them. "now" beats "graceful" (queuectl.rules.stop_request)."""

    GRACEFUL = "graceful"
    NOW = "now"


class Interrupt(StrEnum):
    """Why a worker killed a job's command before it ended. The value is also the error
    the attempt records (a release's attempt record says "released")."""

    CANCELLED = "cancelled"  # its cancel was asked for: the job ends cancelled
    RELEASED = "released"  # the worker stops at once: the job is handed back, uncounted
    LOST = "lost"  # its lease was lost, another worker has the job: nothing is recorded


# gc=False: it holds strings, numbers and their containers, which cannot lead back to
# it, so it is never part of a cycle; untracked, the 100,000 of a bulk enqueue no longer
# make the cycle collector walk them again and again (half the time of parsing them).
class NewJob(msgspec.Struct, frozen=True, gc=False):
    """A validated job, ready to be stored; `None` fields take the configured default."""

    id: str
    command: str
    queue: str = "default"
    priority: int = 0
    max_retries: int | None = None
    timeout: float | None = None
    run_at: float | None = None  # None: due now (the store's clock)
    delay: float = 0.0  # seconds after the store's now, when run_at is None
    keep_daemons: bool = False  # leave what the command leaves running when it exits
    cwd: str | None = None  # where it runs (None: the worker's directory)
    env: dict[str, str] | None = None  # merged over the worker's environment
    after: tuple[str, ...] = ()  # ids of the jobs it runs after (queuectl.workflow)
    after_mode: AfterMode = AfterMode.COMPLETED
    concurrency_key: str | None = None  # shares its key's limit (queuectl.limits)
    # At most one job with this key waits or runs (queuectl.rules.HOLDS_UNIQUE_KEY);
    # `on_duplicate` says what this enqueue does when another holds it (not stored).
    unique_key: str | None = None
    on_duplicate: OnDuplicate = OnDuplicate.EXISTING


class Job(msgspec.Struct, frozen=True):
    """A job as stored. `run_at` is when it may next run (for a failed job: the retry).
    `attempts` counts against max_retries (reset by a requeue or DLQ retry, not counting
    a released attempt); `last_attempt` numbers the latest attempt and never goes back,
    so a job's attempt records never share a number."""

    id: str
    command: str
    queue: str
    state: JobState
    priority: int
    attempts: int
    max_retries: int
    timeout: float | None
    run_at: float
    created_at: float
    updated_at: float
    worker_id: str | None = None
    lease_expires_at: float | None = None
    last_error: str | None = None
    exit_code: int | None = None
    cancel_requested: bool = False
    last_attempt: int = 0
    keep_daemons: bool = False
    seq: int = 0  # enqueue order, unique per store: what list cursors point at
    cwd: str | None = None
    env: dict[str, str] | None = None
    # Workflows (queuectl.workflow): when it runs after other jobs (None: after none), how
    # many of those have not yet ended as it needs (a pending job with blockers > 0 is
    # "blocked"), how many jobs run after it, and the job whose end cancelled it.
    after_mode: AfterMode | None = None
    blockers: int = 0
    dependents: int = 0
    cancelled_by: str | None = None
    concurrency_key: str | None = None  # queuectl.limits: jobs sharing it share its limit
    unique_key: str | None = None  # held while pending, failed (waiting) or processing

    @property
    def blocked(self) -> bool:
        """Pending, but waiting for jobs it runs after."""
        return self.state is JobState.PENDING and self.blockers > 0


class Attempt(msgspec.Struct, frozen=True):
    """One run of a job: who ran it, when, and how it ended (None while running)."""

    job_id: str
    attempt: int
    worker_id: str
    started_at: float
    finished_at: float | None = None
    exit_code: int | None = None
    error: str | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_bytes: int = 0  # how much each stream produced in all (stdout/stderr: the tail)
    stderr_bytes: int = 0


class RunResult(msgspec.Struct, frozen=True):
    """What running a command produced; `error` is None only for a clean exit 0."""

    exit_code: int | None
    error: str | None
    stdout: bytes = b""
    stderr: bytes = b""
    started_at: float = 0.0
    finished_at: float = 0.0
    stdout_bytes: int = 0  # bytes produced in all; 0 = just the tail's length
    stderr_bytes: int = 0

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.exit_code == 0


class WorkerInfo(msgspec.Struct, frozen=True):
    """A worker supervisor as registered in the store."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    slots: int
    started_at: float
    heartbeat_at: float
    stop_requested: StopMode | None = None
    running: tuple[str, ...] = ()  # its processing jobs: started, reserved or finishing
    heartbeat_age: float | None = None  # seconds; filled in by the service, not the store
    alive: bool | None = None  # heartbeat within lease-seconds; filled in by the service

    @property
    def busy(self) -> int:
        """Slots running a job. `running` lists every processing job the worker holds:
        those started, and its reserve (claimed while jobs are short, waiting for a
        slot). It starts a reserved job the moment a slot frees (slots.py), so it holds a
        reserve only while every slot is busy: the first `slots` of them are running."""
        return min(len(self.running), self.slots)

    @property
    def reserved(self) -> int:
        """Jobs claimed and held for the next free slot (see `busy`)."""
        return len(self.running) - self.busy


class WorkerRegistration(msgspec.Struct, frozen=True):
    """What a worker tells the store about itself when it starts (register_worker); the
    store adds the times."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...] = ()  # empty: every queue
    slots: int = 1


class JobChanges(msgspec.Struct, frozen=True):
    """An edit of a job that is not running (update_job): only the fields given change
    (UNSET = left as is); `requeue` makes it pending again, due now unless `run_at` is
    given. `timeout=None` removes its timeout. The rules are in queuectl.rules.update."""

    command: str | msgspec.UnsetType = msgspec.UNSET
    queue: str | msgspec.UnsetType = msgspec.UNSET
    priority: int | msgspec.UnsetType = msgspec.UNSET
    max_retries: int | msgspec.UnsetType = msgspec.UNSET
    timeout: float | msgspec.UnsetType | None = msgspec.UNSET
    run_at: float | msgspec.UnsetType = msgspec.UNSET
    requeue: bool = False


class WorkerOrders(msgspec.Struct, frozen=True):
    """What a heartbeat tells a worker: whether to stop, which running jobs to cancel, and
    which of the jobs it holds are still its own (their leases renewed)."""

    stop: StopMode | None = None
    cancel: frozenset[str] = msgspec.field(default_factory=frozenset)
    renewed: frozenset[str] = msgspec.field(default_factory=frozenset)


class QueueCounts(msgspec.Struct, frozen=True):
    """Jobs per state (every state present), how many pending ones wait for a future
    run_at (not counting blocked ones) and how many wait for other jobs (blocked)."""

    by_state: dict[JobState, int]
    scheduled: int
    blocked: int = 0


SCHEDULED = "scheduled"  # a listing filter: pending jobs whose run_at is in the future
BLOCKED = "blocked"  # a listing filter: pending jobs waiting for jobs they run after
ListState = JobState | str  # a JobState, SCHEDULED or BLOCKED


class Requeued(list[str]):
    """The ids a requeue or DLQ retry moved back to pending (it is that list), and
    `brought_back`: the jobs that came back with them because each had been cancelled
    only because one of them ended (queuectl.workflow)."""

    def __init__(self, ids: list[str], brought_back: list[str] | None = None) -> None:
        super().__init__(ids)
        self.brought_back = brought_back or []


class Record(msgspec.Struct, frozen=True):
    """A named value the store keeps for queuectl's own bookkeeping (schedules, when the
    last prune ran): its text and a version that every write counts up, so writers
    that read it can write it back only if nobody wrote meanwhile (Store.put_record)."""

    value: str
    version: int


class JobLinks(msgspec.Struct, frozen=True):
    """A job's place in a workflow: the ids it runs after and those that run after it."""

    after: tuple[str, ...] = ()
    dependents: tuple[str, ...] = ()


class QueueStats(msgspec.Struct, frozen=True):
    """One queue's jobs per state, and since when its oldest due pending job waits."""

    queue: str
    by_state: dict[JobState, int]
    oldest_due_at: float | None = None


class JobQuery(msgspec.Struct, frozen=True):
    """Which jobs to list. Empty `states` = every state; "scheduled" selects pending jobs
    due later. `id_prefix` and `search` (a substring of the command) narrow further.
    `cursor` continues a previous page (JobPage.next_cursor, opaque); limit 0 = no limit."""

    states: tuple[ListState, ...] = ()
    queue: str | None = None
    id_prefix: str | None = None
    search: str | None = None
    order: str = "newest"  # or "oldest" (by enqueue order)
    limit: int = 50
    cursor: str | None = None


class JobPage(msgspec.Struct, frozen=True):
    """One page of a listing; `next_cursor` is None on the last page."""

    jobs: list[Job]
    next_cursor: str | None = None


# -- observability: live output, status per queue, metrics ------------------------------


class LiveTail(msgspec.Struct, frozen=True):
    """A running attempt's output so far, as its worker publishes it (guarded like the
    other worker-side writes: only while that worker's attempt is open)."""

    job_id: str
    worker_id: str
    attempt: int
    stdout: bytes
    stderr: bytes
    stdout_bytes: int
    stderr_bytes: int


class MetricSample(msgspec.Struct, frozen=True):
    """A stored counter row: `n` observations of `kind` ("wait", "run" or "end") in the
    histogram bucket with upper bound `le`, `seconds` their sum (see migration 0004)."""

    kind: str
    queue: str
    outcome: str
    le: float
    n: int
    seconds: float


class MinuteCount(msgspec.Struct, frozen=True):
    """Attempts that ended in the minute starting at `start` (epoch seconds)."""

    start: float
    completed: int
    failed: int


class DeadGroup(msgspec.Struct, frozen=True):
    """Dead jobs that ended the same way (same last error and exit code)."""

    error: str | None
    exit_code: int | None
    count: int
    newest_job_id: str
