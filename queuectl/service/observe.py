"""Watching jobs: an attempt's output (whole, or followed while it runs), jobs finished per
minute, and the Prometheus metrics text (the DLQ's groups are in service/dlq_groups.py).

Not imported by the package `__init__`: front ends import `queuectl.service.observe`
when they need it, so `queuectl enqueue` never loads it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from queuectl.errors import InvalidSpec, NotFound
from queuectl.models import FINAL_STATES, Attempt, JobState
from queuectl.service.jobs import get_job

if TYPE_CHECKING:
    from queuectl.store.base import Store

FOLLOW_POLL_S = 0.25  # workers publish output at most once a second
MAX_MINUTES = 1440
STREAMS = ("stdout", "stderr")


# -- output ----------------------------------------------------------------------------------


class Output(msgspec.Struct, frozen=True):
    """An attempt's output: all of it while it runs (as last published by its worker,
    at most about a second old) or its final tail. `attempt` is None when the job has
    not run yet. `*_bytes` count what the stream produced in all (the tail may be cut)."""

    attempt: int | None
    stdout: bytes
    stderr: bytes
    running: bool
    exit_code: int | None
    error: str | None
    stdout_bytes: int = 0
    stderr_bytes: int = 0


class OutputChunk(msgspec.Struct, frozen=True):
    """New output of a followed attempt; `stream` is "stdout" or "stderr"."""

    stream: str
    data: bytes


class End(msgspec.Struct, frozen=True):
    """The followed attempt ended: its exit code (None when it was killed before it
    exited or could not start) and the job's state after it."""

    exit_code: int | None
    state: JobState
    error: str | None = None


def attempt_output(store: Store, job_id: str, attempt: int | None = None) -> Output:
    """The latest attempt's output (or attempt `attempt`'s). NotFound for an unknown job or
    attempt number; a job that has not run yet has an empty Output with attempt None."""
    get_job(store, job_id)
    record = store.get_attempt(job_id, attempt)
    if record is None:
        if attempt is not None:
            raise NotFound(f"job {job_id!r} has no attempt {attempt}")
        return Output(None, b"", b"", running=False, exit_code=None, error=None)
    return Output(
        attempt=record.attempt,
        stdout=record.stdout,
        stderr=record.stderr,
        running=record.finished_at is None,
        exit_code=record.exit_code,
        error=record.error,
        stdout_bytes=_produced(record, "stdout"),
        stderr_bytes=_produced(record, "stderr"),
    )


def follow_output(
    store: Store,
    job_id: str,
    attempt: int | None = None,
    poll: float = FOLLOW_POLL_S,
    wait: Callable[[float], object] = time.sleep,
) -> Iterator[OutputChunk | End]:
    """The attempt's output so far, then its new output as its worker publishes it, then
    End when it ends. Without `attempt`: the latest one, waiting for the job to start
    when it has not yet (a job that ends without running yields End at once). Polls the
    store every `poll` seconds (pausing with `wait`); closing the iterator stops it."""
    get_job(store, job_id)
    sent = dict.fromkeys(STREAMS, 0)
    while True:
        record = store.get_attempt(job_id, attempt)
        if record is None:
            if attempt is not None:
                raise NotFound(f"job {job_id!r} has no attempt {attempt}")
            job = get_job(store, job_id)
            if job.state in FINAL_STATES:
                yield End(job.exit_code, job.state, job.last_error)
                return
            wait(poll)
            continue
        attempt = record.attempt  # follow this one to its end, not a later retry
        for stream in STREAMS:
            tail: bytes = getattr(record, stream)
            new = _produced(record, stream) - sent[stream]
            if new > 0:
                # More than the tail holds means output was cut: what is left is the tail.
                yield OutputChunk(stream, tail[-new:] if new < len(tail) else tail)
                sent[stream] += new
        if record.finished_at is not None:
            yield End(record.exit_code, get_job(store, job_id).state, record.error)
            return
        wait(poll)


def _produced(record: Attempt, stream: str) -> int:
    tail: bytes = getattr(record, stream)
    total: int = getattr(record, f"{stream}_bytes")
    return max(total, len(tail))


# -- throughput --------------------------------------------------------------------------------


class Minute(msgspec.Struct, frozen=True):
    """Attempts that ended in one minute: completed (exit 0) and failed (any error but a
    cancel or a release). `start` is UTC (serialised as ISO 8601 with Z)."""

    start: datetime
    completed: int
    failed: int


def throughput(store: Store, minutes: int = 60) -> list[Minute]:
    """The last `minutes` minutes, the current one included, oldest first, zeros included."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidSpec(f"minutes must be 1 to {MAX_MINUTES}, not {minutes}", field="minutes")
    first = (math.floor(store.now() / 60) - minutes + 1) * 60
    found = {int(row.start): row for row in store.throughput(float(first))}
    rows = []
    for start in range(first, first + 60 * minutes, 60):
        row = found.get(start)
        rows.append(
            Minute(
                start=datetime.fromtimestamp(start, UTC),
                completed=row.completed if row else 0,
                failed=row.failed if row else 0,
            )
        )
    return rows


# -- metrics ---------------------------------------------------------------------------------


def metrics_text(store: Store) -> str:
    """Every metric in the Prometheus text exposition format (see queuectl/metrics.py)."""
    from queuectl.metrics import Snapshot, render
    from queuectl.service.status import status

    report = status(store)
    snapshot = Snapshot(
        queues={q.queue: (q.by_state, q.oldest_pending_age) for q in report.queues},
        scheduled=report.counts.scheduled,
        workers=report.workers,
        buckets=store.metric_buckets(),
        samples=store.metric_samples(),
    )
    return render(snapshot)
