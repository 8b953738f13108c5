"""MemoryStore's limits: the settings, and the plan a claim follows (queuectl.limits), with
the running counts read from the jobs themselves under the database's lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from msgspec.structs import replace

from queuectl.limits import ClaimPlan, KeyLimit, QueueLimit, Rate
from queuectl.models import FINAL_STATES, JobState
from queuectl.store.memory_base import MemoryBase


class MemoryLimits(MemoryBase):
    def _claim_plan(self, now: float) -> ClaimPlan:
        """What a claim may take now (called under the lock)."""
        jobs = self._db.jobs.values()
        running = Counter(j.queue for j in jobs if j.state is JobState.PROCESSING)
        plan = ClaimPlan(self._db.queue_limits.values(), dict(running), now)
        for key in self.key_limits():
            plan.learn_key(key)
        return plan

    def _claim_started(self, plan: ClaimPlan) -> None:
        for queue in plan.started:
            limit = self._db.queue_limits[queue]
            self._db.queue_limits[queue] = replace(limit, next_start_at=plan.next_start(queue))

    def _rate_waits(self, queues: Sequence[str] | None, now: float) -> list[float]:
        """Seconds until each rate-limited queue of `queues` with jobs waiting may start
        its next job (those not yet allowed; under the lock)."""
        waiting = {
            j.queue
            for j in self._db.jobs.values()
            if j.state in (JobState.PENDING, JobState.FAILED)
        }
        return [
            limit.next_start_at - now
            for limit in self._db.queue_limits.values()
            if limit.rate is not None
            and limit.next_start_at > now
            and limit.queue in waiting
            and (queues is None or limit.queue in queues)
        ]

    def queue_limits(self) -> list[QueueLimit]:
        with self._db.lock:
            return [self._db.queue_limits[q] for q in sorted(self._db.queue_limits)]

    def set_queue_limit(self, queue: str, concurrency: int | None, rate: Rate | None) -> None:
        with self._db.lock:
            kept = self._db.queue_limits.pop(queue, None)
            if concurrency is not None or rate is not None:
                at = 0.0 if kept is None else kept.next_start_at
                self._db.queue_limits[queue] = QueueLimit(queue, concurrency, rate, at)
            self._db.wake()

    def key_limits(self, keys: Sequence[str] | None = None) -> list[KeyLimit]:
        with self._db.lock:
            running: Counter[str] = Counter()
            unfinished: Counter[str] = Counter()
            for job in self._db.jobs.values():
                if job.concurrency_key is not None and job.state not in FINAL_STATES:
                    unfinished[job.concurrency_key] += 1
                    running[job.concurrency_key] += job.state is JobState.PROCESSING
            names = set(unfinished) | set(self._db.key_limits)
            return [
                KeyLimit(k, self._db.key_limits.get(k), running[k], unfinished[k])
                for k in sorted(names)
                if keys is None or k in keys
            ]

    def set_key_limit(self, key: str, concurrency: int | None) -> None:
        with self._db.lock:
            if concurrency is None:
                self._db.key_limits.pop(key, None)
            else:
                self._db.key_limits[key] = concurrency
            self._db.wake()

    def key_holder(self, key: str) -> str | None:
        with self._db.lock:
            for job in self._db.jobs.values():
                if job.concurrency_key == key and job.state is JobState.PROCESSING:
                    return job.id
        return None
