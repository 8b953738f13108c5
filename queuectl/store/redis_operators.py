"""RedisStore's operator changes: update, cancel, DLQ retry, requeue, delete, purge.

A mixin, so redis.py keeps the rest. Each reads the jobs, lets queuectl.rules decide (a
rule that refuses raises), and applies every decided change in one script (apply.lua),
all or none, each guarded by the state and last_attempt it was decided from; when a job
moved meanwhile, it reads and decides again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from queuectl import rules
from queuectl.errors import JobNotFound, StoreError
from queuectl.models import Job, JobChanges, JobState
from queuectl.store.redis_rows import optional

if TYPE_CHECKING:
    import redis

    from queuectl.store.redis_client import Scripts

PURGE_BATCH = 2000  # jobs deleted per script call: a big purge never blocks the server long
MAX_DECISIONS = 10  # operators' changes decided again when jobs keep moving meanwhile


class RedisOperators:
    _client: redis.Redis
    _scripts: Scripts

    def _key(self, name: str) -> str:
        raise NotImplementedError

    def get_job(self, job_id: str) -> Job | None:
        raise NotImplementedError

    def _get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        raise NotImplementedError

    def _apply(self, changes: list[tuple[Job, str, dict[str, str]]]) -> str | None:
        """Apply decided changes to several jobs, all or none, each guarded by the job's
        state and last_attempt as read; the id of a job that moved meanwhile (nothing
        changed then), or None when all applied."""
        args: list[Any] = []
        for job, action, fields in changes:
            args += [job.id, str(job.state), job.last_attempt, action, len(fields)]
            for name, value in fields.items():
                args += [name, value]
        answer = self._scripts.run("apply", args)
        return None if answer[0] == b"ok" else answer[1].decode()

    def _decide_and_apply(
        self,
        job_ids: Sequence[str],
        decide: Callable[[Job], tuple[str, dict[str, str]] | None],
        strict: bool = True,
    ) -> list[str]:
        """Read the jobs, let `decide(job)` say what to write (it raises when a rule
        refuses; None skips the job when not `strict`), apply all guarded, all or none;
        read and decide again while one moved meanwhile. Returns the ids changed. When
        not `strict`, missing jobs are skipped too."""
        ids = list(dict.fromkeys(job_ids))
        for _ in range(MAX_DECISIONS):
            jobs = self._get_jobs(ids)
            decided = []
            for job_id in ids:
                if job_id not in jobs:
                    if strict:
                        raise JobNotFound(f"no job with id {job_id!r}")
                    continue
                change = decide(jobs[job_id])
                if change is not None:
                    decided.append((jobs[job_id], *change))
            if not decided or self._apply(decided) is None:
                return [job.id for job, _, _ in decided]
        raise StoreError("jobs kept changing while being changed; try again")

    def update_job(self, job_id: str, changes: JobChanges) -> Job:
        def decide(job: Job) -> tuple[str, dict[str, str]]:
            return "set", _update_fields(rules.update(job, changes))

        self._decide_and_apply([job_id], decide)
        updated = self.get_job(job_id)
        if updated is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return updated

    def cancel_jobs(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        actions: dict[str, rules.CancelAction] = {}

        def decide(job: Job) -> tuple[str, dict[str, str]]:
            action = actions[job.id] = rules.cancel(job)
            if action is rules.CancelAction.CANCEL:
                return "set", {"state": "scancelled", "cancel_requested": "s0"}
            return "set", {"cancel_requested": "s1"}

        self._decide_and_apply(job_ids, decide)
        return {job_id: rules.state_after_cancel(actions[job_id]) for job_id in job_ids}

    def retry_dead_jobs(self, job_ids: Sequence[str] | None, default_max_retries: int) -> list[str]:
        fields = _requeue_fields(default_max_retries, keep_owner=True)
        if job_ids is None:  # every job dead now; one that moved on meanwhile is left
            key = self._key("state:dead")
            dead: list[Any] = self._scripts.call(lambda: self._client.zrange(key, 0, -1), read=True)

            def still_dead(job: Job) -> tuple[str, dict[str, str]] | None:
                return ("set", fields) if job.state in rules.RETRYABLE_FROM_DLQ else None

            return self._decide_and_apply([i.decode() for i in dead], still_dead, strict=False)

        def decide(job: Job) -> tuple[str, dict[str, str]]:
            rules.check_dlq_retry(job)
            return "set", fields

        return self._decide_and_apply(job_ids, decide)

    def requeue_jobs(self, job_ids: Sequence[str], default_max_retries: int) -> list[str]:
        def decide(job: Job) -> tuple[str, dict[str, str]]:
            rules.check_requeue(job)
            return "set", fields

        fields = _requeue_fields(default_max_retries, keep_owner=False)
        return self._decide_and_apply(job_ids, decide)

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        def decide(job: Job) -> tuple[str, dict[str, str]]:
            rules.check_delete(job)
            return "delete", {}

        return len(self._decide_and_apply(job_ids, decide))

    def purge_jobs(self, states: Sequence[JobState], older_than: float | None = None) -> int:
        purgeable = [str(s) for s in states if s in rules.PURGEABLE]
        if not purgeable:
            return 0
        total = 0
        while True:
            args = [optional(older_than), PURGE_BATCH, *purgeable]
            gone = int(self._scripts.run("purge", args))
            total += gone
            if gone < PURGE_BATCH:
                return total


def _update_fields(update: rules.JobUpdate) -> dict[str, str]:
    """update_job's decision as apply.lua's field values."""

    c = update.changes
    fields: dict[str, str] = {}
    for name in ("command", "queue", "priority", "max_retries", "run_at"):
        value = getattr(c, name)
        if value is not msgspec.UNSET:
            fields[name] = "s" + optional(float(value) if name == "run_at" else value)
    if c.max_retries is not msgspec.UNSET:
        fields["own_max_retries"] = "s" + str(c.max_retries)
    if c.timeout is not msgspec.UNSET:
        fields["timeout"] = "d" if c.timeout is None else "s" + repr(float(c.timeout))
    if c.requeue:
        fields["state"] = "spending"
        fields["cancel_requested"] = "s0"
        if update.reset_attempts:
            fields["attempts"] = "s0"
        if update.due_now:
            fields["run_at"] = "n"
    return fields


def _requeue_fields(default_max_retries: int, keep_owner: bool) -> dict[str, str]:
    """A DLQ retry's or requeue's fields: pending, due now, from scratch, the retry budget
    the job's own or else the default (rules.max_retries_for, applied by apply.lua's "o"
    since only the store keeps whether the job set its own)."""
    fields = {
        "state": "spending",
        "attempts": "s0",
        "run_at": "n",
        "last_error": "d",
        "exit_code": "d",
        "cancel_requested": "s0",
        "max_retries": "o" + str(default_max_retries),
    }
    if not keep_owner:
        fields |= {"worker_id": "d", "lease_expires_at": "d"}
    return fields
