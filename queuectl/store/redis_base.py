"""Redis's plumbing, under both halves of RedisStore (redis_observe.py, redis.py): the
client and its scripts on one database and key prefix, the schema mark, and the store's
clock (the server's TIME).

Durability is the server's: with `appendonly yes` and `appendfsync always` an acknowledged
change survives a crash, with `everysec` up to a second of changes can be lost, and with
persistence off a restart loses everything (`durability_warning` says which, once read).
"""

from __future__ import annotations

import redis

from queuectl.errors import StoreError
from queuectl.store.redis_client import Scripts, connect, redacted_url, split_url
from queuectl.store.redis_durability import durability_warning

# The key layout of common.lua. 2: finished jobs are also kept by age (P.."ended:"..state),
# which a migration from 1 fills in for the jobs already there.
SCHEMA_VERSION = 2
FINISHED = ("completed", "dead", "cancelled")
CHUNK = 1000  # jobs per round trip of the migration


class RedisBase:
    """One Redis database and key prefix. Safe to share between threads (the client keeps
    a pool of connections)."""

    def __init__(
        self, url: str, durable: bool = True, migrate: bool = True, check_schema: bool = True
    ) -> None:
        # `durable` is the server's business here (its appendfsync), not a client's.
        self.url = url
        self.remote = True
        address, self.prefix = split_url(url)
        self._address = address
        self._target = redacted_url(address)
        self._client = connect(address)
        self._scripts = Scripts(self._client, self.prefix, self._target)
        self._durability: str | None = None
        try:
            if check_schema:
                self._check_schema(migrate)
        except BaseException:
            self.close()
            raise

    def _key(self, name: str) -> str:
        return self.prefix + name

    # -- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def ping(self) -> str:
        info = self._scripts.call(lambda: self._client.info("server"), read=True)
        kwargs = self._client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"Redis {info.get('redis_version', '?')} at {where}/{kwargs.get('db', 0)}"

    def durability_warning(self) -> str | None:
        """One line when acknowledged jobs would not survive a server restart or crash
        (read from the server's persistence settings once), else None."""
        if self._durability is None:
            self._durability = durability_warning(self._client, self._scripts, self._target) or ""
        return self._durability or None

    # -- schema -------------------------------------------------------------------------

    def check_schema(self, migrate: bool) -> None:
        """The schema check of an open, for a store opened without it (ahead.py)."""
        self._check_schema(migrate)

    def connection_usable(self) -> bool:
        """Always: redis-py's pool looks at an idle connection before each command and
        connects again when the server closed it or left something unread."""
        return True

    def _check_schema(self, migrate: bool) -> None:
        """Refuse keys laid out by a newer queuectl; mark a fresh prefix as ours."""
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self._target} (prefix {self.prefix!r}) has schema version {version}, "
                f"newer than this queuectl knows ({SCHEMA_VERSION}): upgrade queuectl"
            )
        if version < SCHEMA_VERSION and migrate:
            self.migrate()

    def migrate(self) -> list[int]:
        key = self._key("schema")
        applied = self._scripts.call(lambda: self._client.set(key, SCHEMA_VERSION, nx=True))
        if applied:
            return [SCHEMA_VERSION]  # a new prefix: born at the current layout
        if self.schema_version() >= 2:
            return []
        self._scripts.call(self._index_finished_by_age)
        self._scripts.call(lambda: self._client.set(key, 2))
        return [2]

    def _index_finished_by_age(self) -> None:
        """Migration 1 -> 2: add every finished job to its state's by-age index, a chunk
        of jobs per round trip (never one long script)."""
        for state in FINISHED:
            members = self._key(f"state:{state}")
            start = 0
            while ids := [_text(i) for i in self._client.zrange(members, start, start + CHUNK - 1)]:
                pipe = self._client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hget(self._key(f"job:{job_id}"), "updated_at")
                ages = pipe.execute()
                found = {i: float(a) for i, a in zip(ids, ages, strict=True) if a}
                if found:
                    self._client.zadd(self._key(f"ended:{state}"), found)
                start += CHUNK

    def schema_version(self) -> int:
        key = self._key("schema")

        def read() -> bytes | str | None:
            try:
                value: bytes | str | None = self._client.get(key)
            except redis.ResponseError as err:  # WRONGTYPE: a list, a hash...
                raise self._not_a_schema(key, "a value of another type") from err
            return value

        version = self._scripts.call(read, read=True)
        if not version:
            return 0
        try:
            return int(version)
        except ValueError:
            raise self._not_a_schema(key, repr(version[:40])) from None

    def _not_a_schema(self, key: str, found: str) -> StoreError:
        """A key of another program's under our prefix: one line, not a traceback."""
        return StoreError(
            f"{self._target}: key {key!r} should hold queuectl's schema version but holds "
            f"{found} (is another program using the prefix {self.prefix!r}?)"
        )

    # -- the clock ------------------------------------------------------------------------

    def now(self) -> float:
        seconds, micros = self._scripts.call(self._client.time, read=True)
        return float(seconds) + float(micros) / 1e6 + self._scripts.clock_offset

    def advance_clock(self, seconds: float) -> None:
        self._scripts.clock_offset += seconds


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
