"""The results a worker holds: commands that ended, until the store takes what they did.

Results are recorded one by one, except plain successes of short jobs, which wait a few
milliseconds to go in a batch (pacing.py). A result the store refuses for what it holds
is recorded degraded (recording.py); one that keeps failing while the store takes other
writes is given up, and its job runs again once its lease expires. While the store takes
nothing at all, every result waits, with backoff, and the worker serves its running
jobs meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator

from queuectl.config import Settings
from queuectl.errors import StoreError, StoreRefused
from queuectl.pacing import Pacing
from queuectl.recording import Ending, Finished, event_fields, record
from queuectl.store import Store

log = logging.getLogger("queuectl.worker")

MAX_STORE_BACKOFF_S = 5.0
MAX_RESULT_FAILURES = 3  # failures of a result while the store takes other writes before
# its last try, in degraded forms only (recording.record)
BATCH_OUTPUT_BYTES = 64 << 10  # successes with at most this much output are recorded together


class Results:
    """Results waiting to be recorded, when to try next, and the tally of those that
    were. `record` is one step of the worker's loop."""

    def __init__(
        self,
        store: Store,
        worker_id: str,
        pacing: Pacing,
        settings: Callable[[], Settings],
        store_takes_writes: Callable[[], bool],
        slot_freed: Callable[[], None],
        retry_due: Callable[[float], None],
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.pacing = pacing
        self.settings = settings  # the worker's, refreshed as the config changes
        self.store_takes_writes = store_takes_writes  # a heartbeat: is the store up?
        self.slot_freed = slot_freed  # a result left: claim the slot's next job at once
        self.retry_due = retry_due  # a retry recorded comes due then (monotonic)
        self.waiting: deque[Finished] = deque()
        self.waiting_since = 0.0  # when the oldest result waiting came in
        self.next_try = time.monotonic()
        self.backoff = 0.0
        self.tally: Counter[Ending] = Counter()  # attempts recorded, by how they ended

    def __len__(self) -> int:
        return len(self.waiting)

    def __iter__(self) -> Iterator[Finished]:
        return iter(self.waiting)

    def add(self, done: Finished) -> None:
        if not self.waiting:
            self.waiting_since = time.monotonic()
        self.waiting.append(done)

    def due(self, now: float) -> bool:
        return bool(self.waiting) and now >= self.next_try

    def record(self, others_running: bool, stopping: bool) -> None:
        """Record what is due, each result on its own but for a batch of plain successes.
        Raises StoreError when the store takes nothing (all wait, with backoff)."""
        if not self.due(time.monotonic()):
            return
        if (linger := self._linger(others_running and not stopping)) > 0:
            self.next_try = time.monotonic() + linger
            return
        self._record_successes()
        for done in list(self.waiting):
            try:
                self._record(done)
            except StoreRefused as err:
                self._give_up(done, f"refused even without its output ({err})")
            except StoreError as err:
                if not self.store_takes_writes():
                    self._retry_later()
                    raise
                done.failures += 1
                if done.failures <= MAX_RESULT_FAILURES:
                    log.warning(
                        "job %s attempt %d: recording its result failed (%s); will retry",
                        done.job.id,
                        done.job.last_attempt,
                        err,
                    )
                    continue
                self._give_up(done, f"failed {done.failures} times ({err})")
            self.waiting.remove(done)
            self.slot_freed()
        if self.waiting:
            self._retry_later()
        else:
            self.backoff = 0.0

    def _linger(self, batchable: bool) -> float:
        """How long the results waiting may wait for more to batch with (pacing.py):
        only plain successes, while other jobs still run and no stop is under way."""
        batchable = batchable and all(_plain_success(done) for done in self.waiting)
        age = time.monotonic() - self.waiting_since
        return self.pacing.record_after(len(self.waiting), age, batchable)

    def _record_successes(self) -> None:
        """Plain successes (small output, no earlier failure) in one transaction: short
        jobs end several per turn. Anything amiss leaves them to the one-by-one path."""
        batch = [done for done in self.waiting if _plain_success(done)]
        if len(batch) < 2:
            return
        try:
            recorded = self.store.complete_jobs(
                self.worker_id, [(d.job.id, d.job.last_attempt, d.result) for d in batch]
            )
        except StoreError:
            return
        for done, stored in zip(batch, recorded, strict=True):
            if stored:
                self._recorded(done, Ending.COMPLETED, "completed")
            else:
                _log_lost(done)
            self.waiting.remove(done)
        self.slot_freed()

    def _record(self, done: Finished) -> None:
        suspect = done.failures >= MAX_RESULT_FAILURES  # last try: degraded forms only
        recorded = record(self.store, self.settings(), self.worker_id, done, suspect)
        if recorded.retry_delay is not None:  # be there when the retry comes due
            self.retry_due(time.monotonic() + recorded.retry_delay)
        if recorded.stored:
            self._recorded(done, recorded.ending, recorded.outcome)
        else:
            _log_lost(done)

    def _recorded(self, done: Finished, ending: Ending, outcome: str) -> None:
        """Tally a recorded attempt by how it ended, and log it with its outcome."""
        job, result = done.job, done.result
        took = result.finished_at - result.started_at
        self.tally[ending] += 1
        log.info(
            "job %s attempt %d %s after %.2fs",
            job.id,
            job.last_attempt,
            outcome,
            took,
            extra=event_fields(
                ending.value, job, exit_code=result.exit_code, duration_s=round(took, 3)
            ),
        )

    def _retry_later(self) -> None:
        """Keep the results; the loop goes on serving running jobs meanwhile."""
        self.backoff = min(max(self.backoff * 2, 0.1), MAX_STORE_BACKOFF_S)
        self.next_try = time.monotonic() + self.backoff

    def summary(self, worker_id: str, ran: float) -> str:
        """What a worker did in `ran` seconds, for its last words: attempts by outcome."""
        return summary_line(worker_id, ran, self.tally)

    def _give_up(self, done: Finished, why: str) -> None:
        """Stop holding a result the store will not take: its lease expires and the job
        runs again (the lease rules), rather than this worker retrying it forever."""
        job = done.job
        log.error(
            "job %s attempt %d: result not recorded, %s; the job runs again once its lease expires",
            job.id,
            job.last_attempt,
            why,
        )


def summary_line(worker_id: str, ran: float, tally: Counter[Ending]) -> str:
    """`worker ID ran 1.2s: 3 completed, 0 failed, 0 dead` (cancelled and released only
    when there were any): a worker's last words, one for all of a supervisor's processes."""
    counts = [f"{tally[k]} {k}" for k in (Ending.COMPLETED, Ending.FAILED, Ending.DEAD)]
    others = (Ending.CANCELLED, Ending.RELEASED)  # only when there were any
    counts += [f"{n} {k}" for k, n in tally.items() if k in others]
    return f"worker {worker_id} ran {_took(ran)}: {', '.join(counts)}"


def _log_lost(done: Finished) -> None:
    log.warning(
        "job %s attempt %d: result discarded, the lease was lost (job moved on)",
        done.job.id,
        done.job.last_attempt,
    )


def _plain_success(done: Finished) -> bool:
    """A success with little output, not tried before: one of a batch (complete_jobs)."""
    return (
        done.reason is None
        and done.failures == 0
        and done.result.succeeded
        and len(done.result.stdout) + len(done.result.stderr) <= BATCH_OUTPUT_BYTES
    )


def _took(seconds: float) -> str:
    """1.2s, 3m05s, 2h01m07s."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m{secs:02d}s"
