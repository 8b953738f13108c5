"""Limits, for every front end: set a queue's concurrency limit and rate, a concurrency
key's limit, list them, and say why a due job is not running (queuectl/limits.py has the
rules and the words)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from queuectl import limits
from queuectl.errors import InvalidSpec
from queuectl.limits import KeyLimit, QueueLimit
from queuectl.models import Job, JobState
from queuectl.spec import is_queue_name

if TYPE_CHECKING:
    from queuectl.store.base import Store

UNSET = msgspec.UNSET


class QueueLimits(msgspec.Struct, frozen=True):
    """A queue's limits as an operator reads them: `concurrency` (None: none), `rate`
    as written (`60/m`; None: none), and how long until the rate allows the next start
    (seconds; 0 when it allows one now, None without a rate)."""

    queue: str
    concurrency: int | None
    rate: str | None
    next_start_in: float | None


class KeyView(msgspec.Struct, frozen=True):
    """A concurrency key: its limit (`own`: whether set, else the default 1), its jobs
    running and unfinished."""

    key: str
    concurrency: int
    own: bool
    running: int
    jobs: int


def _queue_name(queue: str) -> str:
    if not is_queue_name(queue):
        raise InvalidSpec(f"bad queue name {queue!r} (letters, digits, ._:-)", field="queue")
    return queue


def view(limit: QueueLimit | None, queue: str, now: float) -> QueueLimits:
    if limit is None:
        return QueueLimits(queue, None, None, None)
    wait = None if limit.rate is None else max(0.0, limit.next_start_at - now)
    rate = None if limit.rate is None else str(limit.rate)
    return QueueLimits(queue, limit.concurrency, rate, wait)


def queue_limits(store: Store) -> dict[str, QueueLimits]:
    """Every queue with a limit, by name."""
    now = store.now()
    return {limit.queue: view(limit, limit.queue, now) for limit in store.queue_limits()}


def set_queue_limits(
    store: Store,
    queue: str,
    concurrency: str | int | msgspec.UnsetType | None = UNSET,
    rate: str | msgspec.UnsetType | None = UNSET,
) -> QueueLimits:
    """Change a queue's concurrency limit and/or rate ("none" or None lifts one; a value
    not given stays). Checked before anything changes."""
    _queue_name(queue)
    if concurrency is UNSET and rate is UNSET:
        raise InvalidSpec("give a concurrency limit or a rate (or none to lift one)")
    new_concurrency = UNSET if concurrency is UNSET else limits.parse_concurrency(concurrency)
    new_rate = UNSET if rate is UNSET else limits.parse_rate(rate)
    kept = {limit.queue: limit for limit in store.queue_limits()}.get(queue)
    if new_concurrency is UNSET:
        new_concurrency = None if kept is None else kept.concurrency
    if new_rate is UNSET:
        new_rate = None if kept is None else kept.rate
    store.set_queue_limit(queue, new_concurrency, new_rate)
    found = {limit.queue: limit for limit in store.queue_limits()}.get(queue)
    return view(found, queue, store.now())


def key_view(key: KeyLimit) -> KeyView:
    return KeyView(key.key, key.limit, key.concurrency is not None, key.running, key.jobs)


def keys(store: Store, names: Iterable[str] | None = None) -> list[KeyView]:
    """Concurrency keys with unfinished jobs or a limit of their own (or these), by name."""
    wanted = None if names is None else [limits.check_key(n) for n in names]
    return [key_view(k) for k in store.key_limits(wanted)]


def set_key_limit(store: Store, key: str, concurrency: str | int | None) -> KeyView:
    """Set a key's limit ("none" or None: back to the default, 1)."""
    limits.check_key(key)
    value = limits.parse_concurrency(concurrency)
    store.set_key_limit(key, value)
    found = store.key_limits([key])
    return key_view(found[0] if found else KeyLimit(key))


def waiting_reasons(store: Store, jobs: Iterable[Job]) -> dict[str, str]:
    """Why each of these jobs, due now, is not running, by id (only those a limit holds
    back). Reads each queue's limits and each key once."""
    due = [job for job in jobs if job.state in (JobState.PENDING, JobState.FAILED)]
    due = [job for job in due if job.blockers == 0]
    if not due:
        return {}
    now = store.now()
    queue_limits = {limit.queue: limit for limit in store.queue_limits()}
    wanted = sorted({job.concurrency_key for job in due if job.concurrency_key})
    if not queue_limits and not wanted:
        return {}
    found_keys = {k.key: k for k in store.key_limits(wanted)} if wanted else {}
    running: dict[str, int] = {}
    if queue_limits:
        running = {
            s.queue: s.by_state.get(JobState.PROCESSING, 0)
            for s in store.queue_stats()
            if s.queue in queue_limits
        }
    holders: dict[str, str | None] = {}
    reasons = {}
    for job in due:
        if job.run_at > now:
            continue
        key = found_keys.get(job.concurrency_key or "") if job.concurrency_key else None
        holder = None
        if key is not None and key.running >= key.limit:
            if key.key not in holders:
                holders[key.key] = store.key_holder(key.key)
            holder = holders[key.key]
        said = limits.reason(
            queue_limits.get(job.queue), running.get(job.queue, 0), key, holder, now
        )
        if said is not None:
            reasons[job.id] = said
    return reasons
