"""Writing down how an attempt ended, whatever the store makes of its output.

A store may refuse a result for what it holds (a value too large, a constraint): the same
write would be refused again, so it is never retried as is. It is written again in a
degraded form instead, with shorter output tails, then none, its error saying so; the
job's state is what matters and always gets recorded when the store lets it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from queuectl.config import Settings
from queuectl.errors import StoreError, StoreRefused
from queuectl.models import Interrupt, Job, JobState, RunResult
from queuectl.store import Store
from queuectl.timefmt import relative

log = logging.getLogger("queuectl.worker")

# Tails to fall back to, per stream, when a store refuses a result: each is tried once,
# the largest first, among those shorter than what the result holds.
DEGRADED_TAILS = (1 << 20, 64 << 10, 4 << 10, 0)


@dataclass
class Finished:
    """A command that ended, waiting for its result to be recorded."""

    job: Job
    result: RunResult
    reason: Interrupt | None  # None (it ended by itself), CANCELLED or RELEASED
    failures: int = 0  # failed tries while the store answered other writes


class Ending(StrEnum):
    """How a recorded attempt ended, as the worker's summary counts it."""

    COMPLETED = "completed"
    FAILED = "failed"  # a retry is due
    DEAD = "dead"
    CANCELLED = "cancelled"
    RELEASED = "released"  # handed back unfinished, pending again


@dataclass(frozen=True)
class Recorded:
    stored: bool  # False: the lease was lost meanwhile and the job moved on
    outcome: str  # for the log: "completed", "failed (...), retry 1/3 in 2.00s,", ...
    ending: Ending  # for the worker's tally
    retry_delay: float | None = None  # the job failed and is due again after this


COMMAND_SHOWN = 200  # a `started` line shows at most this many characters of the command


def event_fields(event: str, job: Job, **more: object) -> dict[str, object]:
    """A job event's fields, for a log call's `extra`: JSON lines carry them (and text
    lines colour failed and dead events) instead of leaving them inside one message."""
    fields = {"event": event, "job": job.id, "attempt": job.last_attempt, "queue": job.queue}
    return {"fields": {**fields, **more}}


def command_shown(command: str) -> str:
    """The command for a `started` line: a command can be megabytes long."""
    if len(command) <= COMMAND_SHOWN:
        return command
    return f"{command[:COMMAND_SHOWN]}... ({len(command) - COMMAND_SHOWN} more characters)"


def degraded(result: RunResult, keep: int) -> RunResult:
    """`result` with at most the last `keep` bytes of each stream; its error says so."""
    if keep > 0:
        note = f"output too large to store; kept the last {keep} bytes of each stream"
    else:
        note = "output too large to store; kept none of it"
    return msgspec.structs.replace(
        result,
        error=f"{result.error}; {note}" if result.error else note,
        stdout=result.stdout[-keep:] if keep else b"",
        stderr=result.stderr[-keep:] if keep else b"",
    )


def record(
    store: Store, settings: Settings, worker_id: str, done: Finished, suspect: bool = False
) -> Recorded:
    """Record `done`, degraded as far as it takes for the store to accept it. Raises
    StoreRefused only when even the result without output is refused, and StoreError when
    the store cannot be used (worth trying again). A `suspect` result (it kept failing
    while the store took other writes: PostgreSQL drops the connection on some writes it
    cannot take) goes straight to the degraded forms, and any failure of one of those
    counts as a refusal."""
    result = done.result
    longest = max(len(result.stdout), len(result.stderr))
    fallbacks = [keep for keep in DEGRADED_TAILS if keep < longest]
    refusals: tuple[type[StoreError], ...] = (StoreError,) if suspect else (StoreRefused,)
    if suspect and fallbacks:
        result = degraded(done.result, fallbacks.pop(0))
    while True:
        try:
            return _write(store, settings, worker_id, done, result)
        except refusals as err:
            if not fallbacks:
                raise
            keep = fallbacks.pop(0)
            log.warning(
                "job %s attempt %d: the database refused its result (%s); "
                "recording it with %d bytes of output per stream instead",
                done.job.id,
                done.job.last_attempt,
                err,
                keep,
            )
            result = degraded(done.result, keep)


def _write(
    store: Store, settings: Settings, worker_id: str, done: Finished, result: RunResult
) -> Recorded:
    job = done.job
    if done.reason is Interrupt.CANCELLED:
        ok = store.cancel_running_job(job.id, worker_id, job.last_attempt, result)
        return Recorded(ok, "cancelled", Ending.CANCELLED)
    if done.reason is Interrupt.RELEASED:
        if not store.release_job(job.id, worker_id, job.last_attempt):
            return Recorded(False, "released", Ending.RELEASED)
        return _released(store, job)
    if done.result.succeeded:
        ok = store.complete_job(job.id, worker_id, job.last_attempt, result)
        return Recorded(ok, "completed", Ending.COMPLETED)
    delay = settings.retry_delay(job.attempts, random.random())
    state = store.fail_job(job, result, delay)
    outcome = failure_text(job, result, state, delay)
    if state is JobState.FAILED:
        return Recorded(True, outcome, Ending.FAILED, delay)
    return Recorded(state is not None, outcome, Ending.DEAD)


def _released(store: Store, job: Job) -> Recorded:
    """A release that applied: the job is pending again, or cancelled when its cancel was
    asked for meanwhile (rules.released). The store says only that the release applied,
    so the job is read back (one cancelled by an operator just after the release ended
    cancelled all the same)."""
    try:
        current = store.get_job(job.id)
    except StoreError:  # the release is stored: never tried again for want of this read
        return Recorded(True, "released (attempt not counted)", Ending.RELEASED)
    if current is not None and current.state is JobState.CANCELLED:
        outcome = "cancelled (a cancel was asked for; attempt not counted)"
        return Recorded(True, outcome, Ending.CANCELLED)
    return Recorded(True, "released to pending (attempt not counted)", Ending.RELEASED)


def failure_text(job: Job, result: RunResult, state: JobState | None, delay: float) -> str:
    if state is JobState.FAILED:
        retry = f"retry {job.attempts}/{job.max_retries} {relative(delay)}"
        return f"failed ({result.error}), {retry},"
    if state is JobState.DEAD:
        return f"failed ({result.error}), dead (moved to the DLQ),"
    return f"failed ({result.error})"
