"""RedisStore's limits: the settings (two hashes the claim script reads) and the counters
index and unindex keep in common.lua. A claim is one script, so it reads them atomically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from queuectl.store.redis_base import RedisBase

if TYPE_CHECKING:
    from queuectl.limits import KeyLimit, QueueLimit, Rate


def _queue_limit(queue: str, value: str) -> QueueLimit:
    from queuectl.limits import QueueLimit, Rate  # on first use: enqueue needs none

    concurrency, count, period, next_start = value.split(" ")
    rate = None if count == "-" else Rate(int(count), float(period))
    return QueueLimit(
        queue, None if concurrency == "-" else int(concurrency), rate, float(next_start)
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLimits(RedisBase):
    def queue_limits(self) -> list[QueueLimit]:
        key = self._key("queue_limits")
        found: dict[Any, Any] = self._scripts.call(lambda: self._client.hgetall(key), read=True)
        limits = [_queue_limit(_text(q), _text(v)) for q, v in found.items()]
        return sorted(limits, key=lambda limit: limit.queue)

    def set_queue_limit(self, queue: str, concurrency: int | None, rate: Rate | None) -> None:
        key = self._key("queue_limits")

        def write() -> None:
            kept = self._client.hget(key, queue)
            pipe = self._client.pipeline(transaction=True)
            if concurrency is None and rate is None:
                pipe.hdel(key, queue)
            else:
                at = "0" if kept is None else _text(kept).split(" ")[3]
                fields = [
                    "-" if concurrency is None else str(concurrency),
                    "-" if rate is None else str(rate.count),
                    "-" if rate is None else repr(rate.period),
                    at,
                ]
                pipe.hset(key, queue, " ".join(fields))
            pipe.publish(self._key("wake"), "limits")
            pipe.execute()

        self._scripts.call(write)

    def key_limits(self, keys: Sequence[str] | None = None) -> list[KeyLimit]:
        from queuectl.limits import KeyLimit

        names = [self._key(h) for h in ("key_limits", "key_running", "key_jobs")]

        def read() -> list[dict[Any, Any]]:
            pipe = self._client.pipeline(transaction=True)
            for name in names:
                pipe.hgetall(name)
            return list(pipe.execute())

        own, running, jobs = (
            {k.decode(): int(v) for k, v in found.items()}
            for found in self._scripts.call(read, read=True)
        )
        every = set(own) | set(jobs) | set(running)
        return [
            KeyLimit(k, own.get(k), running.get(k, 0), jobs.get(k, 0))
            for k in sorted(every)
            if keys is None or k in keys
        ]

    def set_key_limit(self, key: str, concurrency: int | None) -> None:
        # One script: the key's parked jobs come back with the change (key_limit.lua).
        self._scripts.run("key_limit", [key, "" if concurrency is None else str(concurrency)])

    def key_holder(self, key: str) -> str | None:
        # Rare (a `show` of a waiting keyed job): the processing jobs, read by id.
        state = self._key("state:processing")
        ids: list[Any] = self._scripts.call(lambda: self._client.zrange(state, 0, -1), read=True)
        for raw in ids:
            job_id = _text(raw)
            if self._held_key(self._key("job:" + job_id)) == key:
                return job_id
        return None

    def _held_key(self, job_key: str) -> str | None:
        held: Any = self._scripts.call(
            lambda: self._client.hget(job_key, "concurrency_key"), read=True
        )
        return None if held is None else _text(held)
