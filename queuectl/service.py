"""The operations users ask for, written once for every front end (CLI now, REST API next).

Each function takes an open Store, validates, calls it, and returns plain values; the
front ends only parse arguments and print. Nothing here knows which backend it runs on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from queuectl import config as cfg
from queuectl.errors import DuplicateJob, InvalidSpec, InvalidStateChange, JobNotFound
from queuectl.models import FINAL_STATES, Attempt, Job, JobState, NewJob, QueueCounts, WorkerInfo
from queuectl.spec import check_job_id, load_json, spec_from_mapping, to_new_job
from queuectl.timefmt import iso

if TYPE_CHECKING:
    from queuectl.store.base import Store

DEFAULT_MAX_RETRIES = int(cfg.KEYS["max-retries"].default)
PURGEABLE = (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)


def parse_state(text: str) -> JobState:
    """A state name as typed by a user; the error lists the valid ones."""
    try:
        return JobState(text.strip().lower())
    except ValueError:
        valid = ", ".join(s.value for s in JobState)
        raise InvalidSpec(f"unknown state {text!r} (valid: {valid})") from None


def settings(store: Store) -> cfg.Settings:
    return cfg.Settings.from_stored(store.get_config())


# -- jobs -------------------------------------------------------------------------------


def enqueue(store: Store, jobs: Sequence[NewJob]) -> list[str]:
    """Store validated jobs in one transaction: all of them or, on any error, none."""
    return store.enqueue_jobs(jobs, DEFAULT_MAX_RETRIES)


def enqueue_located(store: Store, located: Sequence[tuple[str, NewJob]]) -> list[str]:
    """Bulk enqueue of parsed input: a duplicate id is reported with its line (or item)."""
    try:
        return enqueue(store, [job for _, job in located])
    except DuplicateJob as err:
        where = next((w for w, job in located if job.id == err.job_id), None)
        if where is None:
            raise
        raise DuplicateJob(err.job_id, f"{where}: {err}") from None


def spec_with_overrides(spec: dict[str, Any], overrides: dict[str, Any]) -> NewJob:
    """Merge option values (already typed) over a parsed JSON spec, then validate once."""
    merged = {**spec, **{k: v for k, v in overrides.items() if v is not None}}
    if overrides.get("run_at") is not None:
        merged.pop("delay", None)
    if overrides.get("delay") is not None:
        merged.pop("run_at", None)
    return to_new_job(spec_from_mapping(merged))


def get_job(store: Store, job_id: str) -> Job:
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id!r}")
    return job


def job_details(store: Store, job_id: str) -> tuple[Job, list[Attempt]]:
    return get_job(store, job_id), store.list_attempts(job_id)


def last_attempt(store: Store, job_id: str, number: int | None = None) -> Attempt:
    """The latest attempt (or attempt `number`, its latest run) of a job that has run."""
    attempts = job_details(store, job_id)[1]
    if number is not None:
        attempts = [a for a in attempts if a.attempt == number]
    if not attempts:
        which = f"no attempt {number}" if number is not None else "not run yet"
        raise JobNotFound(f"job {job_id!r} has {which}")
    return attempts[-1]


def cancel(store: Store, job_ids: Sequence[str]) -> dict[str, JobState]:
    """Cancel each job. Every id is checked first, so a missing or finished one cancels
    none of them."""
    unique = list(dict.fromkeys(job_ids))
    for job_id in unique:
        job = get_job(store, job_id)
        if job.state in FINAL_STATES:
            raise InvalidStateChange(
                f"job {job_id!r} is already {job.state.value}; nothing to cancel"
            )
    return {job_id: store.cancel_job(job_id) for job_id in unique}


def purge(store: Store, states: Sequence[JobState], older_than: float | None) -> int:
    for state in states:
        if state not in PURGEABLE:
            allowed = ", ".join(s.value for s in PURGEABLE)
            raise InvalidSpec(f"cannot purge {state.value} jobs (only {allowed})")
    return store.purge_jobs(states, older_than)


def retry_dead(store: Store, job_ids: Sequence[str] | None) -> list[str]:
    """DLQ retry: the jobs go back to pending with attempts reset; all or none."""
    ids = None if job_ids is None else list(dict.fromkeys(job_ids))  # `retry a a` = `retry a`
    return store.retry_dead_jobs(ids, DEFAULT_MAX_RETRIES)


_UPDATE_FIELDS = {"id", "command", "queue", "priority", "max_retries", "timeout", "run_at", "state"}


def update(store: Store, text: str) -> Job:
    """Edit a job that is not running from a JSON object with its `id` and new fields."""
    data = load_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InvalidSpec('update needs a JSON object with the job\'s "id"')
    unknown = set(data) - _UPDATE_FIELDS
    if unknown:
        raise InvalidSpec(f"cannot update field(s): {', '.join(sorted(unknown))}")
    job_id = data.pop("id")
    check_job_id(job_id)
    changes: dict[str, object] = {}
    if "state" in data:
        state = parse_state(str(data.pop("state")))
        if state is not JobState.PENDING:
            raise InvalidSpec(f'update can only set "state" to "pending" (requeue), not "{state}"')
        changes["state"] = state
    if data:
        # Validate the new values with the same rules as a new job's spec.
        current = get_job(store, job_id)
        probe = to_new_job(spec_from_mapping({"command": current.command, "id": job_id, **data}))
        for name in data:
            changes[name] = probe.run_at if name == "run_at" else getattr(probe, name)
    if not changes:
        raise InvalidSpec("nothing to update: give at least one field besides id")
    return store.update_job(job_id, changes)


# -- status, workers, config ------------------------------------------------------------


class Status(msgspec.Struct, frozen=True):
    counts: QueueCounts
    workers: list[WorkerInfo]


def status(store: Store) -> Status:
    alive = settings(store).lease_seconds
    return Status(counts=store.count_jobs(), workers=store.list_workers(alive_within=alive))


def live_workers(store: Store, include_dead: bool = False) -> list[WorkerInfo]:
    alive = None if include_dead else settings(store).lease_seconds
    return store.list_workers(alive_within=alive)


def config_values(store: Store) -> dict[str, str]:
    return cfg.effective_values(store.get_config())


def config_get(store: Store, key: str) -> str:
    name = cfg.canonical_key(key)
    return config_values(store)[name]


def config_set(store: Store, key: str, value: str) -> tuple[str, str]:
    name, stored = cfg.parse_value(key, value)
    store.set_config(name, stored)
    return name, stored


def config_reset(store: Store, key: str | None) -> str | None:
    """Forget one key's value (or all); returns the canonical key name."""
    name = cfg.canonical_key(key) if key is not None else None
    store.reset_config(name)
    return name


# -- output shapes shared by the CLI's --json and the API -------------------------------


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "command": job.command,
        "state": job.state.value,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "priority": job.priority,
        "queue": job.queue,
        "run_at": iso(job.run_at),
        "timeout": job.timeout,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "worker_id": job.worker_id,
        "lease_expires_at": iso(job.lease_expires_at),
        "exit_code": job.exit_code,
        "last_error": job.last_error,
        "cancel_requested": job.cancel_requested,
        "final": job.state in FINAL_STATES,
    }


def attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "worker_id": attempt.worker_id,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "exit_code": attempt.exit_code,
        "error": attempt.error,
        "stdout": attempt.stdout.decode("utf-8", "replace"),
        "stderr": attempt.stderr.decode("utf-8", "replace"),
    }


def worker_dict(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "slots": worker.slots,
        "started_at": iso(worker.started_at),
        "heartbeat_at": iso(worker.heartbeat_at),
        "stop_requested": worker.stop_requested,
        "running": list(worker.running),
    }


def status_dict(report: Status) -> dict[str, Any]:
    return {
        "jobs": {state.value: n for state, n in report.counts.by_state.items()},
        "scheduled": report.counts.scheduled,
        "workers": [worker_dict(w) for w in report.workers],
    }


# -- stopping workers ---------------------------------------------------------------------


def _is_queuectl(pid: int) -> bool:
    """Whether a local pid still runs queuectl (a dead worker's pid may have been reused).
    Where /proc cannot tell, the database request alone reaches the worker."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"queuectl" in handle.read()
    except OSError:
        return False


def stop_workers(store: Store, now: bool, timeout: float, host: str) -> tuple[int, list[str]]:
    """Ask every live worker to stop (through the database, seen on its next heartbeat),
    signal those on this host directly, and wait up to `timeout` seconds for them to go.
    Returns (how many were asked, ids still running when the wait ended)."""
    import contextlib
    import os
    import signal
    import time

    workers = live_workers(store)
    if not workers:
        return 0, []
    ids = [w.id for w in workers]
    store.request_worker_stop("now" if now else "graceful", ids)
    for worker in workers:
        if worker.host == host and _is_queuectl(worker.pid):
            # Gone already, or not ours: the database request still reaches it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    remaining = ids
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {w.id for w in live_workers(store)}
        remaining = [i for i in remaining if i in alive]
    return len(ids), remaining
