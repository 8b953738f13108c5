"""The dead letter queue grouped by how its jobs failed (service/fingerprint.py): the
groups, the jobs of one group a page at a time, and the ids to retry or purge.

Fingerprints are computed from reads every store offers, so they cost no migration: the
newest WINDOW dead jobs are read a page at a time, each with its last attempt (one read
per job). A DLQ holding more dead jobs is grouped by its newest WINDOW only, and says so
(`fingerprinted` < `dead`); a group's retry or purge acts on its jobs among them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import msgspec

from queuectl.errors import InvalidSpec, NotFound
from queuectl.models import Job, JobPage, JobQuery, JobState, Requeued
from queuectl.service.fingerprint import Fingerprint, fingerprint
from queuectl.service.matching import MatchCount
from queuectl.service.paging import MAX_PAGE, check_query, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from queuectl.store.base import Store

WINDOW = 1000  # the newest dead jobs fingerprinted per request


class DlqGroup(msgspec.Struct, frozen=True):
    """Dead jobs with one fingerprint: `kind` of error, `exit_code`, `line` (the last
    line of stderr, normalised; "" when none). `error` is the newest job's last error as
    it was; `key` names the group for its jobs, retry and purge."""

    key: str
    kind: str
    exit_code: int | None
    line: str
    error: str | None
    count: int
    newest_job_id: str


class DlqGroups(msgspec.Struct, frozen=True):
    """The groups, largest first; `fingerprinted` of the `dead` jobs (the newest) were
    read to make them."""

    groups: list[DlqGroup]
    dead: int
    fingerprinted: int


def _window(store: Store, limit: int = WINDOW) -> Iterator[tuple[Job, Fingerprint]]:
    """The newest `limit` dead jobs, newest first, each with its fingerprint."""
    cursor, left = None, limit
    while left > 0:
        query = JobQuery(states=(JobState.DEAD,), limit=min(left, MAX_PAGE), cursor=cursor)
        query = check_query(query)
        after = None if cursor is None else decode_cursor(cursor, query.order)
        jobs = store.query_jobs(query, after, query.limit)
        for job in jobs:
            yield job, fingerprint(job, store.get_attempt(job.id))
        left -= len(jobs)
        if len(jobs) < query.limit:
            return
        cursor = encode_cursor(query.order, jobs[-1].seq)


def dlq_groups(store: Store, window: int = WINDOW) -> DlqGroups:
    """The newest `window` dead jobs grouped by fingerprint, largest group first (then
    the one with the newest job)."""
    dead = store.count_jobs().by_state.get(JobState.DEAD, 0)
    groups: dict[str, DlqGroup] = {}
    seen = 0
    for job, print_ in _window(store, window):
        seen += 1
        found = groups.get(print_.key)
        if found is None:  # newest first: the first job seen is the group's newest
            groups[print_.key] = DlqGroup(
                print_.key, print_.kind, print_.exit_code, print_.line, job.last_error, 1, job.id
            )
        else:
            groups[print_.key] = msgspec.structs.replace(found, count=found.count + 1)
    ordered = sorted(groups.values(), key=lambda g: -g.count)  # stable: newest first on ties
    return DlqGroups(ordered, max(dead, seen), seen)


def dlq_group_jobs(store: Store, key: str) -> list[Job]:
    """The dead jobs of group `key` (among the newest WINDOW), newest first; NotFound
    when none is in it (any more)."""
    jobs = [job for job, print_ in _window(store) if print_.key == key]
    if not jobs:
        raise NotFound(f"no dead jobs in group {key!r}")
    return jobs


def dlq_group_ids(store: Store, key: str) -> list[str]:
    """The ids of group `key`, oldest first (to retry or purge them)."""
    return [job.id for job in reversed(dlq_group_jobs(store, key))]


def list_group(store: Store, key: str, query: JobQuery) -> JobPage:
    """One page of the jobs of group `key` (the jobs view filtered by a fingerprint):
    `query` may name the state dead, an order, a limit and a cursor, nothing else."""
    return list_group_counted(store, key, query)[0]


def list_group_counted(store: Store, key: str, query: JobQuery) -> tuple[JobPage, MatchCount]:
    """list_group, and how many jobs the group holds (whatever the page): one read of the
    dead jobs for both."""
    query = check_query(query)
    if any(state is not JobState.DEAD for state in query.states):
        raise InvalidSpec("a fingerprint groups dead jobs: state can only be dead", field="state")
    if query.queue or query.id_prefix or query.search:
        raise InvalidSpec(
            "fingerprint cannot be combined with queue, id_prefix or search", field="fingerprint"
        )
    jobs = [job for job, print_ in _window(store) if print_.key == key]
    total = MatchCount(len(jobs), True)
    if query.order == "oldest":
        jobs.reverse()
    if query.cursor is not None:
        after = decode_cursor(query.cursor, query.order)
        newest = query.order == "newest"
        jobs = [j for j in jobs if (j.seq < after if newest else j.seq > after)]
    if len(jobs) <= query.limit:
        return JobPage(jobs=jobs), total
    jobs = jobs[: query.limit]
    return JobPage(jobs=jobs, next_cursor=encode_cursor(query.order, jobs[-1].seq)), total


def retry_group(store: Store, key: str) -> Requeued:
    """Retry every job of group `key` (all or none); the ids retried."""
    from queuectl.service.dlq import retry_dead

    return retry_dead(store, dlq_group_ids(store, key))


def purge_group(store: Store, key: str) -> int:
    """Delete every job of group `key` (all or none); how many."""
    from queuectl.service.jobs import delete

    return delete(store, dlq_group_ids(store, key))
