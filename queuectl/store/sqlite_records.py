"""SqliteStore's records (Store.get_records, put_record, delete_record)."""

from __future__ import annotations

from queuectl.models import Record
from queuectl.store.sqlite_base import Q, SqliteBase


class SqliteRecords(SqliteBase):
    def get_records(self, kind: str) -> dict[str, Record]:
        with self._reading() as conn:
            rows = conn.execute(Q["get_records"], {"kind": kind}).fetchall()
        return {row["name"]: Record(row["value"], row["version"]) for row in rows}

    def put_record(self, kind: str, name: str, value: str, version: int | None) -> int | None:
        params = {"kind": kind, "name": name, "value": value, "version": version}
        query = Q["insert_record"] if version is None else Q["update_record"]
        with self._writing() as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else int(row[0])

    def delete_record(self, kind: str, name: str) -> bool:
        with self._writing() as conn:
            return conn.execute(Q["delete_record"], {"kind": kind, "name": name}).rowcount > 0
