"""Jobs whose worker died: their lease expired, so they go back to the retry rules.

A starting or running worker reaps them, and so does every command that reads or changes
jobs (`list`, `show`, `logs`, `cancel`, `retry`, `wait`, `status`): a job must not stay
`processing` for good because no worker is running to notice, and `cancel` or `retry`
must not answer for a worker that is gone."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, NamedTuple

from queuectl.config import Settings
from queuectl.models import Job, JobState, RunResult

if TYPE_CHECKING:
    from queuectl.store.base import Store

LOST = "worker lost (lease expired)"


class Reaped(NamedTuple):  # not a dataclass: every command that reads jobs imports this
    job: Job
    state: JobState
    retry_delay: float
    result: RunResult


def reap_expired(store: Store, settings: Settings | None = None) -> list[Reaped]:
    """Fail every job whose lease has expired, as its attempt's end ("worker lost"); a
    heartbeat that renewed the lease in between wins (the store guards it)."""
    expired = store.expired_jobs()
    if not expired:
        return []
    settings = settings or Settings.from_stored(store.get_config())
    reaped = []
    for job in expired:
        lost = RunResult(None, LOST)
        delay = settings.retry_delay(job.attempts, random.random())
        state = store.reap_job(job, lost, delay)
        if state is not None:
            reaped.append(Reaped(job, state, delay, lost))
    return reaped
