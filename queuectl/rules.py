"""The rulebook: every decision about a job, made once, in Python, for every backend.

A decision is a pure function of a job as some caller read it (and of plain inputs such
as a retry delay); it never reads a clock, a config table or a database. A backend only
stores and guards. It applies a decision only if the job is still in the state the
decision was made from: a compare-and-set on the job's id, its state and, for a job a
worker holds, that worker and attempt number (`Held`, plus `cancel_requested` when the
decision read it), and it reports whether the change applied. A decision that did not
apply is never forced: the caller re-reads the job and decides once more (see
queuectl/store/guarded.py), or reports the job's new state.

Times a decision sets are relative (`run_after` seconds from the store's clock), so the
store applies them on its own clock (`Store.now()`), whatever host decided.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import StrEnum

import msgspec

from queuectl.errors import InvalidStateChange, UniqueKeyTaken
from queuectl.models import FINAL_STATES, Job, JobChanges, JobState, NewJob, StopMode

PENDING, PROCESSING, COMPLETED = JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED
FAILED, DEAD, CANCELLED = JobState.FAILED, JobState.DEAD, JobState.CANCELLED

CLAIMABLE = frozenset({PENDING, FAILED})  # once due (run_at <= now)
CANCELLABLE_AT_ONCE = frozenset({PENDING, FAILED})  # a running job is asked instead
REQUEUABLE = frozenset({COMPLETED, FAILED, DEAD, CANCELLED})
RETRYABLE_FROM_DLQ = frozenset({DEAD})
DELETABLE = FINAL_STATES
PURGEABLE = FINAL_STATES
# A job with a unique key holds it while in these states (waiting or running): the stores
# keep at most one such job per key (a partial unique index, Redis' key hash).
HOLDS_UNIQUE_KEY = frozenset({PENDING, FAILED, PROCESSING})


# -- claiming, leases, heartbeats ---------------------------------------------------------


def claimable(job: Job, now: float) -> bool:
    """Whether a claim may take the job: pending or failed, due, and not waiting for jobs
    it runs after (queuectl.workflow)."""
    return job.state in CLAIMABLE and job.blockers == 0 and job.run_at <= now


def claim_order(job: Job) -> tuple[int, int]:
    """Claims take jobs highest priority first, then oldest (enqueue order)."""
    return (-job.priority, job.seq)


def lease_expired(job: Job, now: float) -> bool:
    """A processing job whose worker stopped renewing its lease: presumed lost."""
    return (
        job.state is PROCESSING and job.lease_expires_at is not None and job.lease_expires_at < now
    )


def renews(job: Job, worker_id: str, held: Collection[str]) -> bool:
    """A heartbeat renews a lease only for a job the worker says it holds and still owns:
    one it lost track of must expire and be retried, not be renewed forever."""
    return job.state is PROCESSING and job.worker_id == worker_id and job.id in held


# -- how an attempt ends --------------------------------------------------------------------


class Held(msgspec.Struct, frozen=True):
    """A job as its worker holds it: the guard of every worker-side write. The write
    applies only while the job is processing under `worker_id` with this `attempt`
    (its last_attempt), its cancel_requested still `cancel_requested` (None: the decision
    did not read it) and, with `lease_expired`, its lease still expired (reaping)."""

    job_id: str
    worker_id: str
    attempt: int
    cancel_requested: bool | None = None
    lease_expired: bool = False


class Finish(msgspec.Struct, frozen=True):
    """A decided end of an attempt. The job becomes `state`, no longer owned or leased, its
    cancel request cleared; it is due `run_after` seconds after the store's now (None:
    run_at unchanged); `counted=False` takes the attempt back off `attempts` (a release);
    `records_result` writes the run's exit code and error onto the job (else they stay).
    The attempt record is closed with the run's result in every case."""

    state: JobState
    run_after: float | None = None
    counted: bool = True
    records_result: bool = True


def held(job: Job, worker_id: str | None = None, reads_cancel: bool = False) -> Held:
    """The guard for a decision about `job` (as claimed, or as expired_jobs listed it)."""
    owner = worker_id if worker_id is not None else job.worker_id
    if owner is None:
        raise ValueError(f"job {job.id!r} is not held by any worker")
    cancel = job.cancel_requested if reads_cancel else None
    return Held(job.id, owner, job.last_attempt, cancel)


def completed() -> Finish:
    """A clean exit: completed, even if a cancel was asked for meanwhile (it came late)."""
    return Finish(COMPLETED)


def failed(job: Job, retry_delay: float) -> Finish:
    """A failed attempt (`job` read after its claim: attempts already counts it). A job
    whose cancel was asked for ends cancelled, however it failed; with retries left
    (attempts <= max_retries) it is failed and due again after `retry_delay`; else dead."""
    if job.cancel_requested:
        return Finish(CANCELLED)
    if job.attempts <= job.max_retries:
        return Finish(FAILED, run_after=retry_delay)
    return Finish(DEAD)


def cancelled_while_running() -> Finish:
    """A running job killed on its cancel request."""
    return Finish(CANCELLED)


def released(cancel_requested: bool) -> Finish:
    """A job handed back unfinished (cold shutdown): pending and due now, the attempt not
    counted; cancelled instead when a cancel was asked for meanwhile."""
    state = CANCELLED if cancel_requested else PENDING
    return Finish(state, run_after=0.0, counted=False, records_result=False)


def worth_redeciding(guard: Held, current: Job | None) -> bool:
    """After a guarded write did not apply: whether the job is still the worker's attempt
    and only what the decision read changed (a cancel asked for meanwhile), so deciding
    again on `current` can apply. Otherwise the job has moved on and the write is void."""
    return (
        current is not None
        and guard.cancel_requested is not None
        and current.state is PROCESSING
        and current.worker_id == guard.worker_id
        and current.last_attempt == guard.attempt
        and current.cancel_requested != guard.cancel_requested
    )


def backoff_delay(
    failed_attempts: int, base: float, cap: float, jitter_share: float = 0.0, jitter: float = 0.0
) -> float:
    """Seconds before the retry after the n-th failed attempt: min(base ** n, cap), plus
    `jitter` (a number in [0, 1)) times `jitter_share` of it."""
    try:
        delay = min(base**failed_attempts, cap)
    except OverflowError:
        delay = cap
    return delay * (1 + jitter_share * jitter)


# -- operators: cancel, update, requeue, retry, delete --------------------------------------


class Field(StrEnum):
    """The job fields an operator's decision may write (a backend maps each to its own
    column or hash field; nothing else is ever written from a decision)."""

    STATE = "state"
    COMMAND = "command"
    QUEUE = "queue"
    PRIORITY = "priority"
    MAX_RETRIES = "max_retries"
    OWN_MAX_RETRIES = "own_max_retries"  # the job's own budget, kept across DLQ retries
    TIMEOUT = "timeout"
    RUN_AT = "run_at"
    ATTEMPTS = "attempts"
    LAST_ERROR = "last_error"
    EXIT_CODE = "exit_code"
    CANCEL_REQUESTED = "cancel_requested"
    WORKER_ID = "worker_id"
    LEASE_EXPIRES_AT = "lease_expires_at"
    KEEP_DAEMONS = "keep_daemons"
    CWD = "cwd"
    ENV = "env"  # its JSON text (None: no variables)
    CONCURRENCY_KEY = "concurrency_key"


class StoreNow(msgspec.Struct, frozen=True):
    """A field value: the store's clock when the change applies (run_at due now)."""


class RetryBudget(msgspec.Struct, frozen=True):
    """A field value: the job's own max_retries when it set one, else `default`
    (max_retries_for; only the store keeps whether the job set its own)."""

    default: int


NOW = StoreNow()
Value = str | int | float | bool | None | StoreNow | RetryBudget


class Change(msgspec.Struct, frozen=True):
    """A decided change of one job: write `sets` (and updated_at), or `delete` it with its
    attempts, only while the job is still in `from_state` with `from_attempt` as its
    last_attempt, the job as the decision read it. A backend applies a batch of changes
    all or none (`apply_changes`); when one job moved meanwhile, nothing is written and
    the caller reads and decides again."""

    job_id: str
    from_state: JobState
    from_attempt: int
    sets: dict[Field, Value] = msgspec.field(default_factory=dict)
    delete: bool = False

    @property
    def state(self) -> JobState:
        """The job's state once the change applied (deleted: its state before)."""
        state = self.sets.get(Field.STATE, self.from_state)
        return JobState(state) if isinstance(state, str) else self.from_state

    @property
    def wakes_workers(self) -> bool:
        """Whether idle workers must look again: the job may be claimable now (waiting
        after the change, with a new state or run_at), or its worker has a new order."""
        waiting = self.state in CLAIMABLE and (
            Field.STATE in self.sets or Field.RUN_AT in self.sets
        )
        return not self.delete and (waiting or self.sets.get(Field.CANCEL_REQUESTED) is True)


def _change(job: Job, sets: dict[Field, Value] | None = None, delete: bool = False) -> Change:
    return Change(job.id, job.state, job.last_attempt, sets or {}, delete)


def cancel(job: Job) -> Change:
    """A waiting job (pending/failed) is cancelled at once; a running one is marked for its
    worker to kill (it stays processing until recorded); an ended one is refused."""
    if job.state in CANCELLABLE_AT_ONCE:
        return _change(job, {Field.STATE: CANCELLED, Field.CANCEL_REQUESTED: False})
    if job.state is PROCESSING:
        return _change(job, {Field.CANCEL_REQUESTED: True})
    raise InvalidStateChange(f"job {job.id!r} is already {job.state.value}; nothing to cancel")


_EDITABLE = (Field.COMMAND, Field.QUEUE, Field.PRIORITY, Field.MAX_RETRIES, Field.TIMEOUT)


def update(job: Job, changes: JobChanges) -> Change:
    """Which edit `changes` makes of `job`: the fields given (max_retries also becomes
    the job's own). A running job is never edited (its worker holds a copy). A requeue
    makes it pending with the cancel request cleared, due now unless run_at is given;
    a job that ended runs again from scratch (attempts reset), a failed one keeps its
    budget."""
    if job.state is PROCESSING:
        raise InvalidStateChange(f"job {job.id!r} is running; cancel it or wait for it to end")
    sets: dict[Field, Value] = {
        name: getattr(changes, name)
        for name in _EDITABLE
        if getattr(changes, name) is not msgspec.UNSET
    }
    if changes.max_retries is not msgspec.UNSET:
        sets[Field.OWN_MAX_RETRIES] = changes.max_retries
    if changes.run_at is not msgspec.UNSET:
        sets[Field.RUN_AT] = float(changes.run_at)
    if changes.requeue:
        sets |= {Field.STATE: PENDING, Field.CANCEL_REQUESTED: False}
        if job.state in FINAL_STATES:
            sets[Field.ATTEMPTS] = 0
        if changes.run_at is msgspec.UNSET:
            sets[Field.RUN_AT] = NOW
    return _change(job, sets)


def _from_scratch(default_max_retries: int) -> dict[Field, Value]:
    """What a requeue and a DLQ retry reset: pending, due now, no attempt counted, no
    error kept, the retry budget re-read (its own, else the configured default)."""
    return {
        Field.STATE: PENDING,
        Field.ATTEMPTS: 0,
        Field.RUN_AT: NOW,
        Field.LAST_ERROR: None,
        Field.EXIT_CODE: None,
        Field.CANCEL_REQUESTED: False,
        Field.MAX_RETRIES: RetryBudget(default_max_retries),
    }


def requeue(job: Job, default_max_retries: int) -> Change:
    """Only a job that ended (or failed, awaiting its retry) may be requeued: it runs again
    from scratch, owned by no worker."""
    if job.state not in REQUEUABLE:
        raise InvalidStateChange(
            f"cannot requeue job {job.id!r}: it is {job.state.value}; it has not finished"
        )
    sets = _from_scratch(default_max_retries)
    return _change(job, sets | {Field.WORKER_ID: None, Field.LEASE_EXPIRES_AT: None})


def dlq_retry(job: Job, default_max_retries: int) -> Change:
    """A dead job runs again from scratch (its last worker is still shown until a new one
    claims it)."""
    if job.state not in RETRYABLE_FROM_DLQ:
        raise InvalidStateChange(
            f"job {job.id!r} is {job.state.value}, not dead: only DLQ jobs can be retried"
        )
    return _change(job, _from_scratch(default_max_retries))


def delete(job: Job) -> Change:
    """Only a finished job may be deleted (with its attempts)."""
    if job.state not in DELETABLE:
        raise InvalidStateChange(
            f"cannot delete job {job.id!r}: it is {job.state.value}; "
            "only finished jobs can be deleted"
        )
    return _change(job, delete=True)


# -- unique keys -----------------------------------------------------------------------------


def replace_waiting(
    job: Job, new: NewJob, run_at: float | StoreNow, default_max_retries: int
) -> Change:
    """on_duplicate "replace": the waiting job holding the key takes the new job's spec
    and run time (`run_at`: its run_at, or the store's now plus its delay), keeping its
    id, as if enqueued afresh (pending, no attempt counted, no error kept). A job that
    started is never edited (its worker holds a copy): InvalidStateChange."""
    if job.state not in CLAIMABLE:
        raise InvalidStateChange(f"job {job.id!r} is {job.state.value}; it cannot be replaced")
    sets: dict[Field, Value] = {
        Field.COMMAND: new.command,
        Field.QUEUE: new.queue,
        Field.PRIORITY: new.priority,
        Field.MAX_RETRIES: max_retries_for(new.max_retries, default_max_retries),
        Field.OWN_MAX_RETRIES: new.max_retries,
        Field.TIMEOUT: new.timeout,
        Field.RUN_AT: run_at,
        Field.KEEP_DAEMONS: new.keep_daemons,
        Field.CWD: new.cwd,
        Field.ENV: None if not new.env else msgspec.json.encode(new.env).decode(),
        Field.CONCURRENCY_KEY: new.concurrency_key,
        Field.STATE: PENDING,
        Field.ATTEMPTS: 0,
        Field.LAST_ERROR: None,
        Field.EXIT_CODE: None,
        Field.CANCEL_REQUESTED: False,
    }
    return _change(job, sets)


def repeated_unique_key(jobs: Sequence[NewJob]) -> UniqueKeyTaken | None:
    """The first job of a batch whose unique key an earlier job of the batch has (the
    earlier one would hold it), as the error a store raises; None when the keys differ."""
    first: dict[str, str] = {}
    for job in jobs:
        if job.unique_key is None:
            continue
        holder = first.setdefault(job.unique_key, job.id)
        if holder != job.id:
            return UniqueKeyTaken(job.id, job.unique_key, holder)
    return None


def takes_unique_key(job: Job, change: Change) -> bool:
    """Whether the change makes a job that held no unique key hold its key again (a
    requeue, a DLQ retry or an update to pending of a job that ended)."""
    return (
        job.unique_key is not None
        and not change.delete
        and job.state not in HOLDS_UNIQUE_KEY
        and change.state in HOLDS_UNIQUE_KEY
    )


def requeue_clash(job: Job, holder: str) -> UniqueKeyTaken:
    """The error of a requeue refused because another job holds the job's key."""
    key = job.unique_key or ""
    return UniqueKeyTaken(
        job.id,
        key,
        holder,
        f"cannot requeue job {job.id!r}: its unique key {key!r} is held by job {holder!r} "
        "(waiting or running); nothing changed",
    )


# -- defaults and workers -------------------------------------------------------------------


def max_retries_for(own: int | None, configured: int) -> int:
    """A job's retry budget: its own when it set one, else the configured default (on
    enqueue, and again on a requeue or DLQ retry, so a config change reaches them)."""
    return configured if own is None else own


_STOP_RANK = {StopMode.GRACEFUL: 1, StopMode.NOW: 2}


def stop_request(current: StopMode | None, asked: StopMode) -> StopMode:
    """The stop a worker ends up asked for: "now" beats "graceful", and a graceful request
    never downgrades a pending "now"."""
    if current is not None and _STOP_RANK[current] > _STOP_RANK[asked]:
        return current
    return asked


def stops_replaced_by(asked: StopMode) -> tuple[StopMode, ...]:
    """The pending requests that `asked` replaces (for a backend applying stop_request to
    many workers in one statement: replace these, keep the others)."""
    return tuple(mode for mode in StopMode if stop_request(mode, asked) is asked)
