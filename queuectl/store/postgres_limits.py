"""PostgresStore's limits: the settings, and the claim taken while any limit is in force.

In one statement, rows read from other tables come from the statement's snapshot, taken
before any row-lock wait, so a claim that read the counters in its own statement could
trust a count another claim has already raised. A limited claim therefore takes one
transaction lock (every limited claim of the database queues behind it), and only then
reads the counters, each in a statement of its own: it sees every claim and finish
committed before. A finish is not held up: it moves the counters in its own transaction,
and one not yet committed only makes a claim more careful, never less."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from queuectl.store.postgres_base import NOTIFY, PostgresBase
from queuectl.store.postgres_connect import Row

if TYPE_CHECKING:
    from queuectl.limits import KeyLimit, QueueLimit, Rate
    from queuectl.store.limited_claims import Choice

# queuectl.limits and limited_claims load on first use: `queuectl enqueue` needs neither.


class PostgresLimits(PostgresBase):
    def _claim_limited(self, params: dict[str, Any]) -> list[Row]:
        """claim_jobs' rows when its unlimited statement took none."""
        from queuectl.limits import ClaimPlan
        from queuectl.store.limited_claims import choose, key_limit, queue_limit, unpark_rooms

        q = self._q

        def work(conn: psycopg.Connection[Row]) -> list[Row]:
            used = conn.execute(q["limits_in_use"]).fetchone()
            if used is None or not used["used"]:
                return []
            conn.execute(q["lock_limits"])
            rows = conn.execute(q["queue_limits"]).fetchall()
            now = float(rows[0]["now"]) if rows else self._now_in(conn)
            plan = ClaimPlan(
                [queue_limit(r) for r in rows], {r["queue"]: r["running"] for r in rows}, now
            )
            for row in conn.execute(q["full_keys"]):
                plan.learn_key(key_limit(row))
            rooms = unpark_rooms(plan, params["queues"], params["limit"])
            if rooms:
                conn.execute(
                    q["unpark_queues"], {"queues": list(rooms), "rooms": list(rooms.values())}
                )

            def candidates(seen: list[int], limit: int) -> list[tuple[int, str, str | None]]:
                found = conn.execute(q["claim_candidates"], params | {"seen": seen, "limit": limit})
                return [(r["seq"], r["queue"], r["concurrency_key"]) for r in found]

            def keys(names: list[str]) -> list[KeyLimit]:
                return [key_limit(r) for r in conn.execute(q["key_limits"], {"keys": names})]

            def unpark_key(key: str) -> bool:
                return conn.execute(q["unpark_key"], {"key": key}).rowcount > 0

            choice = choose(plan, params["limit"], candidates, keys, unpark_key)
            claimed: list[Row] = []
            if choice.take:
                for queue in plan.started:
                    at = plan.next_start(queue)
                    conn.execute(q["set_next_start"], {"queue": queue, "at": at})
                claimed = conn.execute(q["claim_seqs"], params | {"seqs": choice.take}).fetchall()
            self._park(conn, choice, plan.full_keys(), params["limit"])
            return claimed

        return self._run(work)

    def _park(
        self, conn: psycopg.Connection[Row], choice: Choice, full_keys: list[str], limit: int
    ) -> None:
        """Park what a claim passed over: after its own jobs counted, so a key it filled
        reads full."""
        if choice.park_queue:
            conn.execute(self._q["park_for_queue"], {"seqs": choice.park_queue})
        if choice.park_key:
            conn.execute(self._q["park_for_key"], {"seqs": choice.park_key, "keys": full_keys})
        if choice.stopped_short(limit):
            conn.execute(NOTIFY)  # idle workers (this one too) claim on at once

    def _now_in(self, conn: psycopg.Connection[Row]) -> float:
        row = conn.execute(self._q["store_now"]).fetchone()
        assert row is not None
        return float(row["now"])

    def queue_limits(self) -> list[QueueLimit]:
        from queuectl.store.limited_claims import queue_limit

        return [queue_limit(row) for row in self._read("queue_limits")]

    def set_queue_limit(self, queue: str, concurrency: int | None, rate: Rate | None) -> None:
        params = {
            "queue": queue,
            "concurrency": concurrency,
            "rate_count": None if rate is None else rate.count,
            "rate_period": None if rate is None else rate.period,
        }

        def work(conn: psycopg.Connection[Row]) -> None:
            conn.execute(self._q["unpark_queue_all"], params)
            if concurrency is None and rate is None:
                conn.execute(self._q["delete_queue_limit"], params)
            else:
                conn.execute(self._q["set_queue_limit"], params)
            conn.execute(NOTIFY)

        self._run(work)

    def key_limits(self, keys: Sequence[str] | None = None) -> list[KeyLimit]:
        from queuectl.store.limited_claims import key_limit

        names = None if keys is None else list(keys)
        return [key_limit(row) for row in self._read("key_limits", {"keys": names})]

    def set_key_limit(self, key: str, concurrency: int | None) -> None:
        def work(conn: psycopg.Connection[Row]) -> None:
            conn.execute(self._q["set_key_limit"], {"key": key, "concurrency": concurrency})
            conn.execute(self._q["forget_key"], {"key": key})
            conn.execute(self._q["unpark_key_all"], {"key": key})
            conn.execute(NOTIFY)

        self._run(work)

    def key_holder(self, key: str) -> str | None:
        rows = self._read("key_holder", {"key": key})
        return str(rows[0]["id"]) if rows else None
