"""RedisStore's records: a hash per kind, name -> "version value" (record.lua writes)."""

from __future__ import annotations

from queuectl.models import Record
from queuectl.store.redis_base import RedisBase


class RedisRecords(RedisBase):
    def get_records(self, kind: str) -> dict[str, Record]:
        key = self._key(f"records:{kind}")
        found = self._scripts.call(lambda: self._client.hgetall(key), read=True)
        records = {}
        for name, kept in found.items():
            version, _, value = _text(kept).partition(" ")
            records[_text(name)] = Record(value, int(version))
        return dict(sorted(records.items()))

    def put_record(self, kind: str, name: str, value: str, version: int | None) -> int | None:
        expected = "" if version is None else str(version)
        answer = self._scripts.run("record", [kind, name, value, expected])
        return None if answer is None else int(answer)

    def delete_record(self, kind: str, name: str) -> bool:
        key = self._key(f"records:{kind}")
        return bool(self._scripts.call(lambda: self._client.hdel(key, name)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
