"""The jobs a worker holds and has not finished: its slots and its reserve.

A slot runs one job's command (a `runner.Process`). The reserve holds jobs claimed but
not started: while jobs are short, a claim takes a few more than the free slots, so a
slot that frees starts its next job before any database call (pacing.py). A reserve from
which no job has started for RESERVE_HOLD_S sits behind jobs that are not short after
all: it goes back to the store for a free worker to take. A held job leaves early when
its cancel is asked for (killed, or handed back unstarted: the store's rule makes it
cancelled), when its lease is lost (killed, nothing recorded: another worker has it
now), or when the worker stops at once (killed and handed back).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from queuectl.models import Interrupt, Job, LiveTail
from queuectl.pacing import Pacing
from queuectl.recording import Finished
from queuectl.runner import Process
from queuectl.store import Store

log = logging.getLogger("queuectl.worker")

KILL_GRACE_S = 1.0  # SIGTERM to SIGKILL on a cold stop or a cancel
RESERVE_HOLD_S = 0.25  # a reserve from which no job started for this long goes back

# Starts a job's command; None when it could not start (the launcher records that).
Launch = Callable[[Job], Process | None]


class Slots:
    """Running jobs by id (`running`), and the reserve in claim order (`ready`)."""

    def __init__(
        self,
        store: Store,
        worker_id: str,
        count: int,
        pacing: Pacing,
        reserve_for: int | None = None,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.count = count
        self.pacing = pacing
        # The slots a reserve is sized for: a supervisor's process reserves for the whole
        # worker, so its claims are as large as one process's would be (supervisor.py).
        self.reserve_for = reserve_for or count
        self.running: dict[str, tuple[Job, Process]] = {}
        self.ready: deque[Job] = deque()  # claimed, waiting for a slot (see `wanted`)
        self.ready_since = 0.0  # claimed into while empty, or a job last started from it

    def held(self) -> list[str]:
        """The ids of the jobs held here (running or reserved): their leases to renew."""
        return [*self.running, *(job.id for job in self.ready)]

    def wanted(self) -> int:
        """How many jobs to claim: one per free slot, plus a reserve while jobs are short,
        so a slot that frees starts its next job before any database call (pacing.py)."""
        reserve = self.pacing.reserve(self.reserve_for, self.count)
        return self.count + reserve - len(self.running) - len(self.ready)

    def claim_worthwhile(self, want: int) -> bool:
        idle_slot = not self.ready and len(self.running) < self.count
        return self.pacing.claim_worthwhile(want, self.reserve_for, idle_slot, self.count)

    def reserve(self, jobs: list[Job]) -> None:
        """Jobs just claimed: they wait here for a slot (and say whether concurrency keys
        are in play, which keeps the next reserves small: pacing.py)."""
        if jobs:
            self.pacing.keyed = any(job.concurrency_key is not None for job in jobs)
        if jobs and not self.ready:
            self.ready_since = time.monotonic()
        self.ready.extend(jobs)

    def start_ready(self, launch: Launch, stopping: Callable[[], bool]) -> None:
        """Start reserved jobs in the free slots, unless a stop is under way."""
        while self.ready and len(self.running) < self.count and not stopping():
            job = self.ready.popleft()
            process = launch(job)
            if process is not None:
                self.running[job.id] = (job, process)
            self.ready_since = time.monotonic()

    def reserve_expires_at(self) -> float | None:
        """When the reserve has waited too long for a slot: RESERVE_HOLD_S after it was
        claimed into, or after its last job started (None: no reserve)."""
        return self.ready_since + RESERVE_HOLD_S if self.ready else None

    def release_stale_reserve(self) -> None:
        """A reserve from which no job has started for RESERVE_HOLD_S sits behind jobs that
        are not short after all: give it back, for a free worker to take, and stop
        reserving."""
        if self.ready and time.monotonic() >= self.ready_since + RESERVE_HOLD_S:
            log.debug("reserve of %d job(s) handed back: a slot stayed busy", len(self.ready))
            self.pacing.slow_down()
            self.hand_back_reserve()

    def hand_back_reserve(self) -> None:
        """Give every reserved job back to the store, its attempt not counted, in one
        batch; if the store does not take it, they stay reserved (the caller's step is
        tried again: a job released meanwhile is then no longer ours, and passed over)."""
        if self.ready:
            held = [(job.id, job.last_attempt) for job in self.ready]
            self.store.release_jobs(self.worker_id, held)
            self.ready.clear()

    def cancel(self, job_ids: frozenset[str]) -> None:
        """Cancels asked for through the store: kill the running ones (recorded cancelled
        once they end) and hand back the reserved ones, which never start."""
        for job_id in job_ids:
            if job_id in self.running and self.running[job_id][1].reason is None:
                log.info("job %s: cancel requested, killing its process group", job_id)
                self.running[job_id][1].interrupt(Interrupt.CANCELLED, KILL_GRACE_S)
        # The store's rule makes a reserved job handed back cancelled (the attempt not counted).
        for job in [job for job in self.ready if job.id in job_ids]:
            if self.store.release_job(job.id, self.worker_id, job.last_attempt):
                log.info("job %s: cancelled before it started", job.id)
            self.ready.remove(job)

    def drop_lost(self, renewed: frozenset[str]) -> None:
        """Jobs whose lease we lost (we were cut off or stalled for longer than a lease,
        and another worker retried them) are not ours to run any more: kill our copy
        at once rather than run it twice side by side, and record nothing."""
        for job_id, (job, process) in self.running.items():
            if job_id not in renewed and process.reason is None:
                log.warning(
                    "job %s attempt %d: lease lost, killing our copy", job_id, job.last_attempt
                )
                process.interrupt(Interrupt.LOST, KILL_GRACE_S)
        kept = [job for job in self.ready if job.id in renewed]
        if len(kept) != len(self.ready):
            log.warning(
                "dropped %d reserved job(s) whose lease was lost", len(self.ready) - len(kept)
            )
            self.ready = deque(kept)

    def release_running(self) -> None:
        """A cold stop: kill every running job; each is handed back once it has ended."""
        for _, process in self.running.values():
            process.interrupt(Interrupt.RELEASED, KILL_GRACE_S)

    def kill_running(self) -> None:
        """The last resort (the watchdog's): SIGKILL every running job's group, reap none."""
        for _, process in list(self.running.values()):
            process.kill_group()

    def deadlines(self) -> list[float]:
        """When running commands next need attention (a timeout, a SIGKILL due)."""
        return [d for _, p in self.running.values() if (d := p.next_deadline()) is not None]

    def collect(self, now: float) -> list[Finished]:
        """Apply the commands' deadlines, and take those that ended out of their slots:
        their results to record (none for a job whose lease was lost)."""
        finished = []
        for job_id, (job, process) in list(self.running.items()):
            process.on_time(now)
            if process.done:
                del self.running[job_id]
                result = process.finish()
                if process.reason is Interrupt.LOST:
                    continue  # someone else owns this job now: nothing of ours to record
                self.pacing.observe(result.finished_at - result.started_at)
                finished.append(Finished(job, result, process.reason))
        return finished

    def publish_output(self, ran_since: float) -> None:
        """Share the output so far of the running jobs that printed something since it was
        last published and have run since before `ran_since`, in one write: short or
        silent jobs cost nothing."""
        tails, marks = [], []
        for job_id, (job, process) in self.running.items():
            written = (process.stdout.written, process.stderr.written)
            if written != process.published and process.started <= ran_since:
                out, err = process.stdout.snapshot(), process.stderr.snapshot()
                tails.append(LiveTail(job_id, self.worker_id, job.last_attempt, out, err, *written))
                marks.append((process, written))
        if tails:
            self.store.publish_output(tails)
            for process, written in marks:
                process.published = written
