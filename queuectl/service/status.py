"""The overview: jobs per state and per queue, scheduled jobs, workers and slots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from queuectl.models import BLOCKED, SCHEDULED, JobQuery, JobState, QueueCounts, WorkerInfo
from queuectl.service.retention import Prune, last_prune
from queuectl.service.workers import workers as list_workers

if TYPE_CHECKING:
    from queuectl.store.base import Store


class QueueStatus(msgspec.Struct, frozen=True):
    """One queue: jobs per state (every state, zeros included) and how long its oldest
    due pending job has waited (seconds; None when none is due)."""

    queue: str
    by_state: dict[JobState, int]
    oldest_pending_age: float | None


class Status(msgspec.Struct, frozen=True):
    counts: QueueCounts
    workers: list[WorkerInfo]
    queues: list[QueueStatus] = msgspec.field(default_factory=list)
    paused: list[str] = msgspec.field(default_factory=list)  # "*": every queue
    last_prune: Prune | None = None  # retention's latest prune
    now: float = 0.0  # the store's clock when the status was read
    # Why due jobs wait, by queue (or "key K"): the limit that holds them back.
    held_back: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def due(self) -> int:
        """Pending jobs due now (the others pending are scheduled for later, or blocked:
        waiting for jobs they run after)."""
        pending = self.counts.by_state.get(JobState.PENDING, 0)
        return pending - self.counts.scheduled - self.counts.blocked

    @property
    def slots(self) -> int:
        return sum(w.slots for w in self.workers)

    @property
    def slots_busy(self) -> int:
        """Slots running a job (a worker's reserve is not counted: WorkerInfo.busy)."""
        return sum(w.busy for w in self.workers)

    @property
    def slots_reserved(self) -> int:
        return sum(w.reserved for w in self.workers)


def status(store: Store, queue: str | None = None) -> Status:
    """The overview, or with `queue` that queue's: its jobs, and the workers serving it."""
    now = store.now()
    queues = [
        QueueStatus(
            queue=stats.queue,
            by_state={state: stats.by_state.get(state, 0) for state in JobState},
            oldest_pending_age=(
                None if stats.oldest_due_at is None else max(0.0, now - stats.oldest_due_at)
            ),
        )
        for stats in store.queue_stats()
    ]
    paused = store.paused_queues()
    pruned = last_prune(store)
    held = held_back(store, queues, now)
    if queue is None:
        counts = store.count_jobs()
        return Status(counts, list_workers(store), queues, paused, pruned, now, held)
    queues = [q for q in queues if q.queue == queue]
    by_state = queues[0].by_state if queues else {state: 0 for state in JobState}
    later = JobQuery(states=(SCHEDULED,), queue=queue, limit=0)
    blocked = JobQuery(states=(BLOCKED,), queue=queue, limit=0)
    counts = QueueCounts(
        by_state=by_state,
        scheduled=len(store.query_jobs(later, None, None)),
        blocked=len(store.query_jobs(blocked, None, None)),
    )
    serving = [w for w in list_workers(store) if not w.queues or queue in w.queues]
    paused = [q for q in paused if q in (queue, "*")]
    held = {name: why for name, why in held.items() if name == queue}
    return Status(counts, serving, queues, paused, pruned, now, held)


def held_back(store: Store, queues: list[QueueStatus], now: float) -> dict[str, str]:
    """Per queue with due jobs that a limit holds back, the reason; and per busy
    concurrency key with jobs waiting ("key K"), who holds it."""
    from queuectl import limits

    found: dict[str, str] = {}
    running = {q.queue: q.by_state.get(JobState.PROCESSING, 0) for q in queues}
    due = {q.queue for q in queues if q.oldest_pending_age is not None}
    for limit in store.queue_limits():
        if limit.queue in due:
            said = limits.reason(limit, running.get(limit.queue, 0), None, None, now)
            if said is not None:
                found[limit.queue] = said
    busy = [k for k in store.key_limits() if k.jobs > k.running >= k.limit]
    for key in busy[:BUSY_KEYS_SHOWN]:  # each names a holder: one read per key
        said = limits.reason(None, 0, key, store.key_holder(key.key), now)
        if said is not None:
            found[f"key {key.key}"] = said
    if len(busy) > BUSY_KEYS_SHOWN:
        found["keys"] = f"{len(busy) - BUSY_KEYS_SHOWN} more keys busy with jobs waiting"
    return found


BUSY_KEYS_SHOWN = 10
