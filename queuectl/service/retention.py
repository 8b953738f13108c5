"""Retention: finished jobs are pruned once they are older than the `keep-completed`,
`keep-cancelled` and `keep-dead` settings (0 = kept for ever), by the workers, in small
batches, once per PRUNE_INTERVAL per database however many workers run.

One prune at a time: a worker takes it by writing the "retention" record from the
version it read (compare-and-set), so two hosts never prune at once. Each batch is one
short transaction (at most BATCH jobs, through the `jobs_ended` index), with a pause
between batches, so a prune never holds the write lock for long.
"""

from __future__ import annotations

import threading

import msgspec

from queuectl.config import Settings
from queuectl.models import JobState
from queuectl.store import Store

KIND, NAME = "retention", "prune"
PRUNE_INTERVAL = 300.0  # seconds between prunes of one database
BATCH = 500  # jobs deleted per transaction
PAUSE = 0.05  # seconds between batches: other writers take the lock meanwhile


class Prune(msgspec.Struct, frozen=True, omit_defaults=True):
    """The latest prune: when it started and ended, what it removed; `total` since the
    database's first prune."""

    started_at: float
    finished_at: float | None = None
    removed: int = 0
    total: int = 0


def last_prune(store: Store) -> Prune | None:
    record = store.get_records(KIND).get(NAME)
    return None if record is None else msgspec.json.decode(record.value, type=Prune)


def prune_if_due(store: Store, stop: threading.Event | None = None) -> int:
    """Prune when no prune started in the last PRUNE_INTERVAL (and take it, so no other
    host prunes meanwhile); returns how many jobs it removed."""
    settings = Settings.from_stored(store.get_config())
    keep = {
        JobState.COMPLETED: settings.keep_completed,
        JobState.CANCELLED: settings.keep_cancelled,
        JobState.DEAD: settings.keep_dead,
    }
    if not any(keep.values()):
        return 0
    record = store.get_records(KIND).get(NAME)
    last = None if record is None else msgspec.json.decode(record.value, type=Prune)
    now = store.now()
    if last is not None and now - last.started_at < PRUNE_INTERVAL:
        return 0
    total = 0 if last is None else last.total
    taken = Prune(started_at=now, total=total)
    version = store.put_record(
        KIND, NAME, _encode(taken), None if record is None else record.version
    )
    if version is None:
        return 0  # another host took this prune
    stop = stop or threading.Event()
    removed = 0
    for state, age in keep.items():
        while age > 0 and not stop.is_set():
            gone = store.purge_jobs([state], older_than=age, limit=BATCH)
            removed += gone
            if gone < BATCH:
                break
            stop.wait(PAUSE)
    done = Prune(now, store.now(), removed, total + removed)
    store.put_record(KIND, NAME, _encode(done), version)
    return removed


def _encode(prune: Prune) -> str:
    return msgspec.json.encode(prune).decode()
