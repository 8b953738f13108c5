"""What every `memory://` store of one URL shares in a process: the database itself.

The jobs, attempts, workers, config, paused queues and metric counters of one memory
database, the lock that makes each store call atomic, and the waiters to wake. Stores
opened on the same URL share it (as connections share a server's database); each keeps
its own clock offset (Store.advance_clock). Nothing is written anywhere: the database
lives as long as the process, or until `forget`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import threading
from dataclasses import dataclass, field

from queuectl.limits import QueueLimit
from queuectl.models import FINAL_STATES, Attempt, Job, JobState, Record, WorkerInfo

# Histogram bucket upper bounds (seconds), as the SQL backends' metric_buckets table.
BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0, float("inf"),
)  # fmt: skip
MINUTES_KEPT = 1440  # throughput: one day of per-minute counters

MetricKey = tuple[str, str, str, float]  # kind, queue, outcome, bucket


@dataclass
class Database:
    """One memory database. Every access holds `lock`."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    jobs: dict[str, Job] = field(default_factory=dict)  # by id, in enqueue (seq) order
    own_max_retries: dict[str, int | None] = field(default_factory=dict)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # per job, oldest first
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    config: dict[str, str] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    workers: dict[str, WorkerInfo] = field(default_factory=dict)  # running: read from jobs
    metrics: dict[MetricKey, tuple[int, float]] = field(default_factory=dict)
    minutes: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # slot: minute, ok, bad
    waiters: set[MemoryWaiter] = field(default_factory=set)
    after: dict[str, tuple[str, ...]] = field(default_factory=dict)  # job: jobs it runs after
    dependents: dict[str, list[str]] = field(default_factory=dict)  # job: jobs after it
    records: dict[str, dict[str, Record]] = field(default_factory=dict)  # kind: name: record
    queue_limits: dict[str, QueueLimit] = field(default_factory=dict)  # queuectl.limits
    key_limits: dict[str, int] = field(default_factory=dict)  # a key's own limit

    def wake(self) -> None:
        """Tell every idle worker's waiter that jobs may have changed."""
        for waiter in list(self.waiters):
            waiter.poke()

    def moved(self, old: Job, new: Job, now: float) -> None:
        """Count a job's change of state in the metrics, as the SQL backends' triggers do:
        a claim's wait, an ended run's time and outcome (and its minute), a waiting job
        cancelled before it ran."""
        if old.state is new.state:
            return
        if new.state is JobState.PROCESSING:
            self._observe("wait", new.queue, "", max(now - max(old.run_at, old.created_at), 0.0))
            return
        if new.state not in FINAL_STATES and new.state is not JobState.FAILED:
            return
        if old.state is not JobState.PROCESSING:
            self._add(("end", new.queue, str(new.state), 0.0), 0.0)
            return
        run = self.open_attempt(old.id, old.last_attempt)
        seconds = max(now - run.started_at, 0.0) if run else 0.0
        self._observe("run", new.queue, str(new.state), seconds)
        if new.state is not JobState.CANCELLED:
            self._count_minute(int(now // 60), new.state is JobState.COMPLETED)

    def open_attempt(self, job_id: str, number: int) -> Attempt | None:
        """The latest record of attempt `number` of the job."""
        return next(
            (a for a in reversed(self.attempts.get(job_id, [])) if a.attempt == number), None
        )

    def _observe(self, kind: str, queue: str, outcome: str, seconds: float) -> None:
        bucket = next(le for le in BUCKETS if le >= seconds)
        self._add((kind, queue, outcome, bucket), seconds)

    def _add(self, key: MetricKey, seconds: float) -> None:
        n, total = self.metrics.get(key, (0, 0.0))
        self.metrics[key] = (n + 1, total + seconds)

    def _count_minute(self, minute: int, completed: bool) -> None:
        slot = minute % MINUTES_KEPT
        kept, ok, bad = self.minutes.get(slot, (minute, 0, 0))
        if kept != minute:  # the slot still holds the same minute a day ago: start over
            ok = bad = 0
        self.minutes[slot] = (minute, ok + completed, bad + (not completed))


def is_open_run(run: Attempt, number: int, worker_id: str) -> bool:
    """Whether an attempt record is attempt `number`, still running under `worker_id`."""
    return run.attempt == number and run.worker_id == worker_id and run.finished_at is None


class MemoryWaiter:
    """A ChangeWaiter on a memory database: a pipe the database writes a byte into on
    every change worth a look, so an event loop can watch its read end."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        with database.lock:
            database.waiters.add(self)

    def poke(self) -> None:
        # Full: a wake-up is pending anyway. Closed: the waiter is going.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write, b"!")

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._read], [], [], max(timeout, 0.0))
        if not ready:
            return False
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass
        return True

    def fileno(self) -> int | None:
        return self._read

    def look_again_at(self) -> float | None:
        return None  # a change it is told of is visible already

    def close(self) -> None:
        with self._database.lock:
            self._database.waiters.discard(self)
        os.close(self._read)
        os.close(self._write)


_DATABASES: dict[str, Database] = {}
_REGISTRY_LOCK = threading.Lock()


def database(name: str) -> Database:
    """The database called `name` in this process, made empty on first use."""
    with _REGISTRY_LOCK:
        return _DATABASES.setdefault(name, Database())


def forget(name: str) -> None:
    """Drop the database called `name` (its stores keep the old one until closed)."""
    with _REGISTRY_LOCK:
        _DATABASES.pop(name, None)
