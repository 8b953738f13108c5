"""MemoryStore's observability methods: live output, throughput, DLQ groups, metrics.

The part of MemoryStore (memory.py) that only watches the jobs' life cycle. The counters
are kept by the database as jobs move (memory_data.Database.moved); here they are only
read."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec.structs import replace

from queuectl.models import Attempt, DeadGroup, Job, JobState, LiveTail, MetricSample, MinuteCount
from queuectl.store.memory_base import MemoryBase
from queuectl.store.memory_data import BUCKETS, is_open_run


class MemoryObserve(MemoryBase):
    def publish_output(self, tails: Sequence[LiveTail]) -> int:
        updated = 0
        with self._db.lock:
            for tail in tails:
                records = self._db.attempts.get(tail.job_id, [])
                for i, run in enumerate(records):
                    if is_open_run(run, tail.attempt, tail.worker_id):
                        records[i] = replace(
                            run,
                            stdout=bytes(tail.stdout),
                            stderr=bytes(tail.stderr),
                            stdout_bytes=max(tail.stdout_bytes, len(tail.stdout)),
                            stderr_bytes=max(tail.stderr_bytes, len(tail.stderr)),
                        )
                        updated += 1
        return updated

    def get_attempt(self, job_id: str, attempt: int | None = None) -> Attempt | None:
        with self._db.lock:
            runs = self._db.attempts.get(job_id, [])
            if attempt is None:
                return runs[-1] if runs else None
            return self._db.open_attempt(job_id, attempt)

    def throughput(self, since: float) -> list[MinuteCount]:
        with self._db.lock:
            kept = sorted(self._db.minutes.values())
        return [
            MinuteCount(float(minute * 60), completed, failed)
            for minute, completed, failed in kept
            if minute * 60 >= since
        ]

    def dead_groups(self) -> list[DeadGroup]:
        groups: dict[tuple[str | None, int | None], list[Job]] = {}
        for job in self._dead():
            groups.setdefault((job.last_error, job.exit_code), []).append(job)
        found = [
            (len(jobs), jobs[-1].seq, DeadGroup(error, code, len(jobs), jobs[-1].id))
            for (error, code), jobs in groups.items()
        ]
        return [group for _, _, group in sorted(found, key=lambda g: (-g[0], -g[1]))]

    def dead_group_ids(self, error: str | None, exit_code: int | None) -> list[str]:
        return [j.id for j in self._dead() if (j.last_error, j.exit_code) == (error, exit_code)]

    def _dead(self) -> list[Job]:
        """The dead jobs, oldest first."""
        with self._db.lock:
            return [job for job in self._db.jobs.values() if job.state is JobState.DEAD]

    def metric_buckets(self) -> list[float]:
        return list(BUCKETS)

    def metric_samples(self) -> list[MetricSample]:
        with self._db.lock:
            kept = sorted(self._db.metrics.items())
        return [
            MetricSample(kind, queue, outcome, le, n, seconds)
            for (kind, queue, outcome, le), (n, seconds) in kept
        ]
