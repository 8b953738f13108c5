"""The worker supervisor: claim jobs, run them, record what happened.

One process, one thread, one store connection. Running commands are `runner.Process`
objects driven by the loop's selector, so N slots cost no threads and no locks. Each
turn of the loop runs a fixed list of named steps:

1. heartbeat       renew our leases; read orders (stop, cancel running jobs)
2. reap_expired    fail jobs whose worker died (lease expired); refresh settings
3. record_results  write what finished commands produced (complete/fail/cancel/release)
4. claim_jobs      fill free slots with due jobs, one atomic claim for all of them (and,
                   while jobs are short, one more in reserve, started the moment a slot
                   frees, before any database call)
5. check_stop      when stopping: wait for running jobs, up to the grace period
6. wait            sleep until output, an exit, a database change, a signal or a timer

Signal handlers only set flags (and `set_wakeup_fd` wakes the loop). A store that is
unreachable is retried with backoff; running jobs go on meanwhile and their results wait
in memory until the store is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import selectors
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from queuectl.config import Settings
from queuectl.errors import StoreError
from queuectl.models import Job, JobState, RunResult, WorkerInfo
from queuectl.runner import Limits, Process, seal_inherited_fds, start_command
from queuectl.store import ChangeWaiter, Store, open_store

log = logging.getLogger("queuectl.worker")

POLL_FALLBACK_S = 0.5  # claim even without a change signal: retries coming due, lost wakes
MIN_HEARTBEAT_S = 0.25  # earliest heartbeat after a wake-up (cancel and stop orders)
KILL_GRACE_S = 1.0  # SIGTERM to SIGKILL on a cold stop or a cancel
PRUNE_AFTER_S = 3600.0  # forget workers silent for this long
MAX_STORE_BACKOFF_S = 5.0
LISTEN_RETRY_S = 1.0  # how often a waiter that lost its connection tries again
RESERVE_BELOW_S = 0.1  # hold one claimed job in reserve while jobs run shorter than this
RESERVE_HOLD_S = 0.25  # ...and give it back if it waits longer than this for a slot


def default_host() -> str:
    return os.environ.get("QUEUECTL_HOSTNAME") or socket.gethostname()


def new_worker_id(host: str) -> str:
    """host-pid-random: readable in `worker list`, unique even when pids are reused."""
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass
class WorkerOptions:
    slots: int = 1
    queues: Sequence[str] | None = None  # None = every queue
    burst: bool = False
    host: str = field(default_factory=default_host)


@dataclass
class Finished:
    job: Job
    result: RunResult
    reason: str | None  # None, "cancelled" or "released"


class Worker:
    """One supervisor process. `run()` returns the process exit code."""

    def __init__(self, url: str | None, options: WorkerOptions) -> None:
        self.options = options
        self.store: Store = open_store(url, durable=False)
        self.id = new_worker_id(options.host)
        self.settings = Settings.from_stored(self.store.get_config())
        self.selector = selectors.DefaultSelector()
        self.running: dict[str, tuple[Job, Process]] = {}
        self.ready: deque[Job] = deque()  # claimed, waiting for a slot (see _wanted)
        self.ready_since = 0.0  # when the oldest job in `ready` was claimed
        self.recent_runtime = 1.0  # moving average of job run times, seconds
        self.unrecorded: deque[Finished] = deque()
        self.stop_mode: str | None = None  # None, "graceful" or "now"
        self.stop_deadline: float | None = None
        self.signals = 0
        now = time.monotonic()
        self.next_heartbeat = self.next_reap = self.next_claim = now
        self.next_record = now
        self.record_backoff = 0.0
        self.outage_backoff = 0.0
        self.last_outage = -1e9  # monotonic time of the last store failure
        self.dirty = True  # something may be due: try a claim
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        self.waiter: ChangeWaiter | None = None
        self._waiter_fd: int | None = None
        self.fd_waiter = False  # the waiter is watched in our selector (not by a thread)
        self.next_listen = 0.0

    # -- life cycle ---------------------------------------------------------------------

    def run(self) -> int:
        seal_inherited_fds()
        self._install_signal_handlers()
        self._until_stored("register", self._register)
        self._watch_changes()
        queues = ",".join(self.options.queues or ["*"])
        log.info("worker %s started: %d slot(s), queues %s", self.id, self.options.slots, queues)
        try:
            reason = self._loop()
        finally:
            self._shutdown()
        log.info("worker %s stopped: %s", self.id, reason)
        return 0

    def _loop(self) -> str:
        while True:
            # Each step needs the store; after a failure the rest wait for the next turn.
            ok = all(
                self._step(s) for s in (self.heartbeat, self.reap_expired, self.record_results)
            )
            if self.stop_mode and self.check_stop():
                return f"{self.stop_mode} stop"
            if not self.stop_mode and ok and self._step(self.claim_jobs):  # noqa: SIM102
                if self.options.burst and self._burst_done():
                    return "burst: no job left to run"
            if not ok:
                self.outage_backoff = min(max(self.outage_backoff * 2, 0.1), MAX_STORE_BACKOFF_S)
                self._pause(self.outage_backoff)
            self.wait()

    def _step(self, action: Callable[[], object]) -> bool:
        """Run one step; False when the store is down or busy (logged; retried next turn).
        After an outage, heartbeat first thing, and let everyone do so before reaping."""
        try:
            action()
        except StoreError as err:
            log.warning("database unavailable (%s); retrying", err)
            self.last_outage = time.monotonic()
            self.next_heartbeat = 0.0
            return False
        self.outage_backoff = 0.0
        return True

    def _until_stored(self, what: str, action: Callable[[], object]) -> None:
        """Retry `action` with backoff until the store takes it (start-up, shutdown)."""
        delay = 0.1
        while True:
            try:
                action()
                return
            except StoreError as err:
                if self.stop_mode == "now" and what == "register":
                    raise
                log.warning("%s: database unavailable (%s); retrying in %.1fs", what, err, delay)
            self._pause(delay)
            delay = min(delay * 2, MAX_STORE_BACKOFF_S)

    def _pause(self, seconds: float) -> None:
        """Sleep, but keep running commands' output flowing meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.wait(left)

    def _register(self) -> None:
        info = WorkerInfo(
            id=self.id,
            host=self.options.host,
            pid=os.getpid(),
            queues=tuple(self.options.queues or ()),
            slots=self.options.slots,
            started_at=0.0,
            heartbeat_at=0.0,
        )
        self.store.register_worker(info)

    def _shutdown(self) -> None:
        """Only non-empty after an error in the loop: kill what runs, record it released."""
        self.stop_mode = "now"  # nothing starts from here on
        self._step(self.release_reserve)
        for _, process in self.running.values():
            process.interrupt("released", KILL_GRACE_S)
        deadline = time.monotonic() + 30
        while (self.running or self.unrecorded) and time.monotonic() < deadline:
            self.wait(0.1)
            self._step(self.record_results)
        if self.waiter is not None:
            self.waiter.close()
        try:
            self.store.unregister_worker(self.id)
        except StoreError as err:
            log.warning("could not unregister worker %s: %s", self.id, err)
        self.store.close()
        signal.set_wakeup_fd(-1)
        self.selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    # -- signals and stopping -------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: warm stop. Second: cold stop. Only flags; the loop does the work."""
        self.signals += 1
        self.request_stop("graceful" if self.signals == 1 else "now")
        self.next_heartbeat = 0.0  # read the database's orders too (worker stop --now)

    def request_stop(self, mode: str) -> None:
        if self.stop_mode != "now":
            self.stop_mode = mode

    def check_stop(self) -> bool:
        """While stopping: True once nothing runs and every result is recorded. Turns a
        graceful stop cold when the grace period is over."""
        released = self._step(self.release_reserve)
        if not self.running:
            # A cold stop leaves without what the store would not take: those leases expire
            # and the jobs are retried.
            return self.stop_mode == "now" or (released and not self.unrecorded)
        if self.stop_mode == "graceful":
            if self.stop_deadline is None:
                self.stop_deadline = time.monotonic() + self.settings.grace_period
                grace, count = self.settings.grace_period, len(self.running)
                log.info("stopping: waiting up to %gs for %d running job(s)", grace, count)
            elif time.monotonic() >= self.stop_deadline:
                log.info("grace period over: killing running jobs")
                self.stop_mode = "now"
                self.stop_deadline = None
        if self.stop_mode == "now":
            for _, process in self.running.values():
                process.interrupt("released", KILL_GRACE_S)
        return False

    # -- the steps ------------------------------------------------------------------------

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        held = [*self.running, *(job.id for job in self.ready)]
        held += [done.job.id for done in self.unrecorded]
        orders = self.store.heartbeat(self.id, self.settings.lease_seconds, held)
        self.next_heartbeat = now + min(self.settings.lease_seconds / 3, 5.0)
        self._drop_lost(orders.renewed)
        if orders.stop and orders.stop != self.stop_mode:
            log.info("stop requested through the database (%s)", orders.stop)
            self.request_stop(orders.stop)
        for job_id in orders.cancel:
            if job_id in self.running and self.running[job_id][1].reason is None:
                log.info("job %s: cancel requested, killing its process group", job_id)
                self.running[job_id][1].interrupt("cancelled", KILL_GRACE_S)

    def _drop_lost(self, renewed: frozenset[str]) -> None:
        """Jobs whose lease we lost (we were cut off or stalled for longer than a lease,
        and another worker retried them) are not ours to run any more: kill our copy
        at once rather than run it twice side by side, and record nothing."""
        for job_id, (job, process) in self.running.items():
            if job_id not in renewed and process.reason is None:
                log.warning("job %s attempt %d: lease lost, killing our copy", job_id, job.attempts)
                process.interrupt("lost", KILL_GRACE_S)
        kept = [job for job in self.ready if job.id in renewed]
        if len(kept) != len(self.ready):
            log.warning(
                "dropped %d reserved job(s) whose lease was lost", len(self.ready) - len(kept)
            )
            self.ready = deque(kept)

    def reap_expired(self) -> None:
        now = time.monotonic()
        if now < self.next_reap:
            return
        self.next_reap = now + max(self.settings.lease_seconds / 2, 1.0)
        self.settings = Settings.from_stored(self.store.get_config())
        if now - self.last_outage < self.settings.lease_seconds:
            # We were cut off from the store, and so perhaps were the other workers: give
            # them one lease to renew theirs before calling their jobs lost.
            return
        for job in self.store.expired_jobs():
            lost = RunResult(None, "worker lost (lease expired)")
            delay = self.settings.retry_delay(job.attempts, random.random())
            state = self.store.reap_job(job.id, job.worker_id or "", job.attempts, lost, delay)
            if state is not None:
                text = _failure_text(job, lost, state, delay)
                log.warning("job %s: worker %s lost it; %s", job.id, job.worker_id, text)
        self.store.prune_workers(max(PRUNE_AFTER_S, self.settings.lease_seconds * 10))

    def record_results(self) -> None:
        if not self.unrecorded or time.monotonic() < self.next_record:
            return
        try:
            while self.unrecorded:
                self._record(self.unrecorded[0])
                self.unrecorded.popleft()
                self.dirty = True  # a slot is free: claim its next job at once
            self.record_backoff = 0.0
        except StoreError:
            # Keep the results; the loop goes on serving running jobs meanwhile.
            self.record_backoff = min(max(self.record_backoff * 2, 0.1), MAX_STORE_BACKOFF_S)
            self.next_record = time.monotonic() + self.record_backoff
            raise

    def _record(self, done: Finished) -> None:
        job, result, store = done.job, done.result, self.store
        took = result.finished_at - result.started_at
        if done.reason == "cancelled":
            ok = store.cancel_running_job(job.id, self.id, job.attempts, result)
            outcome = "cancelled"
        elif done.reason == "released":
            ok = store.release_job(job.id, self.id, job.attempts)
            outcome = "released to pending (attempt not counted)"
        elif result.succeeded:
            ok = store.complete_job(job.id, self.id, job.attempts, result)
            outcome = "completed"
        else:
            delay = self.settings.retry_delay(job.attempts, random.random())
            state = store.fail_job(job.id, self.id, job.attempts, result, delay)
            ok = state is not None
            outcome = _failure_text(job, result, state, delay)
            if state is JobState.FAILED:  # be there when the retry comes due
                self.next_claim = min(self.next_claim, time.monotonic() + delay)
        if ok:
            log.info("job %s attempt %d %s after %.2fs", job.id, job.attempts, outcome, took)
        else:
            log.warning(
                "job %s attempt %d: result discarded, the lease was lost (job moved on)",
                job.id,
                job.attempts,
            )

    def claim_jobs(self) -> None:
        self._release_stale_reserve()
        want = self._wanted()
        now = time.monotonic()
        if want <= 0 or not (self.dirty or now >= self.next_claim):
            return
        self.dirty = False
        self.next_claim = now + POLL_FALLBACK_S
        jobs = self.store.claim_jobs(
            self.id, self.options.queues, want, self.settings.lease_seconds
        )
        if jobs and not self.ready:
            self.ready_since = now
        self.ready.extend(jobs)
        self._start_ready()
        if len(jobs) == want:
            self.dirty = True  # there may be more: claim again as soon as a slot frees

    def _wanted(self) -> int:
        """How many jobs to claim: one per free slot, plus one held in reserve while jobs
        are short, so a slot that frees starts its next job before any database call.
        Long jobs get no reserve: a job must not wait behind one that runs for minutes."""
        reserve = 1 if self.recent_runtime < RESERVE_BELOW_S else 0
        return self.options.slots + reserve - len(self.running) - len(self.ready)

    def _start_ready(self) -> None:
        while self.ready and len(self.running) < self.options.slots and not self.stop_mode:
            self._start(self.ready.popleft())
            self.ready_since = time.monotonic()

    def _release_stale_reserve(self) -> None:
        """A reserved job still waiting after RESERVE_HOLD_S sits behind a job that is not
        short after all: give it back, for a free worker to take, and stop reserving."""
        if self.ready and time.monotonic() >= self.ready_since + RESERVE_HOLD_S:
            self.recent_runtime = max(self.recent_runtime, 1.0)
            self.release_reserve()

    def release_reserve(self) -> None:
        """Stopping: claimed jobs that never started go back, their attempt not counted."""
        while self.ready:
            job = self.ready[0]
            self.store.release_job(job.id, self.id, job.attempts)
            self.ready.popleft()

    def _start(self, job: Job) -> None:
        log.info("job %s attempt %d started: %s", job.id, job.attempts, job.command)
        timeout = job.timeout if job.timeout is not None else self.settings.job_timeout
        limits = Limits(timeout=timeout, output_limit=self.settings.output_limit)
        env = {"QUEUECTL_JOB_ID": job.id, "QUEUECTL_ATTEMPT": str(job.attempts)}
        process = start_command(job.command, env, limits, self.selector)
        if isinstance(process, RunResult):  # could not even start: a failed attempt
            self.unrecorded.append(Finished(job, process, None))
        else:
            self.running[job.id] = (job, process)

    def _burst_done(self) -> bool:
        if self.running or self.ready or self.unrecorded or self.dirty:
            return False
        try:
            return not self.store.has_unfinished_jobs(self.options.queues)
        except StoreError:
            return False

    # -- waiting --------------------------------------------------------------------------

    def wait(self, limit: float | None = None) -> None:
        """Sleep until something happens, then handle it: command output and exits,
        database changes, signals; then deadlines (timeouts, kills). With `limit` (a
        pause while the store is down) only the commands' own deadlines count."""
        now = time.monotonic()
        if self.fd_waiter and self._waiter_fd is None and now >= self.next_listen:
            self.next_listen = now + LISTEN_RETRY_S  # its connection is gone: listen again
            self._on_change()
        for key, _ in self.selector.select(self._timeout(now, limit)):
            if key.data == "wake":
                _drain(self._wake_read)
            elif key.data == "changes":
                self._on_change()
            else:
                key.data[0].on_event(key)
        self._collect(time.monotonic())

    def _timeout(self, now: float, limit: float | None) -> float | None:
        """Until the earliest timer that the caller will act on (None: no timer)."""
        timers = [d for _, p in self.running.values() if (d := p.next_deadline()) is not None]
        if limit is not None:
            return min([limit, *(max(0.0, t - now) for t in timers)])
        if self.dirty and not self.stop_mode and self._wanted() > 0:
            return 0.0  # a claim to make right away
        if self.unrecorded and now >= self.next_record:
            return 0.0  # results to record right away
        timers += [self.next_heartbeat, self.next_reap]
        if not self.stop_mode and self._wanted() > 0:
            timers.append(self.next_claim)
        if self.unrecorded:
            timers.append(self.next_record)
        if self.stop_deadline is not None and self.stop_mode == "graceful":
            timers.append(self.stop_deadline)
        if self.ready:
            timers.append(self.ready_since + RESERVE_HOLD_S)
        if self.fd_waiter and self._waiter_fd is None:
            timers.append(self.next_listen)
        return max(0.0, min(timers) - now)

    def _collect(self, now: float) -> None:
        """Apply deadlines, and move commands that ended to the results to record."""
        for job_id, (job, process) in list(self.running.items()):
            process.on_time(now)
            if process.done:
                del self.running[job_id]
                reason = process.reason if process.reason in ("cancelled", "released") else None
                result = process.finish()
                if process.reason == "lost":
                    continue  # someone else owns this job now: nothing of ours to record
                took = result.finished_at - result.started_at
                self.recent_runtime = 0.8 * self.recent_runtime + 0.2 * took
                self.unrecorded.append(Finished(job, result, reason))
        self._start_ready()  # before recording: the freed slot need not wait for the store

    def _watch_changes(self) -> None:
        """Wake on database changes: through the waiter's file descriptor when it has one,
        else through a thread that blocks in it and pokes our wake-up pipe."""
        try:
            self.waiter = self.store.change_waiter()
        except StoreError as err:
            log.warning("no change notifications (%s); polling instead", err)
            return
        self._waiter_fd = self.waiter.fileno()
        if self._waiter_fd is not None:
            self.selector.register(self._waiter_fd, selectors.EVENT_READ, "changes")
            self.fd_waiter = True
            return
        threading.Thread(target=self._waiter_thread, name="waiter", daemon=True).start()

    def _on_change(self) -> None:
        assert self.waiter is not None
        try:
            changed = self.waiter.wait(0)
        except StoreError:
            changed = True
        if changed:
            self.dirty = True
            if self.running:  # it may be a cancel or stop order for us: look soon
                soon = time.monotonic() + MIN_HEARTBEAT_S
                self.next_heartbeat = min(self.next_heartbeat, soon)
        # The waiter may have reconnected, on a new socket that can have the old number
        # (which epoll forgot when it closed): watch whatever it has now, afresh.
        if self._waiter_fd is not None:
            self.selector.unregister(self._waiter_fd)
        self._waiter_fd = self.waiter.fileno()
        if self._waiter_fd is not None:
            self.selector.register(self._waiter_fd, selectors.EVENT_READ, "changes")

    def _waiter_thread(self) -> None:
        waiter = self.waiter
        assert waiter is not None
        while True:
            try:
                changed = waiter.wait(1.0)
            except StoreError:
                time.sleep(1.0)
                continue
            except Exception:  # closed at shutdown
                return
            if changed:
                self.dirty = True
                # A full pipe already holds a wake-up; a closed one: we are shutting down.
                with contextlib.suppress(OSError):
                    os.write(self._wake_write, b"c")


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _failure_text(job: Job, result: RunResult, state: JobState | None, delay: float) -> str:
    if state is JobState.FAILED:
        return f"failed ({result.error}), retry {job.attempts}/{job.max_retries} in {delay:.2f}s,"
    if state is JobState.DEAD:
        return f"failed ({result.error}), dead (moved to the DLQ),"
    return f"failed ({result.error})"
