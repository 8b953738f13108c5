"""Queues: pausing and resuming them (workers on every host claim nothing from a paused
queue, its running jobs go on, until it is resumed), and the queues view: each queue's
counts and its scheduled jobs by run time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from queuectl.errors import InvalidSpec
from queuectl.models import SCHEDULED, Job, JobQuery, JobState
from queuectl.service.paging import MAX_PAGE
from queuectl.spec import is_queue_name

if TYPE_CHECKING:
    from queuectl.store.base import Store

EVERY_QUEUE = "*"  # stored for `pause` without names: not a valid queue name, so no clash


def _checked(queues: Sequence[str]) -> list[str]:
    for name in queues:
        if not is_queue_name(name):
            raise InvalidSpec(f"bad queue name {name!r} (letters, digits, ._:-)", field="queue")
    return list(dict.fromkeys(queues))


def pause(store: Store, queues: Sequence[str]) -> list[str]:
    """Pause these queues (none named: every queue, present and future). Returns what is
    paused now."""
    store.pause_queues(_checked(queues) or [EVERY_QUEUE])
    return store.paused_queues()


def resume(store: Store, queues: Sequence[str]) -> list[str]:
    """Resume these queues (none named: all of them, and undo a pause of every queue).
    Returns what stays paused."""
    store.resume_queues(_checked(queues) or None)
    return store.paused_queues()


def paused(store: Store) -> list[str]:
    return store.paused_queues()


# -- the queues view ---------------------------------------------------------------------

SCHEDULED_READ = 10_000  # scheduled jobs of a queue read to order them by run time


class QueueOverview(msgspec.Struct, frozen=True):
    """One queue: pending jobs `due` now and `scheduled` for later, `running`, `failed`
    (waiting for a retry), `dead`, whether it is `paused` (by name or with every queue),
    how long its oldest due job has waited (seconds; None when none is due), and its
    limits (queuectl.limits): `concurrency` and `rate` (`60/m`; None: none), seconds until
    the rate allows the next start (`next_start_in`), and `held_back`: why its due jobs
    wait, when a limit holds them back."""

    queue: str
    due: int
    scheduled: int
    running: int
    failed: int
    dead: int
    completed: int
    paused: bool
    oldest_pending_age: float | None
    concurrency: int | None = None
    rate: str | None = None
    next_start_in: float | None = None
    held_back: str | None = None


def overview(store: Store) -> list[QueueOverview]:
    """Every queue that has jobs, a limit, or is paused by name, by name. Counts are
    kept, not counted (scheduled: one index range per queue)."""
    from queuectl import limits
    from queuectl.service.limits import view

    now = store.now()
    stats = {s.queue: s for s in store.queue_stats()}
    stopped = store.paused_queues()
    limited = {limit.queue: limit for limit in store.queue_limits()}
    every = EVERY_QUEUE in stopped
    rows = []
    for name in sorted({*stats, *limited, *(q for q in stopped if q != EVERY_QUEUE)}):
        found = stats.get(name)
        by_state = found.by_state if found else {}
        scheduled = store.count_jobs(name).scheduled if by_state.get(JobState.PENDING) else 0
        oldest = None if found is None or found.oldest_due_at is None else found.oldest_due_at
        running = by_state.get(JobState.PROCESSING, 0)
        limit = limited.get(name)
        shown = view(limit, name, now)
        held = None
        if limit is not None and oldest is not None and oldest <= now:
            held = limits.reason(limit, running, None, None, now)
        rows.append(
            QueueOverview(
                queue=name,
                due=by_state.get(JobState.PENDING, 0) - scheduled,
                scheduled=scheduled,
                running=running,
                failed=by_state.get(JobState.FAILED, 0),
                dead=by_state.get(JobState.DEAD, 0),
                completed=by_state.get(JobState.COMPLETED, 0),
                paused=every or name in stopped,
                oldest_pending_age=None if oldest is None else max(0.0, now - oldest),
                concurrency=shown.concurrency,
                rate=shown.rate,
                next_start_in=shown.next_start_in,
                held_back=held,
            )
        )
    return rows


class Scheduled(msgspec.Struct, frozen=True):
    """A queue's scheduled jobs, earliest run time first: `jobs` (at most the limit
    asked), of `read` scheduled jobs read; `complete` is False when the queue holds more
    than SCHEDULED_READ (the earliest of those read are shown, in enqueue order)."""

    jobs: list[Job]
    read: int
    complete: bool


def scheduled(store: Store, queue: str, limit: int = 50) -> Scheduled:
    """The queue's pending jobs due later, ordered by run_at (then enqueue order)."""
    (name,) = _checked([queue])
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidSpec(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    query = JobQuery(states=(SCHEDULED,), queue=name, order="oldest", limit=0)
    found = store.query_jobs(query, None, SCHEDULED_READ + 1)
    complete = len(found) <= SCHEDULED_READ
    found = sorted(found[:SCHEDULED_READ], key=lambda job: (job.run_at, job.seq))
    return Scheduled(found[:limit], min(len(found), SCHEDULED_READ), complete)
