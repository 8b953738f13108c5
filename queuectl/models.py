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
    """The six states of a job; see the diagram in the README."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED})


class NewJob(msgspec.Struct, frozen=True):
    """A validated job, ready to be stored; `None` fields take the configured default."""

    id: str
    command: str
    queue: str = "default"
    priority: int = 0
    max_retries: int | None = None
    timeout: float | None = None
    run_at: float | None = None  # None: due now (the store's clock)
    delay: float = 0.0  # seconds after the store's now, when run_at is None


class Job(msgspec.Struct, frozen=True):
    """A job as stored. `run_at` is when it may next run (for a failed job: the retry)."""

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


class RunResult(msgspec.Struct, frozen=True):
    """What running a command produced; `error` is None only for a clean exit 0."""

    exit_code: int | None
    error: str | None
    stdout: bytes = b""
    stderr: bytes = b""
    started_at: float = 0.0
    finished_at: float = 0.0

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
    stop_requested: str | None = None  # None, "graceful" or "now"
    running: tuple[str, ...] = ()


class WorkerOrders(msgspec.Struct, frozen=True):
    """What a heartbeat tells a worker: whether to stop, which running jobs to cancel, and
    which of the jobs it holds are still its own (their leases renewed)."""

    stop: str | None = None  # None, "graceful" or "now"
    cancel: frozenset[str] = msgspec.field(default_factory=frozenset)
    renewed: frozenset[str] = msgspec.field(default_factory=frozenset)


class QueueCounts(msgspec.Struct, frozen=True):
    """Jobs per state (every state present) and how many wait for a future run_at."""

    by_state: dict[JobState, int]
    scheduled: int
