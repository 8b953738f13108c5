"""SqliteStore's observability methods: live output, throughput, DLQ groups, metrics.

The half of SqliteStore that only watches the jobs' life cycle (sqlite.py keeps the
rest). The counters themselves are kept by triggers (migration 0004); here they are only
read."""

from __future__ import annotations

from collections.abc import Sequence

from queuectl.models import Attempt, DeadGroup, LiveTail, MetricSample, MinuteCount
from queuectl.store import sqlite_rows
from queuectl.store.sql_changes import tail_params
from queuectl.store.sqlite_base import Q, SqliteBase


class SqliteObserve(SqliteBase):
    def publish_output(self, tails: Sequence[LiveTail]) -> int:
        if not tails:
            return 0
        with self._writing() as conn:
            return sum(conn.execute(Q["publish_output"], tail_params(t)).rowcount for t in tails)

    def get_attempt(self, job_id: str, attempt: int | None = None) -> Attempt | None:
        with self._reading() as conn:
            row = conn.execute(Q["get_attempt"], {"id": job_id, "attempt": attempt}).fetchone()
        return sqlite_rows.attempt(row) if row else None

    def metric_buckets(self) -> list[float]:
        with self._reading() as conn:
            return [float(row[0]) for row in conn.execute(Q["metric_buckets"])]

    def metric_samples(self) -> list[MetricSample]:
        with self._reading() as conn:
            rows = conn.execute(Q["metric_samples"]).fetchall()
        return [MetricSample(**dict(row)) for row in rows]

    def throughput(self, since: float) -> list[MinuteCount]:
        with self._reading() as conn:
            rows = conn.execute(Q["throughput"], {"since": since}).fetchall()
        return [MinuteCount(float(r["start"]), r["completed"], r["failed"]) for r in rows]

    def dead_groups(self) -> list[DeadGroup]:
        with self._reading() as conn:
            rows = conn.execute(Q["dead_groups"]).fetchall()
        return [DeadGroup(r["error"], r["exit_code"], r["n"], r["newest_job_id"]) for r in rows]

    def dead_group_ids(self, error: str | None, exit_code: int | None) -> list[str]:
        params = {"error": error, "exit_code": exit_code}
        with self._reading() as conn:
            return [row[0] for row in conn.execute(Q["dead_group_ids"], params)]
