"""RedisStore's observability methods: live output, throughput, DLQ groups, metrics.

The half of RedisStore that only watches the jobs' life cycle (redis.py keeps the rest),
as for the SQL backends. The counters are kept by the scripts that move jobs
(common.lua: count_move), in the same atomic step; here they are only read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queuectl.models import Attempt, DeadGroup, LiveTail, MetricSample, MinuteCount
from queuectl.store import redis_rows as rows
from queuectl.store.redis_base import RedisBase

# The histograms' upper bounds (seconds), as common.lua's BUCKETS, then +Inf.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BUCKETS += (30, 60, 120, 300, 600, 1800, 3600, float("inf"))


class RedisObserve(RedisBase):
    def get_job_last_attempt(self, job_id: str) -> int | None:
        key = f"{self.prefix}job:{job_id}"
        found = self._scripts.call(lambda: self._client.hget(key, "last_attempt"), read=True)
        return None if found is None else int(found)

    def publish_output(self, tails: Sequence[LiveTail]) -> int:
        if not tails:
            return 0
        args: list[Any] = []
        for t in tails:
            args += [
                t.job_id,
                t.worker_id,
                t.attempt,
                bytes(t.stdout),
                bytes(t.stderr),
                max(t.stdout_bytes, len(t.stdout)),
                max(t.stderr_bytes, len(t.stderr)),
            ]
        return int(self._scripts.run("publish_output", args))

    def get_attempt(self, job_id: str, attempt: int | None = None) -> Attempt | None:
        number = self.get_job_last_attempt(job_id) if attempt is None else attempt
        if not number:
            return None
        key = f"{self.prefix}att:{job_id}:{number}"
        found = self._scripts.call(lambda: self._client.hgetall(key), read=True)
        return rows.attempt(found) if found else None

    def metric_buckets(self) -> list[float]:
        return [float(b) for b in BUCKETS]

    def metric_samples(self) -> list[MetricSample]:
        def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=True)
            pipe.hgetall(f"{self.prefix}metrics")
            pipe.hgetall(f"{self.prefix}metric_seconds")
            return pipe.execute()

        counts, seconds = self._scripts.call(read, read=True)
        samples = []
        for field, n in counts.items():
            kind, queue, outcome, le = field.decode().split("|")
            samples.append(
                MetricSample(kind, queue, outcome, float(le), int(n), float(seconds.get(field, 0)))
            )
        return sorted(samples, key=lambda s: (s.kind, s.queue, s.outcome, s.le))

    def throughput(self, since: float) -> list[MinuteCount]:
        key = f"{self.prefix}minutes"
        ring = self._scripts.call(lambda: self._client.hgetall(key), read=True)
        found = []
        for value in ring.values():
            minute, completed, failed = (int(v) for v in value.split())
            if minute * 60 >= since:
                found.append(MinuteCount(float(minute * 60), completed, failed))
        return sorted(found, key=lambda m: m.start)

    def dead_groups(self) -> list[DeadGroup]:
        groups = []
        for has_error, error, has_code, code, count, newest in self._scripts.run(
            "dead_groups", read=True
        ):
            groups.append(
                DeadGroup(
                    error.decode() if has_error else None,
                    int(code) if has_code else None,
                    int(count),
                    newest.decode(),
                )
            )
        return groups

    def dead_group_ids(self, error: str | None, exit_code: int | None) -> list[str]:
        args = [error or "", "0" if error is None else "1", rows.optional(exit_code)]
        return [i.decode() for i in self._scripts.run("dead_group_ids", args, read=True)]
