"""Run shell commands as jobs: `/bin/sh -c` in a session of its own (spawn.py), output
streamed into capped tail buffers, timeouts and interrupts that kill the whole process tree.

A `Process` is driven by its owner's selector, so one thread can run many commands at
once (the worker does); `run_command` drives one to its end for simple callers. Nothing
here raises for a command that misbehaves: a spawn failure, a timeout or a kill is a
`RunResult` with an error, recorded like any other attempt.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

from queuectl.config import Settings
from queuectl.models import Interrupt, Job, RunResult
from queuectl.proctree import Sweeper
from queuectl.spawn import Spawned, spawn

READ_CHUNK = 65_536
ABANDON_PIPES_S = 2.0  # after the shell exits, how long to keep reading its pipes


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 0.0  # seconds; 0 = none
    kill_grace: float = 5.0  # SIGTERM to SIGKILL, on timeout or interrupt
    output_limit: int = 65_536  # bytes kept per stream


class TailBuffer:
    """Keeps only the last `limit` bytes written: memory stays bounded whatever a job prints.

    It grows like a bytearray up to `limit`, then becomes a ring that new bytes overwrite
    in place: at most `limit` bytes are ever held, and each byte is copied once."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self._data = bytearray()
        self._start = 0  # once full: where the oldest byte is (and the next write goes)
        self.written = 0  # bytes written in all, kept or not

    def write(self, chunk: bytes) -> None:
        self.written += len(chunk)
        view = memoryview(chunk)
        if self.limit <= 0:
            return
        room = self.limit - len(self._data)
        if room > 0:
            self._data += view[:room]
            view = view[room:]
        if not view:
            return
        if len(view) >= self.limit:
            self._data[:] = view[-self.limit :]  # same length: copied in place
            self._start = 0
            return
        first = min(len(view), self.limit - self._start)
        self._data[self._start : self._start + first] = view[:first]
        self._data[: len(view) - first] = view[first:]
        self._start = (self._start + len(view)) % self.limit

    def held(self) -> int:
        """Bytes held now (never more than the limit)."""
        return len(self._data)

    def value(self) -> bytes:
        """The kept tail, oldest byte first; releases the buffer (call once, at the end)."""
        tail = self.snapshot()
        self._data, self._start = bytearray(), 0
        return tail

    def snapshot(self) -> bytes:
        """The kept tail so far, oldest byte first; the buffer goes on (live output)."""
        view = memoryview(self._data)
        if self._start == 0:
            return bytes(view)
        return b"".join((view[self._start :], view[: self._start]))


def describe_exit(code: int) -> str | None:
    """The error text for an exit status (None for success)."""
    if code == 0:
        return None
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    if code == 127:
        return "command not found (exit 127)"
    if code == 126:
        return "command not executable (exit 126)"
    return f"exit code {code}"


def start_command(
    command: str,
    env: Mapping[str, str],
    limits: Limits,
    selector: selectors.BaseSelector,
    sweeper: Sweeper | None = None,
    keep_daemons: bool = False,
    cwd: str | None = None,
) -> Process | RunResult:
    """Spawn `command` (in directory `cwd`, if given; see spawn.py) and register it with
    `selector`; a spawn failure is a RunResult. With a `sweeper`, every descendant dies
    with the command, even those that left its group, unless `keep_daemons`; without one,
    its process group does."""
    started = time.time()
    spawned = spawn(command, env, cwd)
    if isinstance(spawned, str):
        return RunResult(None, spawned, started_at=started, finished_at=time.time())
    try:
        process = Process(
            spawned.pid, spawned.stdout_fd, spawned.stderr_fd, limits, selector, started
        )
    except OSError as err:  # no pidfd: stop the command rather than lose track of it
        _abandon(spawned, selector)
        return RunResult(None, f"cannot start: {err}", started_at=started, finished_at=time.time())
    if sweeper is not None:
        process.track(sweeper, spawned.token, keep_daemons)
    return process


def start_job(
    job: Job, settings: Settings, selector: selectors.BaseSelector, sweeper: Sweeper
) -> Process | RunResult:
    """start_command for a job's attempt: its timeout (else job-timeout), the output
    limit, and its environment, which also names the job and the attempt."""
    timeout = job.timeout if job.timeout is not None else settings.job_timeout
    limits = Limits(timeout=timeout, output_limit=settings.output_limit)
    env = {
        **(job.env or {}),
        "QUEUECTL_JOB_ID": job.id,
        "QUEUECTL_ATTEMPT": str(job.last_attempt),
    }
    return start_command(job.command, env, limits, selector, sweeper, job.keep_daemons, job.cwd)


def _abandon(spawned: Spawned, selector: selectors.BaseSelector) -> None:
    """Kill and reap a command that cannot be watched, and close its pipes."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(spawned.pid, signal.SIGKILL)
    os.waitpid(spawned.pid, 0)
    for fd in (spawned.stdout_fd, spawned.stderr_fd):
        with contextlib.suppress(OSError, KeyError):
            selector.unregister(fd)
        os.close(fd)


class Process:
    """One running command. The owner calls `on_event` for its selector keys (their data
    is `(process, tag)`), `on_time` when `next_deadline` passes, and `finish` once `done`."""

    def __init__(
        self,
        pid: int,
        stdout_fd: int,
        stderr_fd: int,
        limits: Limits,
        selector: selectors.BaseSelector,
        started: float,
    ) -> None:
        self.pid = pid
        self.limits = limits
        self.selector = selector
        self.started = started
        self.stdout = TailBuffer(limits.output_limit)
        self.stderr = TailBuffer(limits.output_limit)
        self.error: str | None = None
        self.reason: Interrupt | None = None  # why it was interrupted, if it was
        self.returncode: int | None = None
        self.published = (0, 0)  # bytes of stdout and stderr its owner last published
        self.exit_fd = os.pidfd_open(pid)
        self.sources = {stdout_fd, stderr_fd, self.exit_fd}
        selector.register(stdout_fd, selectors.EVENT_READ, (self, self.stdout))
        selector.register(stderr_fd, selectors.EVENT_READ, (self, self.stderr))
        selector.register(self.exit_fd, selectors.EVENT_READ, (self, "exit"))
        now = time.monotonic()
        self.timeout_at = now + limits.timeout if limits.timeout > 0 else None
        self.kill_at: float | None = None
        self.abandon_at: float | None = None  # stop reading pipes an escapee still holds
        self.sweeper: Sweeper | None = None
        self.token = ""
        self.keep_daemons = False

    def track(self, sweeper: Sweeper, token: str, keep_daemons: bool) -> None:
        """Hand the command's whole tree (see proctree) to `sweeper`, not just its group."""
        self.sweeper, self.token, self.keep_daemons = sweeper, token, keep_daemons
        sweeper.started(self.pid, token)

    @property
    def done(self) -> bool:
        return not self.sources

    def on_event(self, key: selectors.SelectorKey) -> None:
        _, tag = key.data
        if tag == "exit":
            # The shell is gone: whatever it left running goes too. Signal the group before
            # reaping the shell, while its pid still names the group.
            if self.sweeper is None:
                self._reap_and_sweep(signal.SIGKILL)
            elif self.kill_at is None:
                self._reap_and_sweep(None if self.keep_daemons else signal.SIGTERM)
            else:
                # A timeout or an interrupt sent SIGTERM already; the sweeper sends the
                # SIGKILL when it is due (with keep_daemons, it has nothing to do: now).
                self._reap_and_sweep(signal.SIGKILL if self.keep_daemons else None)
            self._close(key.fd)
            self.timeout_at = self.kill_at = None
            self.abandon_at = time.monotonic() + ABANDON_PIPES_S
            return
        chunk = os.read(key.fd, READ_CHUNK)
        if chunk:
            tag.write(chunk)
        else:
            self._close(key.fd)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.timeout_at, self.kill_at, self.abandon_at) if t is not None]
        return min(times) if times else None

    def on_time(self, now: float) -> None:
        if self.timeout_at is not None and now >= self.timeout_at:
            self.timeout_at = None
            self.error = self.error or f"timeout after {self.limits.timeout:g}s"
            self._terminate(self.limits.kill_grace)
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            self._signal_tree(signal.SIGKILL)
        if self.abandon_at is not None and now >= self.abandon_at:
            # A process that left the group (setsid) still holds the pipes: stop waiting.
            self.abandon_at = None
            for fd in list(self.sources):
                self._close(fd)

    def interrupt(self, reason: Interrupt, grace: float) -> None:
        """Stop it now (cancel, cold stop, lease lost): SIGTERM to the group, SIGKILL after
        `grace`. A job already timing out stays a timeout when merely released."""
        if self.reason is not None or self.returncode is not None:
            return
        if not (reason is Interrupt.RELEASED and self.error is not None):
            self.reason = reason
            self.error = reason.value
        self._terminate(grace)

    def kill_group(self) -> None:
        """SIGKILL whatever still runs in its group (a last resort: nothing is reaped)."""
        self._signal_group(signal.SIGKILL)

    def finish(self) -> RunResult:
        """Reap the process and close everything; call once, when `done` (or to abandon)."""
        if self.returncode is None:
            self._signal_tree(signal.SIGKILL)
            self._reap_and_sweep(signal.SIGKILL)
        for fd in list(self.sources):
            self._close(fd)
        code = self.returncode
        assert code is not None
        return RunResult(
            exit_code=code,
            error=self.error or describe_exit(code),
            stdout=self.stdout.value(),
            stderr=self.stderr.value(),
            started_at=self.started,
            finished_at=time.time(),
            stdout_bytes=self.stdout.written,
            stderr_bytes=self.stderr.written,
        )

    def _reap(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)

    def _reap_and_sweep(self, sig: signal.Signals | None) -> None:
        """The shell exited (or is being abandoned): signal what is left of its group, reap
        it, and have the sweeper finish off the rest of its tree after the grace period
        (what is left of a timeout's grace, or a whole one)."""
        if sig is not None:
            self._signal_group(sig)
        self._reap()
        if self.sweeper is not None:
            self.sweeper.reaped(self.pid)
            now = time.monotonic()
            grace = self.limits.kill_grace if self.kill_at is None else self.kill_at - now
            group = 0 if self.keep_daemons else self.pid
            terminated = self.kill_at is not None  # its tree had its SIGTERM already
            self.sweeper.ended(self.token, self.keep_daemons, max(0.0, grace), group, terminated)

    def _close(self, fd: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)
        self.sources.discard(fd)

    def _terminate(self, grace: float) -> None:
        self._signal_tree(signal.SIGTERM)
        kill_at = time.monotonic() + grace
        self.kill_at = kill_at if self.kill_at is None else min(self.kill_at, kill_at)

    def _signal_tree(self, sig: signal.Signals) -> None:
        """The group, and (with a sweeper) every descendant that left it."""
        self._signal_group(sig)
        if self.sweeper is not None and not self.keep_daemons and self.returncode is None:
            self.sweeper.signal_tree(self.token, self.pid, sig)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.returncode is not None:
            return  # reaped: the pid (and group id) may belong to someone else by now
        with contextlib.suppress(ProcessLookupError, PermissionError):  # group already empty
            os.killpg(self.pid, sig)


def run_command(
    command: str,
    env: Mapping[str, str],
    limits: Limits,
    keep_daemons: bool = False,
    cwd: str | None = None,
) -> RunResult:
    """Run one command to its end (or its timeout) and report how it went. Returns once
    every process it started is gone (unless `keep_daemons`)."""
    sweeper = Sweeper(subreaper=False)  # found by token: its orphans went to init
    with selectors.DefaultSelector() as selector:
        process = start_command(command, env, limits, selector, sweeper, keep_daemons, cwd)
        if isinstance(process, RunResult):
            return process
        while not process.done:
            deadline = process.next_deadline()
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            for key, _ in selector.select(wait):
                process.on_event(key)
            process.on_time(time.monotonic())
        result = process.finish()
    while not sweeper.settled() and (deadline := sweeper.next_deadline()) is not None:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        sweeper.on_time(time.monotonic())
    return result
