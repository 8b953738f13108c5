"""Named SQL blocks: each dialect keeps its queries in one `.sql` file under the same names.

A block starts with a header line `-- name: claim_jobs` and runs to the next header.
Migrations live in `migrations/<dialect>/NNNN_title.sql`, one file per version.
"""

from __future__ import annotations

import re
from importlib.resources import files

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(filename: str) -> dict[str, str]:
    """Parse `queuectl/store/<filename>` into {block name: SQL text}."""
    text = files("queuectl.store").joinpath(filename).read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{filename}: query {name} defined twice")
        queries[name] = body.strip()
    return queries


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """[(version, SQL script)] for a dialect, in version order."""
    folder = files("queuectl.store").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.read_text(encoding="utf-8")))
    return sorted(found)
