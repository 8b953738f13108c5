"""Every JSON shape queuectl prints or serves, written once for the CLI's --json and the
HTTP API: snake_case keys, times as ISO 8601 UTC strings (`...Z`), output as UTF-8 text
(undecodable bytes replaced). Plain dicts and lists, ready for any JSON encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from queuectl.errors import InvalidSpec, QueueError
from queuectl.models import FINAL_STATES, Attempt, Job, JobPage, WorkerInfo
from queuectl.timefmt import iso

if TYPE_CHECKING:
    from queuectl.service.config import ConfigItem
    from queuectl.service.observe import Output
    from queuectl.service.status import Status


def _encodable(text: str) -> str:
    """Text any JSON encoder takes: a lone surrogate (stored by a version that did not
    refuse one) is shown as its `\\udXXX` escape instead of failing the whole response."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable_env(env: dict[str, str]) -> dict[str, str]:
    return {_encodable(k): _encodable(v) for k, v in env.items()}


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "command": job.command,
        "state": job.state.value,
        "attempts": job.attempts,
        "last_attempt": job.last_attempt,
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
        "keep_daemons": job.keep_daemons,
        "cwd": job.cwd,
        "env": None if job.env is None else _encodable_env(job.env),
        "seq": job.seq,
    }


# `show` prints the end of each attempt's output: all of it is `logs` (whose one attempt
# is at most the output-limit, 16 MiB a stream at most), never one document per attempt.
SHOW_TAIL_BYTES = 64 * 1024


def attempt_dict(attempt: Attempt, tail: int | None = None) -> dict[str, Any]:
    """An attempt with its output, or its last `tail` bytes of each stream (and how many
    bytes each stream holds in all)."""
    found: dict[str, Any] = {
        "attempt": attempt.attempt,
        "worker_id": attempt.worker_id,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "exit_code": attempt.exit_code,
        "error": attempt.error,
    }
    for name, stream in (("stdout", attempt.stdout), ("stderr", attempt.stderr)):
        shown = stream if tail is None else stream[-tail:]
        found[name] = shown.decode("utf-8", "replace")
        if tail is not None:
            found[f"{name}_bytes"] = len(stream)
    return found


def output_dict(out: Output) -> dict[str, Any]:
    """An attempt's output (`logs --json`, GET /api/jobs/{id}/output)."""
    return {
        "attempt": out.attempt,
        "stdout": out.stdout.decode("utf-8", "replace"),
        "stderr": out.stderr.decode("utf-8", "replace"),
        "running": out.running,
        "exit_code": out.exit_code,
        "error": out.error,
    }


def job_details_dict(job: Job, attempts: Sequence[Attempt]) -> dict[str, Any]:
    """A job with its attempts (the API's GET /api/jobs/{id})."""
    return {"job": job_dict(job), "attempts": [attempt_dict(a) for a in attempts]}


def job_show_dict(job: Job, attempts: Sequence[Attempt]) -> dict[str, Any]:
    """`show --json`: the job's fields with its attempts under "attempt_log", each with
    the last SHOW_TAIL_BYTES of its output."""
    log = [attempt_dict(a, SHOW_TAIL_BYTES) for a in attempts]
    return {**job_dict(job), "attempt_log": log}


def page_dict(page: JobPage) -> dict[str, Any]:
    return {"jobs": [job_dict(job) for job in page.jobs], "next_cursor": page.next_cursor}


def worker_dict(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "slots": worker.slots,
        "started_at": iso(worker.started_at),
        "heartbeat_at": iso(worker.heartbeat_at),
        "heartbeat_age": worker.heartbeat_age,
        "alive": worker.alive,
        "stop_requested": worker.stop_requested,
        "running": list(worker.running),
    }


def status_dict(report: Status) -> dict[str, Any]:
    return {
        "jobs": {state.value: n for state, n in report.counts.by_state.items()},
        "queues": {
            q.queue: {
                **{state.value: n for state, n in q.by_state.items()},
                "oldest_pending_age": q.oldest_pending_age,
            }
            for q in report.queues
        },
        "scheduled": report.counts.scheduled,
        "workers": [worker_dict(w) for w in report.workers],
        "slots": report.slots,
        "slots_busy": report.slots_busy,
        "paused": report.paused,
    }


def config_item_dict(item: ConfigItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "value": item.value,
        "default": item.default,
        "is_default": item.is_default,
        "meaning": item.meaning,
        "type": item.type,
    }


def error_dict(err: QueueError) -> dict[str, Any]:
    """`{"error": "<one line>"}`, plus "field" for an invalid spec that names one."""
    data: dict[str, Any] = {"error": " ".join(str(err).split())}
    if isinstance(err, InvalidSpec) and err.field is not None:
        data["field"] = err.field
    return data
