"""MemoryStore's records (Store.get_records, put_record, delete_record)."""

from __future__ import annotations

from queuectl.models import Record
from queuectl.store.memory_base import MemoryBase


class MemoryRecords(MemoryBase):
    def get_records(self, kind: str) -> dict[str, Record]:
        with self._db.lock:
            return dict(sorted(self._db.records.get(kind, {}).items()))

    def put_record(self, kind: str, name: str, value: str, version: int | None) -> int | None:
        with self._db.lock:
            records = self._db.records.setdefault(kind, {})
            kept = records.get(name)
            if (kept is None) != (version is None) or (kept and kept.version != version):
                return None
            new = Record(value, 1 if kept is None else kept.version + 1)
            records[name] = new
            return new.version

    def delete_record(self, kind: str, name: str) -> bool:
        with self._db.lock:
            return self._db.records.get(kind, {}).pop(name, None) is not None
