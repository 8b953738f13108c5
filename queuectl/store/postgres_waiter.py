"""Wake an idle worker on PostgreSQL: LISTEN on a connection of its own."""

from __future__ import annotations

import time

import psycopg

from queuectl.errors import StoreError
from queuectl.store.postgres_base import CHANNEL
from queuectl.store.postgres_connect import Row, connect_server, redacted_url, translate_error

POLL_INTERVAL_S = 0.5  # how often a poll-only waiter hands back to its caller


class PostgresChangeWaiter:
    """Sleeps in LISTEN queuectl_jobs on its own connection: wakes within a millisecond of
    a NOTIFY and costs nothing while idle. In poll-only mode (for poolers that do not keep
    a session, which breaks LISTEN) it just hands back every POLL_INTERVAL_S so the caller
    looks at the jobs itself."""

    def __init__(self, dsn: str, poll_only: bool) -> None:
        self._dsn = dsn
        self._poll_only = poll_only
        self._conn: psycopg.Connection[Row] | None = None
        if not poll_only:
            self._conn = self._listen()

    def _listen(self) -> psycopg.Connection[Row]:
        conn = connect_server(self._dsn, durable=True, poll_only=False)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as err:
            conn.close()
            raise translate_error(err, lost=True, target=redacted_url(self._dsn)) from None
        return conn

    def wait(self, timeout: float) -> bool:
        if self._poll_only:
            time.sleep(max(0.0, min(timeout, POLL_INTERVAL_S)))
            return False
        if self._conn is not None:
            try:
                woke = any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
                if woke:  # drain the rest: one wake-up answers them all
                    for _ in self._conn.notifies(timeout=0):
                        pass
                return woke
            except psycopg.Error:  # lost the connection: listen again on a new one
                self._conn.close()
                self._conn = None
        try:
            self._conn = self._listen()
        except StoreError:
            time.sleep(max(0.0, timeout))  # the server is away: the caller polls
            return False
        return True  # notifications may have been missed while disconnected

    def fileno(self) -> int | None:
        """The LISTEN connection's socket: readable when a notification arrives."""
        if self._poll_only or self._conn is None:
            return None
        return int(self._conn.fileno())

    def look_again_at(self) -> float | None:
        return None  # a change it is told of is visible already

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
