"""Named SQL blocks: each dialect keeps its queries in one `.sql` file under the same names.

A block starts with a header line `-- name: claim_jobs` and runs to the next header.
Migrations live in `migrations/<dialect>/NNNN_title.sql`, one file per version.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from queuectl.errors import StoreError
from queuectl.models import JobState, QueueStats

_HERE = os.path.dirname(os.path.abspath(__file__))
_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(filename: str) -> dict[str, str]:
    """Parse `queuectl/store/<filename>` into {block name: SQL text}."""
    with open(os.path.join(_HERE, filename), encoding="utf-8") as handle:
        text = handle.read()
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{filename}: query {name} defined twice")
        queries[name] = body.strip()
    return queries


def latest_migration(dialect: str) -> int:
    """The highest migration number of a dialect, without reading the scripts."""
    names = os.listdir(os.path.join(_HERE, "migrations", dialect))
    return max(int(name.split("_", 1)[0]) for name in names if name.endswith(".sql"))


def check_schema_version(version: int, dialect: str, where: str) -> int:
    """Refuse a database migrated by a newer queuectl; return the latest version we know."""
    latest = latest_migration(dialect)
    if version > latest:
        raise StoreError(
            f"{where} has schema version {version}, newer than this queuectl knows ({latest}): "
            "upgrade queuectl"
        )
    return latest


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """[(version, SQL script)] for a dialect, in version order."""
    folder = os.path.join(_HERE, "migrations", dialect)
    found = []
    for name in os.listdir(folder):
        if name.endswith(".sql"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                found.append((int(name.split("_", 1)[0]), handle.read()))
    return sorted(found)


def queue_stats(rows: Iterable[Any]) -> list[QueueStats]:
    """The rows of either dialect's `queue_stats` query (queue, state, n, oldest_due_at;
    sqlite3.Row or dict) as one QueueStats per queue."""
    stats: dict[str, QueueStats] = {}
    for row in rows:
        seen = stats.setdefault(row["queue"], QueueStats(queue=row["queue"], by_state={}))
        seen.by_state[JobState(row["state"])] = row["n"]
        if row["oldest_due_at"] is not None:
            stats[row["queue"]] = QueueStats(
                queue=seen.queue, by_state=seen.by_state, oldest_due_at=row["oldest_due_at"]
            )
    return list(stats.values())
