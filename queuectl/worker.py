"""The worker supervisor: claim jobs, run them, record what happened.

One process, one thread, one store connection. Running commands are `runner.Process`
objects driven by the loop's selector, so N slots cost no threads and no locks. Each
turn of the loop runs a fixed list of named steps:

1. heartbeat       renew our leases; read orders (stop; cancel jobs running or reserved)
2. reap_expired    fail jobs whose worker died (lease expired); refresh settings
3. record_results  write what finished commands produced (results.py, recording.py)
4. publish_output  share running jobs' output so far, at most once a second
5. claim           fill free slots (and, while jobs are short, a reserve) with due jobs,
                   in one atomic claim (claiming.py, pacing.py)
6. check_stop      when stopping: wait for running jobs, up to the grace period
7. wait            sleep until output, an exit, a database change, a signal or a timer

The Worker composes the parts that own the rest: the jobs it holds (slots.py), its
claims (claiming.py), its periodic duties (timers.py), its stop (stop_sequence.py;
watchdog.py ends it in bounded time whatever the store does), what it does while the
store is down (store_outage.py), and what wakes its loop (wakeups.py, changes.py).
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from collections.abc import Callable
from types import FrameType

from queuectl.changes import ChangeWatch
from queuectl.claiming import Claims
from queuectl.config import Settings
from queuectl.errors import StoreError
from queuectl.held_log import held_lines
from queuectl.housekeeping import Housekeeper
from queuectl.models import Job, RunResult, StopMode, WorkerRegistration
from queuectl.pacing import Pacing, limited_queue
from queuectl.proctree import Sweeper, become_subreaper
from queuectl.recording import Finished, command_shown, event_fields, failure_text
from queuectl.results import Results
from queuectl.runner import Process, start_job
from queuectl.sdnotify import Notifier
from queuectl.service.leases import reap_expired
from queuectl.slots import KILL_GRACE_S, Slots
from queuectl.spawn import seal_inherited_fds
from queuectl.stop_sequence import HANDBACK_S, StopSequence
from queuectl.store import Store, open_store
from queuectl.store_outage import StoreOutage
from queuectl.timers import PUBLISH_EVERY_S, Duty, Timers
from queuectl.wakeups import Wakeups
from queuectl.worker_link import SupervisorLink
from queuectl.worker_options import WorkerOptions, new_worker_id

log = logging.getLogger("queuectl.worker")

MIN_HEARTBEAT_S = 0.25  # earliest heartbeat after a wake-up (cancel and stop orders)
PRUNE_AFTER_S = 3600.0  # forget workers silent for this long


class Worker:
    """One supervisor process: the loop and its steps, composed of the jobs it holds
    (`slots`: slots.py), its claims (`claims`: claiming.py), its stop (`stop`:
    stop_sequence.py), what it does while the store is down (`outage`: store_outage.py),
    its periodic duties (`timers`: timers.py), the results it holds (`results`:
    results.py) and what wakes it (`wakeups`, `changes`). `run()` returns the exit code."""

    def __init__(self, url: str | None, options: WorkerOptions) -> None:
        self.options = options
        self.store: Store = open_store(url, durable=False)
        self.id = options.worker_id or new_worker_id(options.host)
        self.settings = Settings.from_stored(self.store.get_config())
        self.selector = selectors.DefaultSelector()
        self.pacing = Pacing()
        reserve_for = options.worker_slots or options.slots
        self.slots = Slots(self.store, self.id, options.slots, self.pacing, reserve_for)
        self.stop = StopSequence(lambda: self.settings.grace_period)
        self.outage = StoreOutage(options.burst, lambda: self.settings.lease_seconds)
        self.timers = Timers(time.monotonic())
        self.claims = Claims(
            self.store,
            self.id,
            options.queues,
            self.slots,
            self.timers,
            settings=lambda: self.settings,
            started=self._start_ready,
        )
        self.wakeups = Wakeups(self.selector)
        self.changes = ChangeWatch(self.selector, self.wakeups.write_fd, self.claims.look_soon)
        self.held_log = held_lines()  # a supervisor's process: its log lines wait for us
        # systemd Type=notify (a no-op elsewhere); a supervisor's process tells it instead.
        self.notifier: Notifier = Notifier()
        if options.report_fd is not None:
            self.notifier = SupervisorLink(options.report_fd)
        self.sweeper = Sweeper(subreaper=False)
        self.results = Results(
            self.store,
            self.id,
            self.pacing,
            settings=lambda: self.settings,
            store_takes_writes=self._store_takes_writes,
            slot_freed=self.claims.look_soon,  # claim its next job at once
            retry_due=lambda at: self.timers.no_later_than(Duty.CLAIM, at),
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
        supervised = self.options.supervised  # the supervisor registers, logs, tidies up
        if not supervised:
            cold_stop = lambda: self.stop.mode is StopMode.NOW  # noqa: E731
            self.outage.until_stored("register", self._register, self._pause, cold_stop)
        self.changes.start(self.store)
        queues = ",".join(self.options.queues or ["*"])
        started = f"worker {self.id}: {self.options.slots} slot(s), queues {queues}"
        if supervised:
            log.debug("%s: process %d started", started, os.getpid())
        else:
            slots = self.options.slots
            log.info("worker %s started: %d slot(s), queues %s", self.id, slots, queues)
            self._warn_if_not_durable()
        self.notifier.ready(started)
        chores = None if supervised else Housekeeper(self.store.url)  # schedules, retention
        if chores is not None:
            chores.start()
        try:
            self.claims.start_claimer(self.wakeups.write_fd)
            reason = self._loop()
        finally:
            if chores is not None:
                chores.stop()
            self._shutdown()
            self.stop.ended()
        if isinstance(self.notifier, SupervisorLink):
            self.notifier.ended(reason, {str(k): n for k, n in self.results.tally.items()})
        else:
            log.info("worker %s stopped: %s", self.id, reason)
            log.info("%s", self.results.summary(self.id, time.monotonic() - self.started))
        self.notifier.close()
        return 0

    def _loop(self) -> str:
        while True:
            # Each step needs the store; after a failure the rest wait for the next turn.
            steps = (self.heartbeat, self.reap_expired, self.record_results, self.publish_output)
            ok = all(self._step(s) for s in steps)
            self.outage.check_patience()
            if self.stop.mode and self.check_stop():
                return f"{self.stop.mode} stop"
            if not self.stop.mode and ok and self._step(self.claims.claim):  # noqa: SIM102
                if self.options.burst and self.claims.burst_done(bool(self.results)):
                    return "burst: no job left to run"
            if not ok:
                self._pause(self.outage.next_pause())
            self.wait()

    def _step(self, action: Callable[[], object]) -> bool:
        """Run one step (store_outage.py); after a failure, heartbeat first thing, and let
        everyone do so before reaping."""
        if self.outage.attempt(action):
            return True
        self.timers.due_now(Duty.HEARTBEAT)
        return False

    def _pause(self, seconds: float) -> None:
        """Sleep, but keep running commands' output flowing meanwhile; cut short when the
        change waiter is connected again (the store answers: try it at once)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.changes.back():
                self.outage.store_back()
                return
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
        queues, slots = tuple(self.options.queues or ()), self.options.slots
        info = WorkerRegistration(self.id, self.options.host, os.getpid(), queues, slots)
        self.store.register_worker(info)

    def _shutdown(self) -> None:
        """Kill what still runs (only after an error in the loop, a stop's deadline or a
        store given up on), and try briefly to record it released; what the store does not
        take by then is left to the lease rules: those jobs run again once their leases
        expire."""
        self.request_stop(StopMode.NOW)  # nothing starts from here on
        if not self.outage.abandoned:
            self._step(self.claims.release_reserve)
        self.slots.release_running()
        deadline = time.monotonic() + KILL_GRACE_S + HANDBACK_S
        while time.monotonic() < deadline:
            # Given up on the store: stop once the commands are dead; their leases expire.
            if not self.slots.running and (not self.results or self.outage.abandoned):
                break
            self.wait(0.1)
            if not self.outage.abandoned:
                self._step(self.record_results)
        while self.sweeper.busy and time.monotonic() < deadline:
            self.wait(0.1)  # what jobs left behind, in its grace period
        self.sweeper.finish_all()
        self._leave_store()
        self.wakeups.restore()
        if self.sweeper.subreaper and threading.current_thread() is threading.main_thread():
            become_subreaper(False)  # whoever runs us in-process gets its orphans back
        self.selector.close()
        self.wakeups.close()

    def _leave_store(self) -> None:
        """Close the change waiter and the claimer, leave the registry, close the store."""
        self.changes.close()
        self.claims.close(wait=not self.outage.abandoned)
        try:
            # Else its heartbeat just goes stale; a supervisor's process leaves that to it.
            if not self.outage.abandoned and not self.options.supervised:
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
        on_child = self._on_child if self.sweeper.subreaper else None
        if self.wakeups.install(self._on_signal, on_child):
            # Ends the process if a stop overruns; disarmed when `run` returns in time.
            self.stop.guard(self._last_words)

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        self.sweeper.child_exited = True  # an orphan we inherited may need reaping

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: warm stop. Second: cold stop. Only flags; the loop does the work."""
        self.request_stop(self.stop.signalled())
        self.timers.due_now(Duty.HEARTBEAT)  # read the database's orders too (stop --now)

    def request_stop(self, mode: StopMode) -> None:
        """Stop (stop_sequence.py), and tell systemd so. Safe in a signal handler."""
        if self.stop.request(mode):
            running = len(self.slots.running)
            self.notifier.stopping(f"stopping ({mode}): {running} job(s) running")

    def check_stop(self) -> bool:
        """While stopping: True once nothing runs and every result is recorded, or, after
        the grace period (a cold stop: at once), once the running jobs are killed."""
        asked = self.stop.mode
        self.stop.advance(time.monotonic(), len(self.slots.running) + len(self.results))
        if self.stop.mode is not asked:  # the grace period is over: tell systemd too
            running = len(self.slots.running)
            self.notifier.status(f"stopping ({self.stop.mode}): {running} job(s) running")
        released = self._step(self.claims.release_reserve)
        if self.stop.mode is StopMode.NOW:
            self.slots.release_running()
            # What the store has not taken yet gets a brief last try in _shutdown.
            return not self.slots.running
        return not self.slots.running and released and not self.results

    def _last_words(self) -> None:
        """The watchdog's: kill what still runs; its jobs run again after their leases."""
        self.slots.kill_running()
        log.error(
            "worker %s: the database did not let it stop in time; exiting without "
            "recording %d job(s), which run again once their leases expire",
            self.id,
            len(self.slots.running) + len(self.results),
        )

    # -- the steps ------------------------------------------------------------------------

    def heartbeat(self) -> None:
        now = time.monotonic()
        if not self.timers.due(Duty.HEARTBEAT, now):
            return
        held = self.slots.held() + [done.job.id for done in self.results]
        orders = self.store.heartbeat(self.id, self.settings.lease_seconds, held)
        self.timers.booked(Duty.HEARTBEAT, now, self.settings)
        log.debug("heartbeat: %d of %d lease(s) renewed", len(orders.renewed), len(held))
        self.slots.drop_lost(orders.renewed)
        if orders.stop and orders.stop != self.stop.mode:
            log.info("stop requested through the database (%s)", orders.stop)
            self.request_stop(orders.stop)
        self.slots.cancel(orders.cancel)

    def reap_expired(self) -> None:
        now = time.monotonic()
        if not self.timers.due(Duty.REAP, now):
            return
        self.timers.booked(Duty.REAP, now, self.settings)
        self.settings = Settings.from_stored(self.store.get_config())
        self.pacing.limited_queue = limited_queue(self.store.queue_limits(), self.options.queues)
        if self.outage.cut_off_within(self.settings.lease_seconds, now):
            # We were cut off from the store, and so perhaps were the other workers: give
            # them one lease to renew theirs before calling their jobs lost.
            return
        for lost in reap_expired(self.store, self.settings):
            text = failure_text(lost.job, lost.result, lost.state, lost.retry_delay)
            log.warning("job %s: worker %s lost it; %s", lost.job.id, lost.job.worker_id, text)
        self.store.prune_workers(max(PRUNE_AFTER_S, self.settings.lease_seconds * 10))

    def record_results(self) -> None:
        self.results.record(others_running=bool(self.slots.running), stopping=bool(self.stop.mode))

    def _store_takes_writes(self) -> bool:
        """Whether the store takes a write right now (a heartbeat): if so, a result that
        failed failed for what it holds, not because the store is down."""
        self.timers.due_now(Duty.HEARTBEAT)
        try:
            self.heartbeat()
        except StoreError:
            return False
        return True

    def publish_output(self) -> None:
        """Share the output so far of running jobs (`logs`, `logs --follow`, the API): at
        most once a second, one transaction for all of them (Slots.publish_output)."""
        now = time.monotonic()
        if not self.timers.due(Duty.PUBLISH, now) or not self.slots.running:
            return
        self.timers.booked(Duty.PUBLISH, now, self.settings)
        self.slots.publish_output(time.time() - PUBLISH_EVERY_S)

    def _start_ready(self) -> None:
        self.slots.start_ready(self._launch, lambda: self.stop.mode is not None)

    def _launch(self, job: Job) -> Process | None:
        """Start `job`'s command; one that cannot even start is a failed attempt."""
        log.info(
            "job %s attempt %d started: %s",
            job.id,
            job.last_attempt,
            command_shown(job.command),
            extra=event_fields("started", job),
        )
        process = start_job(job, self.settings, self.selector, self.sweeper)
        if isinstance(process, RunResult):
            self.results.add(Finished(job, process, None))
            return None
        return process

    # -- waiting --------------------------------------------------------------------------

    def wait(self, limit: float | None = None) -> None:
        """Sleep until something happens, then handle it: command output and exits,
        database changes, signals; then deadlines (timeouts, kills). With `limit` (a
        pause while the store is down) only the commands' own deadlines count."""
        now = time.monotonic()
        claim = not self.stop.mode and self.claims.would_claim()
        # A change matters at once only to a worker that would act on it: claim (nothing
        # runs, or a slot or the reserve wants jobs), or learn that the store is back.
        self.changes.attend(limit is not None or not self.slots.running or claim)
        if self.changes.relisten_due(now):  # its connection is gone: listen again
            self._on_change()
        elif (again := self.changes.look_again_at()) is not None and now >= again:
            self._on_change()  # a change seen under way: is it visible now?
        timeout = self._timeout(now, limit, claim)
        if timeout is None:
            log.debug("waiting for an event")
        elif timeout >= 0.001:  # not a mere look at what is ready
            log.debug("waiting up to %.3fs", timeout)
        if (held := self.held_log) is not None:  # no sleep past their time, no wake-up
            held.write_before(None if timeout is None else now + timeout)
        for key, _ in self.selector.select(timeout):
            if key.data == "wake":
                self.wakeups.drain()
            elif key.data == "changes":
                self._on_change()
            else:
                key.data[0].on_event(key)
        self._collect(time.monotonic())
        if held is not None:
            held.flush_if_due(time.monotonic())

    def _timeout(self, now: float, limit: float | None, claim: bool) -> float | None:
        """Until the earliest timer that the caller will act on (None: no timer); `claim`:
        a claim would be made once due."""
        timers = self.slots.deadlines()
        if (swept := self.sweeper.next_deadline()) is not None:
            timers.append(swept)
        if limit is not None:  # and the waiter's next try to connect again: see _pause
            if self.changes.reconnected:
                return 0.0
            relisten = self.changes.relisten_at()
            timers += [] if relisten is None else [relisten]
            return min([limit, *(max(0.0, t - now) for t in timers)])
        if self.claims.dirty and claim:
            return 0.0  # a claim to make right away
        if self.results.due(now):
            return 0.0  # results to record right away
        duties = [Duty.HEARTBEAT, Duty.REAP]
        duties += [Duty.PUBLISH] if self.slots.running else []
        duties += [Duty.CLAIM] if claim else []
        timers += [self.timers.at(duty) for duty in duties]
        if self.results:
            timers.append(self.results.next_try)
        stop, reserve = self.stop.grace_deadline(), self.slots.reserve_expires_at()
        changes = (self.changes.relisten_at(), self.changes.look_again_at())
        timers += [at for at in (stop, reserve, *changes) if at is not None]
        return max(0.0, min(timers) - now)

    def _collect(self, now: float) -> None:
        """Apply deadlines, and move commands that ended to the results to record."""
        if self.sweeper.child_exited:
            self.sweeper.reap()
        self.sweeper.on_time(now)
        for done in self.slots.collect(now):
            self.results.add(done)
        self._start_ready()  # before recording: the freed slot need not wait for the store

    def _on_change(self) -> None:
        if self.changes.take(idle=not self.slots.running):
            self.claims.look_soon()
            if self.slots.running:  # it may be a cancel or stop order for us: look soon
                soon = time.monotonic() + MIN_HEARTBEAT_S
                self.timers.no_later_than(Duty.HEARTBEAT, soon)
