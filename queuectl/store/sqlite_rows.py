"""SQLite rows as queuectl's values."""

from __future__ import annotations

import json
import sqlite3

from queuectl.models import AfterMode, Attempt, Job, JobState, StopMode, WorkerInfo


def job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        command=row["command"],
        queue=row["queue"],
        state=JobState(row["state"]),
        priority=row["priority"],
        attempts=row["attempts"],
        last_attempt=row["last_attempt"],
        max_retries=row["max_retries"],
        timeout=row["timeout"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        last_error=row["last_error"],
        exit_code=row["exit_code"],
        cancel_requested=bool(row["cancel_requested"]),
        keep_daemons=bool(row["keep_daemons"]),
        seq=row["seq"],
        cwd=row["cwd"],
        env=json.loads(row["env"]) if row["env"] else None,
        after_mode=AfterMode(row["after_mode"]) if row["after_mode"] else None,
        blockers=row["blockers"],
        dependents=row["dependents"],
        cancelled_by=row["cancelled_by"],
        concurrency_key=row["concurrency_key"],
    )


def attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        job_id=row["job_id"],
        attempt=row["attempt"],
        worker_id=row["worker_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        exit_code=row["exit_code"],
        error=row["error"],
        stdout=bytes(row["stdout"]),
        stderr=bytes(row["stderr"]),
        stdout_bytes=row["stdout_bytes"],
        stderr_bytes=row["stderr_bytes"],
    )


def worker(row: sqlite3.Row) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        queues=tuple(json.loads(row["queues"])),
        slots=row["slots"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        stop_requested=stop_mode(row["stop_requested"]),
        running=tuple(json.loads(row["running"] or "[]")),
    )


def stop_mode(value: str | None) -> StopMode | None:
    return None if value is None else StopMode(value)
