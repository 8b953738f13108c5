"""When a worker claims jobs, how many, and on which connection; and when a burst run is
over.

A claim is made when something may be due (`dirty`: a wake-up from the store, a slot
freed, a full claim that may have left more), when the next waiting job comes due (a
scheduled job, a retry: read from the store after a claim that left slots free), or at
the latest when the poll interval comes round, and only when it is worth a transaction
(pacing.py). It fills the free slots and the reserve
(slots.py) in one atomic claim. On a server store, while jobs run, it goes to a thread
with a connection of its own (claimer.py) and the loop takes its answer on a later turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from queuectl.claimer import Claimer
from queuectl.config import Settings
from queuectl.errors import StoreError
from queuectl.models import Job
from queuectl.slots import Slots
from queuectl.store import Store
from queuectl.timers import Duty, Timers

log = logging.getLogger("queuectl.worker")

DUE_MARGIN_S = 0.001  # wake this long after a job's run_at: not a claim just before it
BURST_POLL_S = 0.02  # a burst run with only others' jobs left looks again this soon...
# ...then half as often each time, down to the poll interval (see Claims.burst_done)


class Claims:
    """The worker's claims: `claim` is a step of its loop. `started` starts what the
    slots can take of the jobs just claimed."""

    def __init__(
        self,
        store: Store,
        worker_id: str,
        queues: Sequence[str] | None,
        slots: Slots,
        timers: Timers,
        settings: Callable[[], Settings],
        started: Callable[[], None],
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.queues = queues  # None: every queue
        self.slots = slots
        self.timers = timers
        self.settings = settings  # the worker's, refreshed as the config changes
        self.started = started
        self.dirty = True  # something may be due: try a claim
        self.burst_poll = 0.0  # see burst_done
        self.burst_check_failing_since: float | None = None  # monotonic; see burst_done
        self.claimer: Claimer | None = None  # claims in a thread, on server stores

    def start_claimer(self, wake_fd: int) -> None:
        """On a server store, claims go to a thread with a connection of its own
        (claimer.py); if that connection cannot be had, the loop claims itself."""
        if not self.store.remote:
            return
        try:
            self.claimer = Claimer(self.store.url, wake_fd)
        except StoreError as err:
            log.warning("claiming on the worker's own connection (%s)", err)

    def look_soon(self) -> None:
        """Something may be due (a slot freed, a change heard): claim on the loop's next
        turn. Safe from another thread: one assignment."""
        self.dirty = True

    def in_flight(self) -> bool:
        return self.claimer is not None and self.claimer.pending

    def would_claim(self) -> bool:
        """Whether a claim would be made once due (the loop's wait counts its timer)."""
        return not self.in_flight() and self.slots.claim_worthwhile(self.slots.wanted())

    def claim(self) -> None:
        self.slots.release_stale_reserve()
        if self.claimer is not None and self.claimer.pending:
            asked = self.claimer.asked
            jobs = self.claimer.take()
            if jobs is None:
                return  # still on its way; its answer wakes the loop
            self._claimed(jobs, asked)
        want = self.slots.wanted()
        now = time.monotonic()
        if not self.slots.claim_worthwhile(want):
            return
        if not (self.dirty or self.timers.due(Duty.CLAIM, now)):
            return
        self.dirty = False
        settings = self.settings()
        self.timers.booked(Duty.CLAIM, now, settings)
        if self.claimer is not None and self.slots.running:  # jobs run on meanwhile
            self.claimer.ask(self.worker_id, self.queues, want, settings.lease_seconds)
            return
        # Nothing running: nothing to overlap, and a thread's hand-off would only delay
        # the first job's start.
        jobs = self.store.claim_jobs(self.worker_id, self.queues, want, settings.lease_seconds)
        self._claimed(jobs, want)

    def _claimed(self, jobs: list[Job], asked: int) -> None:
        if jobs:
            ids = ", ".join(job.id for job in jobs[:5]) + (", ..." if len(jobs) > 5 else "")
            log.debug("claimed %d of %d job(s) asked for: %s", len(jobs), asked, ids)
        self.slots.reserve(jobs)
        self.started()
        if self.slots.ready:
            log.debug("%d job(s) held in reserve for the next free slot", len(self.slots.ready))
        if len(jobs) == asked:
            self.dirty = True  # there may be more: claim again as soon as a slot frees
        else:
            self._claim_when_due()

    def _claim_when_due(self) -> None:
        """Nothing more is due now: claim again when the next waiting job comes due (the
        store's clock decides, so the wait is read as seconds from its now), if that is
        before the poll interval's turn. A store that does not answer leaves the poll."""
        try:
            due_in = self.store.next_due_in(self.queues)
        except StoreError as err:
            log.debug("cannot read when the next job is due (%s)", err)
            return
        if due_in is not None:
            at = time.monotonic() + due_in + DUE_MARGIN_S
            self.timers.no_later_than(Duty.CLAIM, at)

    def release_reserve(self) -> None:
        """Stopping: claimed jobs that never started go back, their attempt not counted
        (those of a claim in flight too, once its answer is in)."""
        if self.claimer is not None and self.claimer.pending:
            self.slots.ready.extend(self.claimer.take(wait=True) or [])
        self.slots.hand_back_reserve()

    def burst_done(self, results_held: bool) -> bool:
        """Whether a burst run is over: nothing of ours left (`results_held`: results not
        recorded yet), nothing unfinished in the store. Other workers' results need not
        wake us (the store contract promises a wake-up for new work only), so while only
        their jobs are left, look again soon, then less and less often."""
        held = self.slots.running or self.slots.ready or results_held
        if held or self.dirty or self.in_flight():
            self.burst_poll = 0.0
            return False
        try:
            if not self.store.has_unfinished_jobs(self.queues):
                return True
            self.burst_check_failing_since = None
        except StoreError as err:
            self._burst_check_failed(err)
        poll = self.settings().poll_interval
        self.burst_poll = min(max(2 * self.burst_poll, BURST_POLL_S), poll)
        self.timers.no_later_than(Duty.CLAIM, time.monotonic() + self.burst_poll)
        return False

    def _burst_check_failed(self, err: StoreError) -> None:
        """Logged and looked at again soon like any step of the loop; after two leases of
        failures without a break the burst run gives up (as store_outage.py does)."""
        now = time.monotonic()
        if self.burst_check_failing_since is None:
            self.burst_check_failing_since = now
        failing = now - self.burst_check_failing_since
        if failing >= 2 * self.settings().lease_seconds:
            raise StoreError(
                f"burst run gave up: the check for unfinished jobs failed for {failing:.0f}s "
                f"({err})"
            )
        log.warning("burst: cannot check for unfinished jobs (%s); retrying", err)

    def close(self, wait: bool) -> None:
        if self.claimer is not None:
            self.claimer.close(wait=wait)
