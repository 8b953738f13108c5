"""SqliteStore's limits: the settings (queue_limits, key_limits) and the claim taken while
any limit is in force. SQLite has one writer at a time, so the counters read under the
claim's write lock are exact until it commits."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from queuectl.store.sqlite_base import Q, SqliteBase

if TYPE_CHECKING:
    from queuectl.limits import KeyLimit, QueueLimit, Rate

# queuectl.limits and limited_claims load on first use: `queuectl enqueue` needs neither.


class SqliteLimits(SqliteBase):
    def _claim_limited(self, conn: sqlite3.Connection, params: dict[str, Any]) -> list[Any]:
        """claim_jobs' rows when a limit is in force (inside its write transaction)."""
        if not conn.execute(Q["limits_in_use"]).fetchone()[0]:
            return []
        from queuectl.limits import ClaimPlan
        from queuectl.store.limited_claims import choose, key_limit, queue_limit, unpark_rooms

        now = params["now"]
        rows = conn.execute(Q["queue_limits"]).fetchall()
        plan = ClaimPlan(
            [queue_limit(r) for r in rows], {r["queue"]: r["running"] for r in rows}, now
        )
        for row in conn.execute(Q["full_keys"]):
            plan.learn_key(key_limit(row))
        asked = None if params["queues"] is None else json.loads(params["queues"])
        for queue, room in unpark_rooms(plan, asked, params["limit"]).items():
            conn.execute(Q["unpark_queues"], {"queue": queue, "limit": room})

        def candidates(seen: list[int], limit: int) -> list[tuple[int, str, str | None]]:
            found = conn.execute(
                Q["claim_candidates"], params | {"seen": json.dumps(seen), "limit": limit}
            )
            return [(r["seq"], r["queue"], r["concurrency_key"]) for r in found]

        def keys(names: list[str]) -> list[KeyLimit]:
            found = conn.execute(Q["key_limits"], {"keys": json.dumps(names)})
            return [key_limit(r) for r in found]

        def unpark_key(key: str) -> bool:
            return conn.execute(Q["unpark_key"], {"key": key}).rowcount > 0

        choice = choose(plan, params["limit"], candidates, keys, unpark_key)
        for name, seqs in (
            ("park_for_queue", choice.park_queue),
            ("park_for_key", choice.park_key),
        ):
            if seqs:
                conn.execute(Q[name], {"seqs": json.dumps(seqs)})
        if not choice.take:
            return []
        for queue in plan.started:
            conn.execute(Q["set_next_start"], {"queue": queue, "at": plan.next_start(queue)})
        return conn.execute(Q["claim_seqs"], params | {"seqs": json.dumps(choice.take)}).fetchall()

    def queue_limits(self) -> list[QueueLimit]:
        from queuectl.store.limited_claims import queue_limit

        with self._reading() as conn:
            return [queue_limit(row) for row in conn.execute(Q["queue_limits"])]

    def set_queue_limit(self, queue: str, concurrency: int | None, rate: Rate | None) -> None:
        with self._writing() as conn:  # the commit itself wakes idle workers
            conn.execute(Q["unpark_queue_all"], {"queue": queue})
            if concurrency is None and rate is None:
                conn.execute(Q["delete_queue_limit"], {"queue": queue})
                return
            conn.execute(
                Q["set_queue_limit"],
                {
                    "queue": queue,
                    "concurrency": concurrency,
                    "rate_count": None if rate is None else rate.count,
                    "rate_period": None if rate is None else rate.period,
                },
            )

    def key_limits(self, keys: Sequence[str] | None = None) -> list[KeyLimit]:
        from queuectl.store.limited_claims import key_limit

        names = None if keys is None else json.dumps(list(keys))
        with self._reading() as conn:
            return [key_limit(row) for row in conn.execute(Q["key_limits"], {"keys": names})]

    def set_key_limit(self, key: str, concurrency: int | None) -> None:
        with self._writing() as conn:
            conn.execute(Q["set_key_limit"], {"key": key, "concurrency": concurrency})
            conn.execute(Q["unpark_key_all"], {"key": key})
            conn.execute(Q["forget_key"], {"key": key})

    def key_holder(self, key: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute(Q["key_holder"], {"key": key}).fetchone()
        return None if row is None else str(row["id"])
