"""PostgresStore's records (Store.get_records, put_record, delete_record)."""

from __future__ import annotations

from queuectl.models import Record
from queuectl.store.postgres_base import PostgresBase


class PostgresRecords(PostgresBase):
    def get_records(self, kind: str) -> dict[str, Record]:
        rows = self._read("get_records", {"kind": kind})
        return {row["name"]: Record(row["value"], int(row["version"])) for row in rows}

    def put_record(self, kind: str, name: str, value: str, version: int | None) -> int | None:
        params = {"kind": kind, "name": name, "value": value, "version": version}
        rows, _ = self._statement("insert_record" if version is None else "update_record", params)
        return int(rows[0]["version"]) if rows else None

    def delete_record(self, kind: str, name: str) -> bool:
        return self._statement("delete_record", {"kind": kind, "name": name})[1] > 0
