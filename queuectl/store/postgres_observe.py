"""PostgresStore's observability methods: live output, throughput, DLQ groups, metrics.

The half of PostgresStore that only watches the jobs' life cycle (postgres.py keeps the
rest). The counters themselves are kept by a trigger (migration 0004); here they are only
read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuectl.models import Attempt, DeadGroup, LiveTail, MetricSample, MinuteCount
from queuectl.store import postgres_rows
from queuectl.store.postgres_base import PostgresBase, Q
from queuectl.store.postgres_connect import Row
from queuectl.store.sql_changes import tail_params

if TYPE_CHECKING:
    import psycopg


class PostgresObserve(PostgresBase):
    def publish_output(self, tails: Sequence[LiveTail]) -> int:
        """All tails in one transaction, sent in one pipeline (one round trip)."""
        if not tails:
            return 0

        def work(conn: psycopg.Connection[Row]) -> int:
            with conn.cursor() as cursor:
                cursor.executemany(Q["publish_output"], [tail_params(t) for t in tails])
                return max(cursor.rowcount, 0)

        return self._run(work)

    def get_attempt(self, job_id: str, attempt: int | None = None) -> Attempt | None:
        rows = self._read("get_attempt", {"id": job_id, "attempt": attempt})
        return postgres_rows.attempt(rows[0]) if rows else None

    def metric_buckets(self) -> list[float]:
        return [float(row["le"]) for row in self._read("metric_buckets")]

    def metric_samples(self) -> list[MetricSample]:
        return [
            MetricSample(
                kind=r["kind"],
                queue=r["queue"],
                outcome=r["outcome"],
                le=float(r["le"]),
                n=int(r["n"]),
                seconds=float(r["seconds"]),
            )
            for r in self._read("metric_samples")
        ]

    def throughput(self, since: float) -> list[MinuteCount]:
        rows = self._read("throughput", {"since": since})
        return [MinuteCount(float(r["start"]), r["completed"], r["failed"]) for r in rows]

    def dead_groups(self) -> list[DeadGroup]:
        rows = self._read("dead_groups")
        return [DeadGroup(r["error"], r["exit_code"], r["n"], r["newest_job_id"]) for r in rows]

    def dead_group_ids(self, error: str | None, exit_code: int | None) -> list[str]:
        rows = self._read("dead_group_ids", {"error": error, "exit_code": exit_code})
        return [row["id"] for row in rows]
