"""A worker in several processes, seen as one: `worker start --count N --procs P`.

One Python process spawns jobs no faster than one core allows (posix_spawn holds the GIL
while the child execs), so a worker with more slots than one core can serve runs them in
P processes (worker_process.py), each a Worker with its share of the slots. They all run
under the supervisor's worker id: the supervisor registers it (its own pid, all N slots),
and leases, heartbeats, stop and cancel orders, which the store keeps per worker id and
per job, work as they do for one process. Each process claims and records on its own
connection, in batches while jobs are short (pacing.py), as separate workers would.

The supervisor is what users see: one line in `worker list`, one log (it forwards its
processes' lines), one summary, one systemd service (READY once every process is, their
STOPPING and STATUS in one). A signal is passed on to every process (the first a
graceful stop, the next a cold one, as for one process); a stop through the store
reaches them through their heartbeats. A process killed by a signal is replaced; its
jobs run again once their leases expire (the lease rules). A process that ends cleanly
(a stop, or a burst run with nothing left) is not replaced, and one that fails ends the
worker with its exit code. The processes die with the supervisor (worker_process.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import selectors
import signal
import time
from collections import Counter
from collections.abc import Callable
from types import FrameType

from queuectl.config import Settings
from queuectl.errors import QueueError, StoreError
from queuectl.housekeeping import Housekeeper
from queuectl.models import StopMode, WorkerRegistration
from queuectl.recording import Ending
from queuectl.results import summary_line
from queuectl.runner import describe_exit
from queuectl.sdnotify import Notifier
from queuectl.slots import KILL_GRACE_S
from queuectl.spawn import seal_inherited_fds
from queuectl.stop_sequence import HANDBACK_S, WATCHDOG_SLACK_S
from queuectl.store import Store, open_store
from queuectl.store.sqlite_connect import sqlite_path
from queuectl.store_outage import StoreOutage
from queuectl.wakeups import Wakeups
from queuectl.watchdog import Watchdog
from queuectl.worker_link import parse_notify
from queuectl.worker_members import Member, can_fork, open_on, start_member
from queuectl.worker_options import WorkerOptions, new_worker_id, split_slots
from queuectl.worker_process import preload

log = logging.getLogger("queuectl.worker")

STEADY_S = 10.0  # a process that lived this long is replaced at once when it dies...
MAX_RESTART_DELAY_S = 30.0  # ...one that died sooner after a delay doubling up to this
STOP_SLACK_S = 5.0  # past the processes' own watchdogs: the supervisor SIGKILLs them
_STOPPING = re.compile(r"stopping \((\w+)\): (\d+) job")


class SupervisedError(QueueError):
    """The error a process of the worker ended with (its one line, as the CLI prints)."""


class Supervisor:
    """`run()` returns the exit code. `style` is how the processes format their lines
    (cli/worker_log.style); `forward` writes those lines to the one log."""

    def __init__(
        self,
        url: str | None,
        options: WorkerOptions,
        procs: int,
        style: dict[str, object],
        forward: Callable[[str], None],
    ) -> None:
        self.options = options
        self.store: Store = open_store(url, durable=False)
        self.id = new_worker_id(options.host)
        self.settings = Settings.from_stored(self.store.get_config())
        self.shares = split_slots(options.slots, procs)
        self.style = style
        self.forward = forward
        self.selector = selectors.DefaultSelector()
        self.wakeups = Wakeups(self.selector)
        self.notifier = Notifier()
        self.outage = StoreOutage(options.burst, lambda: self.settings.lease_seconds)
        self.members: dict[int, Member] = {}  # by index, while running
        self.restarts: dict[int, tuple[float, float]] = {}  # index: (at, delay)
        self.delays: dict[int, float] = {}  # index: the last restart delay
        self.signals = 0  # SIGTERM and SIGINT received
        self.forwarded = 0  # ...and passed on to the processes
        self.ending = False  # a process ended cleanly or a stop began: start no more
        self.kill_at: float | None = None  # SIGKILL what still runs then
        self.code = 0
        self.failure: str | None = None  # the first error a process ended with
        self.reason: str | None = None
        self.tally: Counter[Ending] = Counter()
        self.told_ready = False
        self.told_stopping: tuple[str, int] | None = None
        self.watchdog: Watchdog | None = None  # ends a stop that overruns (see _begin_stop)
        self.started = time.monotonic()

    # -- life cycle ---------------------------------------------------------------------

    def run(self) -> int:
        self.started = time.monotonic()
        seal_inherited_fds()
        # Started with SIGCHLD ignored, its processes would be reaped unseen: how one
        # ended (killed, to be replaced; failed; done) is what the supervisor goes by.
        with contextlib.suppress(ValueError):  # not the main thread: left as it is
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        handled = self.wakeups.install(self._on_signal, None)
        try:
            self.outage.until_stored("register", self._register, self._pause, self._stopping)
        except StoreError:
            self._close()
            raise
        queues = ",".join(self.options.queues or ["*"])
        chores = Housekeeper(self.store.url)  # schedules and retention, in a thread
        try:
            self._start_all()
            if handled:  # a thread: only once the processes are forked (worker_members.py)
                self.watchdog = Watchdog(self._last_words)
            pids = ", ".join(str(m.pid) for m in self.members.values())
            log.info(
                "worker %s started: %d slot(s) in %d processes (pids %s), queues %s",
                self.id,
                self.options.slots,
                len(self.shares),
                pids,
                queues,
            )
            self._warn_if_not_durable()
            chores.start()
            self._loop()
        finally:
            chores.stop()
            self._end_all()
            self._leave_store()
            self._close()
            if self.watchdog is not None:
                self.watchdog.disarm()
        reason = self.reason or ("stop" if self.signals else "its processes ended")
        log.info("worker %s stopped: %s", self.id, reason)
        log.info("%s", summary_line(self.id, time.monotonic() - self.started, self.tally))
        self.notifier.close()
        if self.failure is not None:  # the CLI prints it, once, as for one process
            raise SupervisedError(self.failure)
        return self.code

    def _register(self) -> None:
        queues = tuple(self.options.queues or ())
        host, slots = self.options.host, self.options.slots
        self.store.register_worker(WorkerRegistration(self.id, host, os.getpid(), queues, slots))

    def _warn_if_not_durable(self) -> None:
        with contextlib.suppress(StoreError):
            if (warning := self.store.durability_warning()) is not None:
                log.warning("%s", warning.removeprefix("warning: "))

    def _stopping(self) -> bool:
        return self.signals > 0

    def _pause(self, seconds: float) -> None:
        """Sleep (registering while the store is down), cut short by a signal."""
        for key, _ in self.selector.select(seconds):
            if key.data == "wake":
                self.wakeups.drain()

    def _leave_store(self) -> None:
        for _ in range(2):  # a server connection idle since the start may need a new one
            try:
                self.store.unregister_worker(self.id)
                return
            except StoreError as err:
                problem = err
        log.warning("could not unregister worker %s: %s", self.id, problem)

    def _close(self) -> None:
        self.store.close()
        self.wakeups.restore()
        self.selector.close()
        self.wakeups.close()

    # -- the processes --------------------------------------------------------------------

    def _start_all(self) -> None:
        """Start the processes, forked while this process has one thread and, on SQLite,
        no descriptor on the database: SQLite keeps one process's locks in memory, so a
        connection the fork copies would leave the process's own connection without
        them. The supervisor's is closed for the forks and opened again; if anything else
        here still holds the database open (an embedding program's store), the processes
        are fresh interpreters instead. A server's connection is left as it is: a forked
        process never uses it."""
        if self.signals:
            return
        fork = can_fork()
        local = fork and not self.store.remote
        if fork:
            preload()
        if local:
            self.store.close()
            fork = not open_on(sqlite_path(self.store.url))
        try:
            for index, slots in enumerate(self.shares):
                self._start(index, slots, fork)
        finally:
            if local:
                self.store = open_store(self.store.url, durable=False, reuse_check=True)

    def _start(self, index: int, slots: int, fork: bool = False) -> None:
        spec = {
            "id": self.id,
            "slots": slots,
            "worker_slots": self.options.slots,
            "queues": list(self.options.queues) if self.options.queues else None,
            "burst": self.options.burst,
            "host": self.options.host,
            "log": self.style,
        }
        member = start_member(index, slots, spec, self.store.url, fork)
        for fd, kind in (
            (member.log_fd, "log"),
            (member.report_fd, "report"),
            (member.exit_fd, "exit"),
        ):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, (member, kind))
            member.open_fds.add(fd)
        self.members[index] = member

    def _loop(self) -> None:
        while self.members or self.restarts:
            now = time.monotonic()
            timers = [at for at, _ in self.restarts.values()]
            timers += [self.kill_at] if self.kill_at is not None else []
            timeout = max(0.0, min(timers) - now) if timers else None
            for key, _ in self.selector.select(timeout):
                if key.data == "wake":
                    self.wakeups.drain()
                    continue
                member, kind = key.data
                if kind == "exit":
                    self._ended(member)
                else:
                    self._read(member, key.fd, kind)
            self._pass_on_signals()
            self._restart_due(time.monotonic())
            if self.kill_at is not None and time.monotonic() >= self.kill_at:
                self._kill_all("did not stop in time")

    def _read(self, member: Member, fd: int, kind: str, last: bool = False) -> bool:
        """Take what the process wrote; whether there may be more. `last`: it has exited,
        so a pipe with nothing more to read now is done with."""
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            if not last:
                return True
            chunk = b""
        if not chunk:
            self._close_fd(member, fd)
            chunk = b"\n"  # the last line, even unended
        if kind == "log":
            lines, _, member.log_buf = (member.log_buf + chunk).rpartition(b"\n")
            if lines.strip():
                self.forward(lines.decode(errors="replace"))
        else:
            lines, _, member.report_buf = (member.report_buf + chunk).rpartition(b"\n")
            for line in lines.splitlines():
                if line.strip():
                    self._on_report(member, json.loads(line))
        return fd in member.open_fds

    def _close_fd(self, member: Member, fd: int) -> None:
        if fd in member.open_fds:
            self.selector.unregister(fd)
            member.open_fds.discard(fd)
            if fd in (member.report_fd, member.exit_fd):
                os.close(fd)
            else:
                member.close_log()

    def _on_report(self, member: Member, entry: dict[str, object]) -> None:
        if "ended" in entry:
            member.ended = entry
            return
        if "failed" in entry:
            self.failure = self.failure or str(entry["failed"])
            return
        message = parse_notify(str(entry.get("notify", "")))
        if message.get("READY") == "1":
            member.ready = True
            if not self.told_ready and all(m.ready for m in self.members.values()):
                self.told_ready = True
                queues = ",".join(self.options.queues or ["*"])
                slots, procs = self.options.slots, len(self.shares)
                self.notifier.ready(
                    f"worker {self.id}: {slots} slot(s) in {procs} processes, queues {queues}"
                )
        if (found := _STOPPING.search(message.get("STATUS", ""))) is not None:
            member.stopping = (found[1], int(found[2]))
            self._begin_stop()
            self._tell_stopping()

    def _tell_stopping(self) -> None:
        """STOPPING (then STATUS as it changes) for all the processes at once: the latest
        stop mode any of them is in, and the jobs they still run."""
        states = [m.stopping for m in self.members.values() if m.stopping is not None]
        if not states:
            return
        mode = "now" if any(s[0] == "now" for s in states) else states[0][0]
        told = (mode, sum(s[1] for s in states))
        if told == self.told_stopping:
            return
        text = f"stopping ({told[0]}): {told[1]} job(s) running"
        if self.told_stopping is None:
            self.notifier.stopping(text)
        else:
            self.notifier.status(text)
        self.told_stopping = told

    def _ended(self, member: Member) -> None:
        """A process exited: read what it left in its pipes, count its summary, and
        decide: replace it (killed by a signal), let the others end (a clean end), or
        stop them all (a failure)."""
        code = member.wait()
        for fd, kind in ((member.report_fd, "report"), (member.log_fd, "log")):
            while fd in member.open_fds and self._read(member, fd, kind, last=True):
                pass
        self._close_fd(member, member.exit_fd)
        del self.members[member.index]
        ended = member.ended or {}
        tally = ended.get("tally")
        if isinstance(tally, dict):
            self.tally.update({Ending(k): int(n) for k, n in tally.items()})
        if code == 0:
            self.reason = self.reason or str(ended.get("ended") or "")
            self.ending = True
            return
        why = describe_exit(code)
        if code > 0:
            log.error(
                "worker %s: process %d failed (%s); stopping the others", self.id, member.pid, why
            )
            self.code = self.code or code
            self.reason = self.reason or f"a process failed ({why})"
            self._begin_stop()
            self._signal_all(signal.SIGTERM)
            return
        if self.ending or self.signals:
            log.info("worker %s: process %d %s while stopping", self.id, member.pid, why)
            return
        lived = time.monotonic() - member.started
        delay = 0.0
        if lived < STEADY_S:  # dying as it starts: do not spin
            delay = min(max(2 * self.delays.get(member.index, 0.0), 0.5), MAX_RESTART_DELAY_S)
        self.delays[member.index] = delay
        log.warning(
            "worker %s: process %d %s; starting another%s; its jobs run again once their "
            "leases expire",
            self.id,
            member.pid,
            why,
            f" in {delay:g}s" if delay else "",
        )
        self.restarts[member.index] = (time.monotonic() + delay, delay)

    def _restart_due(self, now: float) -> None:
        for index, (at, _) in list(self.restarts.items()):
            if self.ending or self.signals:
                del self.restarts[index]
            elif now >= at:
                del self.restarts[index]
                self._start(index, self.shares[index])
                pid = self.members[index].pid
                log.info("worker %s: process %d started in its place", self.id, pid)

    # -- stopping -----------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Only counts: the loop passes each one on to the processes (Wakeups wakes it)."""
        self.signals += 1

    def _pass_on_signals(self) -> None:
        """Each signal to every process: the first a graceful stop, the next a cold one."""
        while self.forwarded < self.signals:
            self.forwarded += 1
            self._begin_stop()
            self._signal_all(signal.SIGTERM)
            if self.forwarded == 2:
                # Two signals that reach a process before its handler runs count once
                # (Python keeps a flag per signal): the order also goes through the store.
                with contextlib.suppress(StoreError):
                    self.store.request_worker_stop(StopMode.NOW, [self.id])

    def _begin_stop(self) -> None:
        """No process starts from here on; those that do not end by the time their own
        watchdogs would have ended them are killed."""
        self.ending = True
        if self.kill_at is None:
            self.settings = self._fresh_settings()
            bound = self.settings.grace_period + KILL_GRACE_S + HANDBACK_S + WATCHDOG_SLACK_S
            self.kill_at = time.monotonic() + bound + STOP_SLACK_S
            if self.watchdog is not None:  # and if leaving the registry hangs after that
                self.watchdog.arm(bound + 2 * STOP_SLACK_S + HANDBACK_S)

    def _fresh_settings(self) -> Settings:
        try:
            return Settings.from_stored(self.store.get_config())
        except StoreError:
            return self.settings

    def _last_words(self) -> None:
        """The watchdog's: no process outlives the supervisor (they die with it anyway)."""
        self._signal_all(signal.SIGKILL)
        log.error("worker %s: its stop overran (the database did not answer); exiting", self.id)

    def _signal_all(self, sig: signal.Signals) -> None:
        for member in list(self.members.values()):  # the watchdog's thread calls it too
            with contextlib.suppress(ProcessLookupError):
                member.send_signal(sig)

    def _kill_all(self, why: str) -> None:
        if self.members:
            log.error("worker %s: %d process(es) %s; killing them", self.id, len(self.members), why)
        self._signal_all(signal.SIGKILL)
        self.kill_at = None

    def _end_all(self) -> None:
        """After an error in the loop: no process outlives the supervisor."""
        if self.members:
            self._kill_all("left running")
            for member in list(self.members.values()):
                member.wait()
                for fd in list(member.open_fds):
                    self._close_fd(member, fd)
            self.members.clear()
