"""The worker supervisor: claim jobs, run them, record what happened.

One process, one thread, one store connection. Running commands are `runner.Process`
objects driven by the loop's selector, so N slots cost no threads and no locks. Each
turn of the loop runs a fixed list of named steps:

1. heartbeat       renew our leases; read orders (stop; cancel jobs running or reserved)
2. reap_expired    fail jobs whose worker died (lease expired); refresh settings
3. record_results  write what finished commands produced (complete/fail/cancel/release;
                   short jobs' successes a few at a time: pacing.py)
4. claim_jobs      fill free slots with due jobs, one atomic claim for all of them (and,
                   while jobs are short, a reserve started the moment a slot frees,
                   before any database call: pacing.py)
5. check_stop      when stopping: wait for running jobs, up to the grace period
6. wait            sleep until output, an exit, a database change, a signal or a timer

Between 3 and 4, publish_output shares running jobs' output so far with the store, at
most once a second and only for jobs that printed something and have run for a second.

Signal handlers only set flags (and `set_wakeup_fd` wakes the loop). A store that is
unreachable is retried with backoff; running jobs go on meanwhile and their results wait
in memory until the store is back (results.py). A result the store refuses is recorded
degraded (recording.py), and a stop ends in bounded time whatever the store does
(watchdog.py).
"""

from __future__ import annotations

import logging
import os
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
from typing import Any

from queuectl.changes import ChangeWatch
from queuectl.claimer import Claimer
from queuectl.config import Settings
from queuectl.errors import StoreError, StoreGone
from queuectl.models import Job, LiveTail, RunResult, WorkerRegistration
from queuectl.pacing import Pacing
from queuectl.proctree import Sweeper, become_subreaper
from queuectl.recording import Finished, failure_text
from queuectl.results import MAX_STORE_BACKOFF_S, Results
from queuectl.runner import Limits, Process, seal_inherited_fds, start_command
from queuectl.sdnotify import Notifier
from queuectl.service.leases import reap_expired
from queuectl.store import Store, open_store
from queuectl.watchdog import Watchdog

log = logging.getLogger("queuectl.worker")

MIN_HEARTBEAT_S = 0.25  # earliest heartbeat after a wake-up (cancel and stop orders)
KILL_GRACE_S = 1.0  # SIGTERM to SIGKILL on a cold stop or a cancel
PRUNE_AFTER_S = 3600.0  # forget workers silent for this long
RESERVE_HOLD_S = 0.25  # a reserved job waiting longer than this for a slot goes back
HANDBACK_S = 3.0  # after a stop's deadline: how long to try to record and hand jobs back
WATCHDOG_SLACK_S = 2.0  # ...and how much longer before the watchdog ends the process
PUBLISH_EVERY_S = 1.0  # running jobs' output goes to the store at most this often
BURST_POLL_S = 0.02  # a burst run with only others' jobs left looks again this soon...
# ...then half as often each time, down to the poll interval (see _burst_done)


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
        self.pacing = Pacing()
        self.stop_mode: str | None = None  # None, "graceful" or "now"
        self.stop_deadline: float | None = None
        self.signals = 0
        now = time.monotonic()
        self.next_heartbeat = self.next_reap = self.next_claim = now
        self.next_publish = now
        self.outage_backoff = 0.0
        self.last_outage = -1e9  # monotonic time of the last store failure
        self.failing_since: float | None = None  # store failing every step since then
        self.last_store_error = ""
        self.store_abandoned = False  # gave up on the store: shut down without it
        self.dirty = True  # something may be due: try a claim
        self.burst_poll = 0.0  # see _burst_done
        self.claimer: Claimer | None = None  # claims in a thread, on server stores (run)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        self.changes = ChangeWatch(self.selector, self._wake_write, self._heard_change)
        self.notifier = Notifier()  # systemd Type=notify; a no-op elsewhere
        self.sweeper = Sweeper(subreaper=False)
        self.watchdog: Watchdog | None = None  # ends the process if a stop overruns
        self._handlers: dict[signal.Signals, Any] = {}  # signal handlers we replaced
        self.results = Results(
            self.store,
            self.id,
            self.pacing,
            settings=lambda: self.settings,
            store_takes_writes=self._store_takes_writes,
            slot_freed=self._slot_freed,
            retry_due=self._retry_due,
        )
        self.started = time.monotonic()

    # -- life cycle ---------------------------------------------------------------------

    def run(self) -> int:
        self.started = time.monotonic()
        seal_inherited_fds()
        # Orphans of our jobs (setsid, daemons) become our children, not init's: we can
        # find, kill and reap them (see proctree).
        self.sweeper = Sweeper(subreaper=become_subreaper())
        if not self.sweeper.subreaper:
            log.warning("cannot become a child subreaper; job orphans are found by token")
        self._install_signal_handlers()
        self._until_stored("register", self._register)
        self.changes.start(self.store)
        queues = ",".join(self.options.queues or ["*"])
        log.info("worker %s started: %d slot(s), queues %s", self.id, self.options.slots, queues)
        self._warn_if_not_durable()
        self.notifier.ready(f"worker {self.id}: {self.options.slots} slot(s), queues {queues}")
        try:
            self._start_claimer()
            reason = self._loop()
        finally:
            self._shutdown()
            if self.watchdog is not None:
                self.watchdog.disarm()
        log.info("worker %s stopped: %s", self.id, reason)
        log.info("%s", self.summary())
        self.notifier.close()
        return 0

    def _start_claimer(self) -> None:
        """On a server store, claims go to a thread with a connection of its own
        (claimer.py); if that connection cannot be had, the loop claims itself."""
        if not self.store.remote:
            return
        try:
            self.claimer = Claimer(self.store.url, self._wake_write)
        except StoreError as err:
            log.warning("claiming on the worker's own connection (%s)", err)

    def _loop(self) -> str:
        while True:
            # Each step needs the store; after a failure the rest wait for the next turn.
            steps = (self.heartbeat, self.reap_expired, self.record_results, self.publish_output)
            ok = all(self._step(s) for s in steps)
            self._check_patience()
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
        After an outage, heartbeat first thing, and let everyone do so before reaping.
        A store that is gone for good (StoreGone) ends the worker."""
        try:
            action()
        except StoreGone:
            self.store_abandoned = True
            raise
        except StoreError as err:
            log.warning("database unavailable (%s); retrying", err)
            self.last_outage = time.monotonic()
            if self.failing_since is None:
                self.failing_since = self.last_outage
            self.last_store_error = str(err)
            self.next_heartbeat = 0.0
            return False
        self.outage_backoff = 0.0
        self.failing_since = None
        return True

    def _check_patience(self) -> None:
        """A long-running worker outlasts any outage; a burst run must end. It gives up
        once the store has failed it for two leases without a break (a minute by
        default), by then its claims are anyone's again."""
        if not self.options.burst or self.failing_since is None:
            return
        failing = time.monotonic() - self.failing_since
        if failing >= 2 * self.settings.lease_seconds:
            self.store_abandoned = True
            raise StoreError(
                f"burst run gave up: the database failed every write for {failing:.0f}s "
                f"({self.last_store_error})"
            )

    def _until_stored(self, what: str, action: Callable[[], object]) -> None:
        """Retry `action` with backoff until the store takes it (start-up, shutdown)."""
        delay = 0.1
        while True:
            try:
                action()
                self.failing_since = None
                return
            except StoreGone:
                raise
            except StoreError as err:
                if self.stop_mode == "now" and what == "register":
                    raise
                log.warning("%s: database unavailable (%s); retrying in %.1fs", what, err, delay)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_store_error = str(err)
                self._check_patience()
            self._pause(delay)
            delay = min(delay * 2, MAX_STORE_BACKOFF_S)

    def _pause(self, seconds: float) -> None:
        """Sleep, but keep running commands' output flowing meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.wait(left)

    def _warn_if_not_durable(self) -> None:
        """Say once, at start, when the store would lose acknowledged jobs in a crash or
        restart (Store.durability_warning); a store that does not answer says nothing."""
        try:
            warning = self.store.durability_warning()
        except StoreError:
            return
        if warning is not None:
            log.warning("%s", warning.removeprefix("warning: "))

    def _register(self) -> None:
        info = WorkerRegistration(
            id=self.id,
            host=self.options.host,
            pid=os.getpid(),
            queues=tuple(self.options.queues or ()),
            slots=self.options.slots,
        )
        self.store.register_worker(info)

    def _shutdown(self) -> None:
        """Kill what still runs (only after an error in the loop, a stop's deadline or a
        store given up on), and try briefly to record it released; what the store does not
        take by then is left to the lease rules: those jobs run again once their leases
        expire."""
        self.request_stop("now")  # nothing starts from here on
        if not self.store_abandoned:
            self._step(self.release_reserve)
        for _, process in self.running.values():
            process.interrupt("released", KILL_GRACE_S)
        deadline = time.monotonic() + KILL_GRACE_S + HANDBACK_S
        while time.monotonic() < deadline:
            # Given up on the store: stop once the commands are dead; their leases expire.
            if not self.running and (not self.results or self.store_abandoned):
                break
            self.wait(0.1)
            if not self.store_abandoned:
                self._step(self.record_results)
        while self.sweeper.busy and time.monotonic() < deadline:
            self.wait(0.1)  # what jobs left behind, in its grace period
        self.sweeper.finish_all()
        self._leave_store()
        signal.set_wakeup_fd(-1)
        for sig, handler in self._handlers.items():  # whoever runs us in-process: theirs
            signal.signal(sig, handler)
        if self.sweeper.subreaper and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            become_subreaper(False)  # whoever runs us in-process gets its orphans back
        self.selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _leave_store(self) -> None:
        """Close the change waiter and the claimer, leave the registry, close the store."""
        self.changes.close()
        if self.claimer is not None:
            self.claimer.close(wait=not self.store_abandoned)
        try:
            if not self.store_abandoned:  # else its heartbeat just goes stale
                self.store.unregister_worker(self.id)
        except StoreError as err:
            log.warning("could not unregister worker %s: %s", self.id, err)
        if self.results:
            log.warning(
                "%d result(s) not recorded; those jobs run again once their leases expire",
                len(self.results),
            )
        self.store.close()

    # -- signals and stopping -------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._handlers[sig] = signal.signal(sig, self._on_signal)
            if self.sweeper.subreaper:
                signal.signal(signal.SIGCHLD, self._on_child)
            # Ends the process if a stop overruns; disarmed when `run` returns in time.
            self.watchdog = Watchdog(self._last_words)

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        self.sweeper.child_exited = True  # an orphan we inherited may need reaping

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: warm stop. Second: cold stop. Only flags; the loop does the work."""
        self.signals += 1
        self.request_stop("graceful" if self.signals == 1 else "now")
        self.next_heartbeat = 0.0  # read the database's orders too (worker stop --now)

    def request_stop(self, mode: str) -> None:
        """Stop: "graceful" lets running jobs end, up to grace-period; "now" kills them.
        Either way the watchdog ends the process a little after that, whatever the
        store does (it may hang a call for good). Safe in a signal handler."""
        if self.stop_mode in ("now", mode):
            return
        self.stop_mode = mode
        self.notifier.stopping(f"stopping ({mode}): {len(self.running)} job(s) running")
        grace = self.settings.grace_period if mode == "graceful" else 0.0
        if self.watchdog is not None:
            self.watchdog.arm(grace + KILL_GRACE_S + HANDBACK_S + WATCHDOG_SLACK_S)

    def check_stop(self) -> bool:
        """While stopping: True once nothing runs and every result is recorded, or, after
        the grace period (a cold stop: at once), once the running jobs are killed."""
        now = time.monotonic()
        if self.stop_deadline is None:
            grace = self.settings.grace_period if self.stop_mode == "graceful" else 0.0
            self.stop_deadline = now + grace
            if self.stop_mode == "graceful" and (self.running or self.results):
                count = len(self.running) + len(self.results)
                log.info(
                    "stopping: waiting up to %gs for %d job(s); "
                    "a second Ctrl-C (or SIGTERM) kills them and puts them back as pending",
                    grace,
                    count,
                )
        elif self.stop_mode == "graceful" and now >= self.stop_deadline:
            log.info("grace period over: killing running jobs")
            self.stop_mode = "now"
        released = self._step(self.release_reserve)
        if self.stop_mode == "now":
            for _, process in self.running.values():
                process.interrupt("released", KILL_GRACE_S)
            # What the store has not taken yet gets a brief last try in _shutdown.
            return not self.running
        return not self.running and released and not self.results

    def _last_words(self) -> None:
        """The watchdog's: kill what still runs; its jobs run again after their leases."""
        for _, process in list(self.running.values()):
            process.kill_group()
        log.error(
            "worker %s: the database did not let it stop in time; exiting without "
            "recording %d job(s), which run again once their leases expire",
            self.id,
            len(self.running) + len(self.results),
        )

    # -- the steps ------------------------------------------------------------------------

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        held = [*self.running, *(job.id for job in self.ready)]
        held += [done.job.id for done in self.results]
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
        self._cancel_reserved(orders.cancel)

    def _cancel_reserved(self, cancel: frozenset[str]) -> None:
        """A reserved job whose cancel was asked for never starts: handed back, the store's
        rule makes it cancelled (the attempt not counted)."""
        for job in [job for job in self.ready if job.id in cancel]:
            if self.store.release_job(job.id, self.id, job.last_attempt):
                log.info("job %s: cancelled before it started", job.id)
            self.ready.remove(job)

    def _drop_lost(self, renewed: frozenset[str]) -> None:
        """Jobs whose lease we lost (we were cut off or stalled for longer than a lease,
        and another worker retried them) are not ours to run any more: kill our copy
        at once rather than run it twice side by side, and record nothing."""
        for job_id, (job, process) in self.running.items():
            if job_id not in renewed and process.reason is None:
                log.warning(
                    "job %s attempt %d: lease lost, killing our copy", job_id, job.last_attempt
                )
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
        for lost in reap_expired(self.store, self.settings):
            text = failure_text(lost.job, lost.result, lost.state, lost.retry_delay)
            log.warning("job %s: worker %s lost it; %s", lost.job.id, lost.job.worker_id, text)
        self.store.prune_workers(max(PRUNE_AFTER_S, self.settings.lease_seconds * 10))

    def record_results(self) -> None:
        self.results.record(others_running=bool(self.running), stopping=bool(self.stop_mode))

    def _slot_freed(self) -> None:
        self.dirty = True  # claim its next job at once

    def _retry_due(self, at: float) -> None:
        self.next_claim = min(self.next_claim, at)  # be there when a retry comes due

    def _store_takes_writes(self) -> bool:
        """Whether the store takes a write right now (a heartbeat): if so, a result that
        failed failed for what it holds, not because the store is down."""
        self.next_heartbeat = 0.0
        try:
            self.heartbeat()
        except StoreError:
            return False
        return True

    def summary(self) -> str:
        """What this worker did, for its last words: attempts by outcome and run time."""
        tally = self.results.tally
        counts = [f"{tally[k]} {k}" for k in ("completed", "failed", "dead")]
        counts += [f"{n} {k}" for k, n in tally.items() if k in ("cancelled", "released")]
        ran = time.monotonic() - self.started
        return f"worker {self.id} ran {_took(ran)}: {', '.join(counts)}"

    def publish_output(self) -> None:
        """Share the output so far of running jobs (`logs`, `logs --follow`, the API): at
        most once a second, one transaction for all of them, and only jobs that printed
        since the last time and have run for a second: short or silent jobs cost nothing."""
        now = time.monotonic()
        if now < self.next_publish or not self.running:
            return
        self.next_publish = now + PUBLISH_EVERY_S
        ran_since = time.time() - PUBLISH_EVERY_S
        tails, marks = [], []
        for job_id, (job, process) in self.running.items():
            written = (process.stdout.written, process.stderr.written)
            if written != process.published and process.started <= ran_since:
                out, err = process.stdout.snapshot(), process.stderr.snapshot()
                tails.append(LiveTail(job_id, self.id, job.last_attempt, out, err, *written))
                marks.append((process, written))
        if tails:
            self.store.publish_output(tails)
            for process, written in marks:
                process.published = written

    def claim_jobs(self) -> None:
        self._release_stale_reserve()
        if self._claim_in_flight():
            assert self.claimer is not None
            asked = self.claimer.asked
            jobs = self.claimer.take()
            if jobs is None:
                return  # still on its way; its answer wakes the loop
            self._claimed(jobs, asked)
        want = self._wanted()
        now = time.monotonic()
        if not self._claim_worthwhile(want) or not (self.dirty or now >= self.next_claim):
            return
        self.dirty = False
        self.next_claim = now + self.settings.poll_interval
        if self.claimer is not None and self.running:  # jobs run on meanwhile (claimer.py)
            self.claimer.ask(self.id, self.options.queues, want, self.settings.lease_seconds)
            return
        # Nothing running: nothing to overlap, and a thread's hand-off would only delay
        # the first job's start.
        jobs = self.store.claim_jobs(
            self.id, self.options.queues, want, self.settings.lease_seconds
        )
        self._claimed(jobs, want)

    def _claimed(self, jobs: list[Job], asked: int) -> None:
        if jobs and not self.ready:
            self.ready_since = time.monotonic()
        self.ready.extend(jobs)
        self._start_ready()
        if len(jobs) == asked:
            self.dirty = True  # there may be more: claim again as soon as a slot frees

    def _claim_in_flight(self) -> bool:
        return self.claimer is not None and self.claimer.pending

    def _wanted(self) -> int:
        """How many jobs to claim: one per free slot, plus a reserve while jobs are short,
        so a slot that frees starts its next job before any database call (pacing.py)."""
        reserve = self.pacing.reserve(self.options.slots)
        return self.options.slots + reserve - len(self.running) - len(self.ready)

    def _claim_worthwhile(self, want: int) -> bool:
        idle_slot = not self.ready and len(self.running) < self.options.slots
        return self.pacing.claim_worthwhile(want, self.options.slots, idle_slot)

    def _start_ready(self) -> None:
        while self.ready and len(self.running) < self.options.slots and not self.stop_mode:
            self._start(self.ready.popleft())
            self.ready_since = time.monotonic()

    def _release_stale_reserve(self) -> None:
        """A reserved job still waiting after RESERVE_HOLD_S sits behind a job that is not
        short after all: give it back, for a free worker to take, and stop reserving."""
        if self.ready and time.monotonic() >= self.ready_since + RESERVE_HOLD_S:
            self.pacing.slow_down()
            self._hand_back_ready()

    def release_reserve(self) -> None:
        """Stopping: claimed jobs that never started go back, their attempt not counted
        (those of a claim in flight too, once its answer is in)."""
        if self._claim_in_flight():
            assert self.claimer is not None
            self.ready.extend(self.claimer.take(wait=True) or [])
        self._hand_back_ready()

    def _hand_back_ready(self) -> None:
        while self.ready:
            job = self.ready[0]
            self.store.release_job(job.id, self.id, job.last_attempt)
            self.ready.popleft()

    def _start(self, job: Job) -> None:
        log.info("job %s attempt %d started: %s", job.id, job.last_attempt, job.command)
        timeout = job.timeout if job.timeout is not None else self.settings.job_timeout
        limits = Limits(timeout=timeout, output_limit=self.settings.output_limit)
        env = {
            **(job.env or {}),
            "QUEUECTL_JOB_ID": job.id,
            "QUEUECTL_ATTEMPT": str(job.last_attempt),
        }
        process = start_command(
            job.command, env, limits, self.selector, self.sweeper, job.keep_daemons, job.cwd
        )
        if isinstance(process, RunResult):  # could not even start: a failed attempt
            self.results.add(Finished(job, process, None))
        else:
            self.running[job.id] = (job, process)

    def _burst_done(self) -> bool:
        """Whether a burst run is over: nothing of ours left, nothing unfinished in the
        store. Other workers' results need not wake us (the store contract promises a
        wake-up for new work only), so while only their jobs are left, look again soon,
        then less and less often."""
        if self.running or self.ready or self.results or self.dirty or self._claim_in_flight():
            self.burst_poll = 0.0
            return False
        try:
            if not self.store.has_unfinished_jobs(self.options.queues):
                return True
        except StoreError:
            return False
        self.burst_poll = min(max(2 * self.burst_poll, BURST_POLL_S), self.settings.poll_interval)
        self.next_claim = min(self.next_claim, time.monotonic() + self.burst_poll)
        return False

    # -- waiting --------------------------------------------------------------------------

    def wait(self, limit: float | None = None) -> None:
        """Sleep until something happens, then handle it: command output and exits,
        database changes, signals; then deadlines (timeouts, kills). With `limit` (a
        pause while the store is down) only the commands' own deadlines count."""
        now = time.monotonic()
        if self.changes.relisten_due(now):  # its connection is gone: listen again
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
        if (swept := self.sweeper.next_deadline()) is not None:
            timers.append(swept)
        if limit is not None:
            return min([limit, *(max(0.0, t - now) for t in timers)])
        claim = not self.stop_mode and not self._claim_in_flight()
        claim = claim and self._claim_worthwhile(self._wanted())
        if self.dirty and claim:
            return 0.0  # a claim to make right away
        if self.results.due(now):
            return 0.0  # results to record right away
        timers += [self.next_heartbeat, self.next_reap]
        if self.running:
            timers.append(self.next_publish)
        if claim:
            timers.append(self.next_claim)
        if self.results:
            timers.append(self.results.next_try)
        if self.stop_deadline is not None and self.stop_mode == "graceful":
            timers.append(self.stop_deadline)
        if self.ready:
            timers.append(self.ready_since + RESERVE_HOLD_S)
        if (relisten := self.changes.relisten_at()) is not None:
            timers.append(relisten)
        return max(0.0, min(timers) - now)

    def _collect(self, now: float) -> None:
        """Apply deadlines, and move commands that ended to the results to record."""
        if self.sweeper.child_exited:
            self.sweeper.reap()
        self.sweeper.on_time(now)
        for job_id, (job, process) in list(self.running.items()):
            process.on_time(now)
            if process.done:
                del self.running[job_id]
                reason = process.reason if process.reason in ("cancelled", "released") else None
                result = process.finish()
                if process.reason == "lost":
                    continue  # someone else owns this job now: nothing of ours to record
                self.pacing.observe(result.finished_at - result.started_at)
                self.results.add(Finished(job, result, reason))
        self._start_ready()  # before recording: the freed slot need not wait for the store

    def _on_change(self) -> None:
        if self.changes.take():
            self.dirty = True
            if self.running:  # it may be a cancel or stop order for us: look soon
                soon = time.monotonic() + MIN_HEARTBEAT_S
                self.next_heartbeat = min(self.next_heartbeat, soon)

    def _heard_change(self) -> None:
        """From the waiter's thread: claim on the loop's next turn."""
        self.dirty = True


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _took(seconds: float) -> str:
    """1.2s, 3m05s, 2h01m07s."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m{secs:02d}s"
