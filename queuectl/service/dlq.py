"""The dead letter queue: list, retry, purge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuectl.models import JobPage, JobQuery, JobState, Requeued
from queuectl.service.common import configured_max_retries
from queuectl.service.jobs import purge
from queuectl.service.paging import MAX_PAGE, list_jobs

if TYPE_CHECKING:
    from queuectl.store.base import Store


def list_dead(
    store: Store,
    limit: int = 50,
    cursor: str | None = None,
    queue: str | None = None,
    max_limit: int | None = MAX_PAGE,
) -> JobPage:
    """Dead jobs, newest first, a page at a time (limit 0 = all, with max_limit=None)."""
    query = JobQuery(states=(JobState.DEAD,), queue=queue, limit=limit, cursor=cursor)
    return list_jobs(store, query, max_limit)


def retry_dead(store: Store, job_ids: Sequence[str] | None) -> Requeued:
    """DLQ retry: the jobs go back to pending with attempts reset; all or none (None =
    every dead job)."""
    ids = None if job_ids is None else list(dict.fromkeys(job_ids))  # `retry a a` = `retry a`
    return store.retry_dead_jobs(ids, configured_max_retries(store))


def purge_dead(store: Store, older_than: float | None) -> int:
    return purge(store, [JobState.DEAD], older_than)
