"""When a worker goes to the store: batches for short jobs, at once for long ones.

A job that runs for a millisecond must not cost a write transaction to claim it and
another to record it: at that rate the store, not the jobs, would set the pace. While
jobs are short (under SHORT_S on average), a worker claims several jobs ahead (a
reserve, started the moment a slot frees: about RESERVE_AHEAD_S of work per slot, so the
shorter the jobs, the larger the batch each claim takes) and records several results in
one transaction, a few milliseconds late. Quick jobs (under QUICK_S) get a reserve of
half the worker's slots (at most one per slot of the process that holds it, so each
starts within one job's run), so that a claim takes a few jobs (on PostgreSQL a claim's
and a result's statement cost the server about as much for one job as for several), and
their results wait for company the same few milliseconds. Long jobs get neither: a job must
not wait behind one that runs for minutes, and a result is recorded as soon as it is
known.

A reserved job counts against its queue's and key's concurrency limits (it is
`processing`), so where a limit may be in play (`limited_queue`: a queue of the worker's
has a concurrency limit; `keyed`: its last claim brought jobs with a concurrency key)
the reserve stays at RESERVE_PER_SLOT a slot for short jobs and at one job for quick
ones: a limit of 20 is not all held by one worker's reserve while other workers wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from queuectl.limits import QueueLimit

QUICK_S = 0.1  # jobs shorter than this on average: half the slots in reserve, results batched
SHORT_S = 0.01  # ...shorter than this: several jobs a slot in reserve
RESERVE_PER_SLOT = 4  # ...at least that many per slot
RESERVE_AHEAD_S = 0.025  # ...or as many as run in this long, one after the other
MAX_RESERVE = 64
RECORD_BATCH = 32  # record at once when this many results wait
RECORD_LINGER_S = 0.02  # ...or when the oldest has waited this long


class Pacing:
    """The moving average of job run times, and what it allows."""

    def __init__(self) -> None:
        self.recent_runtime = 1.0  # seconds; a new worker assumes jobs are long
        self.limited_queue = False  # a queue the worker takes from has a concurrency limit
        self.keyed = False  # the last claim brought jobs with a concurrency key

    def observe(self, took: float) -> None:
        """A job's run time (wall clock: one stepped back reads as no time at all)."""
        self.recent_runtime = 0.8 * self.recent_runtime + 0.2 * max(0.0, took)

    def slow_down(self) -> None:
        """A reserved job waited too long for a slot: jobs are not short after all."""
        self.recent_runtime = max(self.recent_runtime, 1.0)

    @property
    def short(self) -> bool:
        return self.recent_runtime < SHORT_S

    def reserve(self, slots: int, own: int | None = None) -> int:
        """Jobs to hold claimed beyond the free slots: `slots` the worker's, `own` those of
        the process that holds them (default: the same). A quick job's reserve is never
        more than the process's own slots, so each reserved job starts within one run."""
        if self.short:
            ahead = round(RESERVE_AHEAD_S / max(self.recent_runtime, 1e-6))
            per_slot = RESERVE_PER_SLOT if self.limited else max(RESERVE_PER_SLOT, ahead)
            return min(per_slot * slots, MAX_RESERVE)
        if self.recent_runtime < QUICK_S:
            if self.limited:
                return 1
            return max(1, min(slots // 2, slots if own is None else own))
        return 0

    @property
    def limited(self) -> bool:
        """Whether a concurrency limit may be in play (see the module's docstring)."""
        return self.limited_queue or self.keyed

    def claim_worthwhile(
        self, want: int, slots: int, idle_slot: bool, own: int | None = None
    ) -> bool:
        """Whether a claim of `want` jobs is worth a transaction now: always when a slot
        has nothing to start, else once the reserve is half used up."""
        return want > 0 and (idle_slot or want >= max(1, self.reserve(slots, own) // 2))

    def record_after(self, waiting: int, oldest_age: float, batchable: bool) -> float:
        """Seconds until the results waiting should be recorded (0: now). Only plain
        successes of short or quick jobs linger, and only while more are coming (the
        caller says so with `batchable`)."""
        if not batchable or self.recent_runtime >= QUICK_S or waiting >= RECORD_BATCH:
            return 0.0
        return max(0.0, RECORD_LINGER_S - oldest_age)


def limited_queue(limits: Sequence[QueueLimit], queues: Sequence[str] | None) -> bool:
    """Whether a queue a worker takes from (`queues`; None: every queue) has a
    concurrency limit (store.queue_limits(), read as the worker refreshes its settings)."""
    return any(
        limit.concurrency is not None and (queues is None or limit.queue in queues)
        for limit in limits
    )
