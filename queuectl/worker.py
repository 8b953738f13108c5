"""The worker supervisor: claim jobs, run them in slots, record what happened.

One process, one store connection, N slots. The main thread owns the store and runs a
fixed list of named steps each turn of its loop:

1. record_results   write what finished slots produced (complete / fail / cancel / release)
2. heartbeat        renew our leases; read orders (stop, cancel running jobs)
3. reap_expired     fail jobs whose worker died (lease expired); refresh settings
4. claim_jobs       fill free slots with due jobs, one atomic claim for all of them
5. wait             sleep until a slot finishes, the database changes, a signal, or a timer

Slot threads only run commands (runner.py) and hand results back through a queue. Signal
handlers only set a flag. A store that is unreachable is retried with backoff; running
jobs go on meanwhile and their results wait in memory until the store is back.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import secrets
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from queuectl.config import Settings
from queuectl.errors import StoreError
from queuectl.models import Job, JobState, RunResult, WorkerInfo
from queuectl.runner import Interrupt, Limits, run_command
from queuectl.store import Store, open_store

log = logging.getLogger("queuectl.worker")

POLL_FALLBACK_S = 0.5  # claim even without a change signal: retries coming due, lost wakes
MIN_HEARTBEAT_S = 0.25  # earliest heartbeat after a wake-up (cancel and stop orders)
COLD_KILL_GRACE_S = 1.0  # SIGTERM to SIGKILL on a cold stop or a cancel
PRUNE_AFTER_S = 3600.0  # forget workers silent for this long


def default_host() -> str:
    return os.environ.get("QUEUECTL_HOSTNAME") or socket.gethostname()


def new_worker_id(host: str) -> str:
    """host-pid-random: readable in `worker list`, unique even when pids are reused."""
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass
class Slot:
    """A job running in a thread, and the means to interrupt it."""

    job: Job
    interrupt: Interrupt
    thread: threading.Thread


@dataclass
class Finished:
    job: Job
    result: RunResult
    reason: str | None  # None, "cancelled" or "released"


@dataclass
class WorkerOptions:
    slots: int = 1
    queues: Sequence[str] | None = None  # None = every queue
    burst: bool = False
    host: str = field(default_factory=default_host)


class Worker:
    """One supervisor process. `run()` returns the process exit code."""

    def __init__(self, url: str | None, options: WorkerOptions) -> None:
        self.options = options
        self.url = url
        self.store: Store = open_store(url, durable=False)
        self.id = new_worker_id(options.host)
        self.settings = Settings.from_stored(self.store.get_config())
        self.running: dict[str, Slot] = {}
        self.finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        self.unrecorded: deque[Finished] = deque()
        self.wake = threading.Event()
        self.stop_mode: str | None = None  # None, "graceful" or "now"
        self.stop_deadline: float | None = None
        self.signals = 0
        self._closing = threading.Event()
        now = time.monotonic()
        self.next_heartbeat = now
        self.next_reap = now
        self.next_claim = now
        self.retry_backoff = 0.0
        self.dirty = True  # something may be due: try a claim

    # -- life cycle ---------------------------------------------------------------------

    def run(self) -> int:
        self._install_signal_handlers()
        self.store.register_worker(
            WorkerInfo(
                id=self.id,
                host=self.options.host,
                pid=os.getpid(),
                queues=tuple(self.options.queues or ()),
                slots=self.options.slots,
                started_at=0.0,
                heartbeat_at=0.0,
            )
        )
        queues = ",".join(self.options.queues or ["*"])
        log.info("worker %s started: %d slot(s), queues %s", self.id, self.options.slots, queues)
        waiter = threading.Thread(target=self._watch_changes, name="change-waiter", daemon=True)
        waiter.start()
        try:
            reason = self._loop()
        finally:
            self._closing.set()
            self._shutdown()
        log.info("worker %s stopped: %s", self.id, reason)
        return 0

    def _loop(self) -> str:
        while True:
            self._step(self.record_results)
            if self.stop_mode and not self.running and not self.unrecorded:
                return f"{self.stop_mode} stop"
            self._step(self.heartbeat)
            self._step(self.reap_expired)
            if not self.stop_mode:
                self._step(self.claim_jobs)
                if self.options.burst and self._burst_done():
                    return "burst: no job left to run"
            self._enforce_grace_period()
            self._wait()

    def _step(self, action: object) -> None:
        """Run one step; a store that is down or busy is logged and retried with backoff."""
        try:
            action()  # type: ignore[operator]
            self.retry_backoff = 0.0
        except StoreError as err:
            self.retry_backoff = min(max(self.retry_backoff * 2, 0.1), 5.0)
            log.warning("database unavailable (%s); retrying in %.1fs", err, self.retry_backoff)
            time.sleep(self.retry_backoff)  # the store is down: nothing else can progress

    def _shutdown(self) -> None:
        for slot in list(self.running.values()):
            slot.interrupt.fire("released", COLD_KILL_GRACE_S)
        deadline = time.monotonic() + 30
        while (self.running or self.unrecorded) and time.monotonic() < deadline:
            self._step(self.record_results)
            if self.running or self.unrecorded:
                self.wake.wait(0.1)
                self.wake.clear()
        try:
            self.store.unregister_worker(self.id)
        except StoreError as err:
            log.warning("could not unregister worker %s: %s", self.id, err)
        self.store.close()

    # -- signals --------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: warm stop. Second: cold stop. Only flags; the loop does the work."""
        self.signals += 1
        self.request_stop("graceful" if self.signals == 1 else "now")
        self.next_heartbeat = 0.0  # read the database's orders too (worker stop --now)

    def request_stop(self, mode: str) -> None:
        if self.stop_mode == "now":
            return
        self.stop_mode = mode
        self.wake.set()

    def _enforce_grace_period(self) -> None:
        if self.stop_mode == "graceful" and self.running:
            if self.stop_deadline is None:
                self.stop_deadline = time.monotonic() + self.settings.grace_period
                log.info(
                    "stopping: waiting up to %gs for %d running job(s)",
                    self.settings.grace_period,
                    len(self.running),
                )
            elif time.monotonic() >= self.stop_deadline:
                log.info("grace period over: killing running jobs")
                self.stop_mode = "now"
        if self.stop_mode == "now":
            for slot in self.running.values():
                slot.interrupt.fire("released", COLD_KILL_GRACE_S)

    # -- the steps ------------------------------------------------------------------------

    def record_results(self) -> None:
        while True:
            try:
                done = self.finished.get_nowait()
            except queue.Empty:
                break
            self.running.pop(done.job.id, None)
            self.unrecorded.append(done)
            self.dirty = True  # a slot is free
        while self.unrecorded:
            self._record(self.unrecorded[0])
            self.unrecorded.popleft()

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

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        orders = self.store.heartbeat(self.id, self.settings.lease_seconds)
        self.next_heartbeat = now + min(self.settings.lease_seconds / 3, 5.0)
        if orders.stop and orders.stop != self.stop_mode:
            log.info("stop requested through the database (%s)", orders.stop)
            self.request_stop(orders.stop)
        for job_id in orders.cancel:
            slot = self.running.get(job_id)
            if slot is not None and slot.interrupt.reason is None:
                log.info("job %s: cancel requested, killing its process group", job_id)
                slot.interrupt.fire("cancelled", COLD_KILL_GRACE_S)

    def reap_expired(self) -> None:
        now = time.monotonic()
        if now < self.next_reap:
            return
        self.next_reap = now + max(self.settings.lease_seconds / 2, 1.0)
        self.settings = Settings.from_stored(self.store.get_config())
        for job in self.store.expired_jobs():
            lost = RunResult(None, "worker lost (lease expired)")
            delay = self.settings.retry_delay(job.attempts, random.random())
            state = self.store.fail_job(job.id, job.worker_id or "", job.attempts, lost, delay)
            if state is not None:
                log.warning(
                    "job %s: worker %s lost it (lease expired); %s",
                    job.id,
                    job.worker_id,
                    _failure_text(job, lost, state, delay),
                )
        self.store.prune_workers(max(PRUNE_AFTER_S, self.settings.lease_seconds * 10))

    def claim_jobs(self) -> None:
        free = self.options.slots - len(self.running)
        now = time.monotonic()
        if free <= 0 or not (self.dirty or now >= self.next_claim):
            return
        self.dirty = False
        self.next_claim = now + POLL_FALLBACK_S
        jobs = self.store.claim_jobs(
            self.id, self.options.queues, free, self.settings.lease_seconds
        )
        for job in jobs:
            self._start(job)
        if len(jobs) == free:
            self.dirty = True  # there may be more: claim again as soon as a slot frees

    def _start(self, job: Job) -> None:
        timeout = job.timeout if job.timeout is not None else self.settings.job_timeout
        limits = Limits(timeout=timeout, output_limit=self.settings.output_limit)
        interrupt = Interrupt()
        thread = threading.Thread(
            target=self._run_slot, args=(job, limits, interrupt), name=f"job-{job.id}", daemon=True
        )
        self.running[job.id] = Slot(job, interrupt, thread)
        log.info("job %s attempt %d claimed: %s", job.id, job.attempts, job.command)
        thread.start()

    def _run_slot(self, job: Job, limits: Limits, interrupt: Interrupt) -> None:
        env = {"QUEUECTL_JOB_ID": job.id, "QUEUECTL_ATTEMPT": str(job.attempts)}
        try:
            result = run_command(job.command, env, limits, interrupt)
        except Exception as err:  # a bug in the runner must not lose the job
            log.exception("job %s: runner failed", job.id)
            result = RunResult(None, f"runner error: {err}", started_at=time.time())
        finally:
            reason = interrupt.reason if interrupt.reason in ("cancelled", "released") else None
            interrupt.close()
        self.finished.put(Finished(job, result, reason))
        self.wake.set()

    def _burst_done(self) -> bool:
        if self.running or self.unrecorded or self.dirty:
            return False
        return not self.store.has_unfinished_jobs(self.options.queues)

    def _wait(self) -> None:
        now = time.monotonic()
        timers = [self.next_heartbeat, self.next_reap]
        if not self.stop_mode and len(self.running) < self.options.slots:
            timers.append(self.next_claim)
        if self.stop_deadline is not None:
            timers.append(self.stop_deadline)
        timeout = max(0.0, min(timers) - now)
        if self.dirty and not self.stop_mode and len(self.running) < self.options.slots:
            timeout = 0.0
        if self.wake.wait(timeout):
            self.wake.clear()
            if self.running:
                # A change may be a cancel or stop order for us: look soon, not at once.
                self.next_heartbeat = min(self.next_heartbeat, now + MIN_HEARTBEAT_S)

    def _watch_changes(self) -> None:
        """Thread: turn database change signals into wake-ups (it has its own connection)."""
        try:
            waiter = self.store.change_waiter()
        except StoreError as err:
            log.warning("no change notifications (%s); polling instead", err)
            return
        try:
            while not self._closing.is_set():
                try:
                    changed = waiter.wait(1.0)
                except StoreError:
                    time.sleep(1.0)
                    continue
                if changed:
                    self.dirty = True
                    self.wake.set()
        finally:
            waiter.close()


def _failure_text(job: Job, result: RunResult, state: JobState | None, delay: float) -> str:
    if state is JobState.FAILED:
        return f"failed ({result.error}), retry {job.attempts}/{job.max_retries} in {delay:.2f}s,"
    if state is JobState.DEAD:
        return f"failed ({result.error}), dead (moved to the DLQ),"
    return f"failed ({result.error})"
