"""Helpers both backends use to answer `query_jobs` (see base.py)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

from queuectl.models import Job

_SURROGATES = range(0xD800, 0xE000)


def id_prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high): every string starting with `prefix` and nothing else, in code point
    order (SQLite's BINARY collation, PostgreSQL's C collations): the prefix, and the
    prefix with its last character counted up by one."""
    last = ord(prefix[-1]) + 1
    if last in _SURROGATES:  # not encodable: skip to the next character that is
        last = _SURROGATES.stop
    if last > 0x10FFFF:
        return prefix, prefix + "\U0010ffff" * 2
    return prefix, prefix[:-1] + chr(last)


def merge_pages(pages: Iterable[list[Job]], oldest: bool, limit: int | None) -> list[Job]:
    """Pages in seq order (one per state) merged into one, at most `limit` long."""
    key = (lambda job: job.seq) if oldest else (lambda job: -job.seq)
    merged = heapq.merge(*pages, key=key)
    return list(merged if limit is None else itertools.islice(merged, limit))
