"""Every JSON shape queuectl prints or serves, written once as a msgspec Struct for the
CLI's --json, the HTTP API's responses and the API's OpenAPI schema: snake_case keys,
times as ISO 8601 UTC strings (`...Z`), output as UTF-8 text (undecodable bytes
replaced). Each Struct's `of` builds it from the service's values; the `*_dict`
functions give the CLI plain dicts (same keys, same order) for any JSON encoder.

Service values that are their own JSON already (ConfigItem, observe's Minute and
DlqGroup) are served as they are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from queuectl import models
from queuectl.errors import InvalidSpec, QueueError
from queuectl.timefmt import iso

if TYPE_CHECKING:
    from queuectl.service.config import ConfigItem
    from queuectl.service.observe import Output as ServiceOutput
    from queuectl.service.retention import Prune
    from queuectl.service.schedules import ScheduleView
    from queuectl.service.status import Status as ServiceStatus
    from queuectl.service.workflows import Links


def _encodable(text: str) -> str:
    """Text any JSON encoder takes: a lone surrogate (stored by a version that did not
    refuse one) is shown as its `\\udXXX` escape instead of failing the whole response."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable_env(env: dict[str, str]) -> dict[str, str]:
    return {_encodable(k): _encodable(v) for k, v in env.items()}


def _text(stream: bytes) -> str:
    return stream.decode("utf-8", "replace")


class Job(msgspec.Struct):
    """A job as shown: `final` says whether its state is one it never leaves."""

    id: str
    command: str
    state: str
    attempts: int  # failed attempts counted against max_retries (reset by a requeue)
    last_attempt: int  # number of the latest attempt; attempt numbers never repeat
    max_retries: int
    priority: int
    queue: str
    run_at: str | None
    timeout: float | None
    created_at: str
    updated_at: str
    worker_id: str | None
    lease_expires_at: str | None
    exit_code: int | None
    last_error: str | None
    cancel_requested: bool
    final: bool
    keep_daemons: bool
    cwd: str | None  # None: the worker's directory
    env: dict[str, str] | None  # merged over the worker's environment
    seq: int
    after_mode: str | None  # runs after other jobs: "completed" or "finished"; else None
    blocked: bool  # pending, waiting for jobs it runs after
    waiting_for: int  # how many of those have not ended as it needs
    dependents: int  # how many jobs run after it
    cancelled_by: str | None  # the job whose end cancelled it
    concurrency_key: str | None  # jobs sharing it share its limit (queuectl.limits)
    held_back: str | None  # why it is due but not running: a limit (None: none holds it)

    @classmethod
    def of(cls, job: models.Job, held_back: str | None = None) -> Job:
        return cls(
            id=job.id,
            command=job.command,
            state=job.state.value,
            attempts=job.attempts,
            last_attempt=job.last_attempt,
            max_retries=job.max_retries,
            priority=job.priority,
            queue=job.queue,
            run_at=iso(job.run_at),
            timeout=job.timeout,
            created_at=iso(job.created_at),
            updated_at=iso(job.updated_at),
            worker_id=job.worker_id,
            lease_expires_at=iso(job.lease_expires_at),
            exit_code=job.exit_code,
            last_error=job.last_error,
            cancel_requested=job.cancel_requested,
            final=job.state in models.FINAL_STATES,
            keep_daemons=job.keep_daemons,
            cwd=job.cwd,
            env=None if job.env is None else _encodable_env(job.env),
            seq=job.seq,
            after_mode=None if job.after_mode is None else job.after_mode.value,
            blocked=job.blocked,
            waiting_for=job.blockers,
            dependents=job.dependents,
            cancelled_by=job.cancelled_by,
            concurrency_key=job.concurrency_key,
            held_back=held_back,
        )


class Attempt(msgspec.Struct):
    """One run of a job with its output."""

    attempt: int
    worker_id: str
    started_at: str
    finished_at: str | None
    exit_code: int | None
    error: str | None
    stdout: str
    stderr: str

    @classmethod
    def of(cls, attempt: models.Attempt, tail: int | None = None) -> Attempt:
        """With `tail`, only the last `tail` bytes of each stream."""
        cut = slice(None) if tail is None else slice(-tail, None)
        return cls(
            attempt=attempt.attempt,
            worker_id=attempt.worker_id,
            started_at=iso(attempt.started_at),
            finished_at=iso(attempt.finished_at),
            exit_code=attempt.exit_code,
            error=attempt.error,
            stdout=_text(attempt.stdout[cut]),
            stderr=_text(attempt.stderr[cut]),
        )


class JobPage(msgspec.Struct):
    jobs: list[Job]
    next_cursor: str | None

    @classmethod
    def of(cls, page: models.JobPage) -> JobPage:
        return cls([Job.of(job) for job in page.jobs], page.next_cursor)


class LinkedJob(msgspec.Struct):
    """A job linked in a workflow, with its state (None: deleted since)."""

    id: str
    state: str | None


class JobDetails(msgspec.Struct):
    """A job with its attempts (the API's GET /api/jobs/{id}), the jobs it runs after and
    those that run after it."""

    job: Job
    attempts: list[Attempt]
    after: list[LinkedJob]
    dependents: list[LinkedJob]

    @classmethod
    def of(
        cls,
        job: models.Job,
        attempts: Sequence[models.Attempt],
        links: Links | None = None,
        held_back: str | None = None,
    ) -> JobDetails:
        after = [] if links is None else [LinkedJob(j.id, j.state) for j in links.after]
        deps = [] if links is None else [LinkedJob(j.id, j.state) for j in links.dependents]
        return cls(Job.of(job, held_back), [Attempt.of(a) for a in attempts], after, deps)


class Output(msgspec.Struct):
    """An attempt's output (`logs --json`, GET /api/jobs/{id}/output)."""

    attempt: int | None
    stdout: str
    stderr: str
    running: bool
    exit_code: int | None
    error: str | None

    @classmethod
    def of(cls, out: ServiceOutput) -> Output:
        stdout, stderr = _text(out.stdout), _text(out.stderr)
        return cls(out.attempt, stdout, stderr, out.running, out.exit_code, out.error)


class Worker(msgspec.Struct):
    id: str
    host: str
    pid: int
    queues: list[str]
    slots: int
    started_at: str
    heartbeat_at: str
    heartbeat_age: float | None
    alive: bool | None
    stop_requested: str | None
    running: list[str]  # every processing job it holds: `busy` running, `reserved` waiting
    busy: int
    reserved: int

    @classmethod
    def of(cls, worker: models.WorkerInfo) -> Worker:
        return cls(
            id=worker.id,
            host=worker.host,
            pid=worker.pid,
            queues=list(worker.queues),
            slots=worker.slots,
            started_at=iso(worker.started_at),
            heartbeat_at=iso(worker.heartbeat_at),
            heartbeat_age=worker.heartbeat_age,
            alive=worker.alive,
            stop_requested=None if worker.stop_requested is None else worker.stop_requested.value,
            running=list(worker.running),
            busy=worker.busy,
            reserved=worker.reserved,
        )


class LastPrune(msgspec.Struct):
    """When retention last pruned finished jobs, and how many it removed."""

    started_at: str
    finished_at: str | None
    removed: int
    total: int  # since the first prune

    @classmethod
    def of(cls, prune: Prune) -> LastPrune:
        return cls(iso(prune.started_at), iso(prune.finished_at), prune.removed, prune.total)


class Status(msgspec.Struct):
    """Jobs per state, and per queue with its oldest due job's wait (seconds)."""

    jobs: dict[str, int]
    queues: dict[str, dict[str, float | None]]
    scheduled: int  # pending jobs due later (counted in jobs["pending"] too)
    blocked: int  # pending jobs waiting for jobs they run after (in jobs["pending"] too)
    due: int  # pending jobs due now: jobs["pending"] - scheduled - blocked
    workers: list[Worker]
    slots: int
    slots_busy: int  # slots running a job
    slots_reserved: int  # jobs claimed ahead, waiting for a slot (not running)
    paused: list[str]  # paused queues; "*" = every queue
    last_prune: LastPrune | None  # retention's latest prune (None: none yet)
    held_back: dict[str, str]  # queue or "key K": why its due jobs wait (a limit)

    @classmethod
    def of(cls, report: ServiceStatus) -> Status:
        queues: dict[str, dict[str, float | None]] = {
            q.queue: {
                **{state.value: n for state, n in q.by_state.items()},
                "oldest_pending_age": q.oldest_pending_age,
            }
            for q in report.queues
        }
        return cls(
            jobs={state.value: n for state, n in report.counts.by_state.items()},
            queues=queues,
            scheduled=report.counts.scheduled,
            blocked=report.counts.blocked,
            due=report.due,
            workers=[Worker.of(w) for w in report.workers],
            slots=report.slots,
            slots_busy=report.slots_busy,
            slots_reserved=report.slots_reserved,
            paused=report.paused,
            last_prune=None if report.last_prune is None else LastPrune.of(report.last_prune),
            held_back=report.held_back,
        )


class Error(msgspec.Struct, omit_defaults=True):
    """`{"error": "<one line>"}`, plus "field" for an invalid value that names one."""

    error: str
    field: str | None = None

    @classmethod
    def of(cls, err: QueueError) -> Error:
        field = err.field if isinstance(err, InvalidSpec) else None
        return cls(" ".join(str(err).split()), field)


# -- plain dicts, for the CLI --------------------------------------------------------------


def _builtins(shape: msgspec.Struct) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.to_builtins(shape)
    return found


def job_dict(job: models.Job, held_back: str | None = None) -> dict[str, Any]:
    return _builtins(Job.of(job, held_back))


# `show` prints the end of each attempt's output: all of it is `logs` (whose one attempt
# is at most the output-limit, 16 MiB a stream at most), never one document per attempt.
SHOW_TAIL_BYTES = 64 * 1024


def _tail_dict(attempt: models.Attempt) -> dict[str, Any]:
    """An attempt with the last SHOW_TAIL_BYTES of each stream, each followed by how many
    bytes that stream holds in all."""
    sizes = {"stdout": len(attempt.stdout), "stderr": len(attempt.stderr)}
    found: dict[str, Any] = {}
    for key, value in _builtins(Attempt.of(attempt, SHOW_TAIL_BYTES)).items():
        found[key] = value
        if key in sizes:
            found[f"{key}_bytes"] = sizes[key]
    return found


def job_show_dict(
    job: models.Job,
    attempts: Sequence[models.Attempt],
    links: Links | None = None,
    held_back: str | None = None,
) -> dict[str, Any]:
    """`show --json`: the job's fields, the jobs it runs after and those after it (each
    with its state), and its attempts under "attempt_log", each with the end of its
    output."""
    linked = {} if links is None else _builtins(links)
    shown = job_dict(job, held_back)
    return {**shown, **linked, "attempt_log": [_tail_dict(a) for a in attempts]}


def output_dict(out: ServiceOutput) -> dict[str, Any]:
    return _builtins(Output.of(out))


def worker_dict(worker: models.WorkerInfo) -> dict[str, Any]:
    return _builtins(Worker.of(worker))


def status_dict(report: ServiceStatus) -> dict[str, Any]:
    return _builtins(Status.of(report))


def config_item_dict(item: ConfigItem) -> dict[str, Any]:
    return _builtins(item)


def error_dict(err: QueueError) -> dict[str, Any]:
    return _builtins(Error.of(err))


class ScheduleShape(msgspec.Struct):
    """A schedule as shown (`schedule list/show --json`, /api/schedules): its timing, in
    words too, its next due times, its latest run with that job's state."""

    name: str
    spec: dict[str, Any]
    cron: str | None
    every: float | None
    tz: str
    words: str
    catch_up: str
    no_overlap: bool
    paused: bool
    next_runs: list[str]
    last_run: str | None
    last_job: str | None
    last_state: str | None
    skipped: int
    created_at: str

    @classmethod
    def of(cls, view: ScheduleView) -> ScheduleShape:
        s = view.schedule
        return cls(
            name=s.name,
            spec=s.spec,
            cron=s.cron,
            every=s.every,
            tz=s.tz,
            words=view.words,
            catch_up=s.catch_up.value,
            no_overlap=s.no_overlap,
            paused=s.paused,
            next_runs=[iso(at) for at in view.upcoming],
            last_run=iso(s.last_due),
            last_job=s.last_job,
            last_state=view.last_state,
            skipped=s.skipped,
            created_at=iso(s.created_at),
        )


def schedule_dict(view: ScheduleView) -> dict[str, Any]:
    return _builtins(ScheduleShape.of(view))
