"""What RedisStore reads back: hashes (flat field/value arrays of bytes) as models.

Redis keeps every field as a string; an absent field is None. Numbers were written by the
Lua scripts (integers exactly, floats with 17 significant digits) or by repr(float)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from queuectl.models import AfterMode, Attempt, Job, JobState, StopMode, WorkerInfo

Fields = dict[str, bytes]


def fields(flat: Sequence[Any] | dict[Any, Any]) -> Fields:
    """A hash as {name: raw value}, from HGETALL's dict or a script's flat array."""
    if isinstance(flat, dict):
        return {_text(k): v for k, v in flat.items()}
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _str(f: Fields, name: str) -> str | None:
    value = f.get(name)
    return None if value is None else value.decode()


def _int(f: Fields, name: str) -> int | None:
    value = f.get(name)
    return None if value is None else int(value)


def _float(f: Fields, name: str) -> float | None:
    value = f.get(name)
    return None if value is None else float(value)


def job(flat: Sequence[Any] | dict[Any, Any]) -> Job:
    f = fields(flat)
    return Job(
        id=f["id"].decode(),
        command=f["command"].decode(),
        queue=f["queue"].decode(),
        state=JobState(f["state"].decode()),
        priority=int(f["priority"]),
        attempts=int(f["attempts"]),
        max_retries=int(f["max_retries"]),
        timeout=_float(f, "timeout"),
        run_at=float(f["run_at"]),
        created_at=float(f["created_at"]),
        updated_at=float(f["updated_at"]),
        worker_id=_str(f, "worker_id"),
        lease_expires_at=_float(f, "lease_expires_at"),
        last_error=_str(f, "last_error"),
        exit_code=_int(f, "exit_code"),
        cancel_requested=f.get("cancel_requested") == b"1",
        last_attempt=int(f["last_attempt"]),
        keep_daemons=f.get("keep_daemons") == b"1",
        seq=int(f["seq"]),
        cwd=_str(f, "cwd"),
        env=None if "env" not in f else json.loads(f["env"]),
        after_mode=AfterMode(f["after_mode"].decode()) if "after_mode" in f else None,
        blockers=_int(f, "blockers") or 0,
        dependents=_int(f, "dependents") or 0,
        cancelled_by=_str(f, "cancelled_by"),
        concurrency_key=_str(f, "concurrency_key"),
    )


def attempt(flat: Sequence[Any] | dict[Any, Any]) -> Attempt:
    f = fields(flat)
    return Attempt(
        job_id=f["job_id"].decode(),
        attempt=int(f["attempt"]),
        worker_id=f["worker_id"].decode(),
        started_at=float(f["started_at"]),
        finished_at=_float(f, "finished_at"),
        exit_code=_int(f, "exit_code"),
        error=_str(f, "error"),
        stdout=f.get("stdout", b""),
        stderr=f.get("stderr", b""),
        stdout_bytes=_int(f, "stdout_bytes") or 0,
        stderr_bytes=_int(f, "stderr_bytes") or 0,
    )


def worker(flat: Sequence[Any], running: Sequence[bytes]) -> WorkerInfo:
    f = fields(flat)
    queues = f["queues"].decode()
    stop = _str(f, "stop_requested")
    return WorkerInfo(
        id=f["id"].decode(),
        host=f["host"].decode(),
        pid=int(f["pid"]),
        queues=tuple(queues.split(",")) if queues else (),
        slots=int(f["slots"]),
        started_at=float(f["started_at"]),
        heartbeat_at=float(f["heartbeat_at"]),
        stop_requested=StopMode(stop) if stop else None,
        running=tuple(job_id.decode() for job_id in running),
    )


def optional(value: object) -> str:
    """A script argument for a value that may be None ("" stands for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)
