"""The overview: jobs per state and per queue, scheduled jobs, workers and slots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from queuectl.models import JobState, QueueCounts, WorkerInfo
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

    @property
    def slots(self) -> int:
        return sum(w.slots for w in self.workers)

    @property
    def slots_busy(self) -> int:
        return sum(len(w.running) for w in self.workers)


def status(store: Store) -> Status:
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
    return Status(counts=store.count_jobs(), workers=list_workers(store), queues=queues)
