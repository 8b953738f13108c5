"""SqliteStore's observability methods: live output, throughput, DLQ groups, metrics.

A mixin, so sqlite.py keeps the job life cycle and this file what only watches it. The
counters themselves are kept by triggers (migration 0004); here they are only read."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from queuectl.models import Attempt, DeadGroup, LiveTail, MetricSample, MinuteCount


class SqliteObserve:
    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def publish_output(self, tails: Sequence[LiveTail]) -> int:
        from queuectl.store.sqlite import Q

        if not tails:
            return 0
        with self._writing() as conn:
            return sum(conn.execute(Q["publish_output"], tail_params(t)).rowcount for t in tails)

    def get_attempt(self, job_id: str, attempt: int | None = None) -> Attempt | None:
        from queuectl.store import sqlite_rows
        from queuectl.store.sqlite import Q

        with self._reading() as conn:
            row = conn.execute(Q["get_attempt"], {"id": job_id, "attempt": attempt}).fetchone()
        return sqlite_rows.attempt(row) if row else None

    def metric_buckets(self) -> list[float]:
        from queuectl.store.sqlite import Q

        with self._reading() as conn:
            return [float(row[0]) for row in conn.execute(Q["metric_buckets"])]

    def metric_samples(self) -> list[MetricSample]:
        from queuectl.store.sqlite import Q

        with self._reading() as conn:
            rows = conn.execute(Q["metric_samples"]).fetchall()
        return [MetricSample(**dict(row)) for row in rows]

    def throughput(self, since: float) -> list[MinuteCount]:
        from queuectl.store.sqlite import Q

        with self._reading() as conn:
            rows = conn.execute(Q["throughput"], {"since": since}).fetchall()
        return [MinuteCount(float(r["start"]), r["completed"], r["failed"]) for r in rows]

    def dead_groups(self) -> list[DeadGroup]:
        from queuectl.store.sqlite import Q

        with self._reading() as conn:
            rows = conn.execute(Q["dead_groups"]).fetchall()
        return [DeadGroup(r["error"], r["exit_code"], r["n"], r["newest_job_id"]) for r in rows]

    def dead_group_ids(self, error: str | None, exit_code: int | None) -> list[str]:
        from queuectl.store.sqlite import Q

        params = {"error": error, "exit_code": exit_code}
        with self._reading() as conn:
            return [row[0] for row in conn.execute(Q["dead_group_ids"], params)]


def tail_params(tail: LiveTail) -> dict[str, Any]:
    """publish_output's parameters (the same names in both dialects)."""
    return {
        "id": tail.job_id,
        "attempt": tail.attempt,
        "worker_id": tail.worker_id,
        "stdout": bytes(tail.stdout),
        "stderr": bytes(tail.stderr),
        "stdout_bytes": max(tail.stdout_bytes, len(tail.stdout)),
        "stderr_bytes": max(tail.stderr_bytes, len(tail.stderr)),
    }
