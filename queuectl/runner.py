"""Run one shell command as a job: `/bin/sh -c` in its own session, output streamed into
capped tail buffers, a timeout and interrupts that kill the whole process group.

Nothing here raises for a command that misbehaves: a spawn failure, a timeout or a kill
is a `RunResult` with an error, recorded like any other attempt.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

from queuectl.models import RunResult

SHELL = "/bin/sh"
READ_CHUNK = 65_536


class TailBuffer:
    """Keeps only the last `limit` bytes written: memory stays bounded whatever a job prints."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()

    def write(self, chunk: bytes) -> None:
        if self.limit <= 0:
            return
        self._data += chunk
        # Trim in batches, not on every write, so a chatty job costs O(bytes) overall.
        if len(self._data) > 2 * self.limit:
            del self._data[: -self.limit]

    def value(self) -> bytes:
        return bytes(self._data[-self.limit :]) if self.limit > 0 else b""


class Interrupt:
    """A way for another thread to stop a running command at once (cancel, cold stop).

    The run loop watches the read end of a pipe, so firing wakes it without polling."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self.reason: str | None = None
        self.grace: float = 0.0

    def fire(self, reason: str, grace: float) -> None:
        if self.reason is None:
            self.reason, self.grace = reason, grace
            os.write(self._write, b"!")

    def fileno(self) -> int:
        return self._read

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 0.0  # seconds; 0 = none
    kill_grace: float = 5.0  # SIGTERM to SIGKILL, on timeout or interrupt
    output_limit: int = 65_536  # bytes kept per stream


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


def run_command(
    command: str,
    env: Mapping[str, str],
    limits: Limits,
    interrupt: Interrupt | None = None,
) -> RunResult:
    """Run `command` to its end (or its timeout / interrupt) and report how it went."""
    started = time.time()
    try:
        proc = subprocess.Popen(
            [SHELL, "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            start_new_session=True,  # its own process group: kill the group, kill it all
            close_fds=True,
        )
    except OSError as err:
        return RunResult(None, f"cannot start: {err}", started_at=started, finished_at=time.time())
    run = _Run(proc, limits, interrupt)
    try:
        error = run.pump()
    finally:
        run.reap()
    code = proc.returncode
    if error is None:
        error = describe_exit(code)
    return RunResult(
        exit_code=code,
        error=error,
        stdout=run.stdout.value(),
        stderr=run.stderr.value(),
        started_at=started,
        finished_at=time.time(),
    )


class _Run:
    """The loop of one command: read its pipes, watch its exit, enforce deadlines."""

    def __init__(self, proc: subprocess.Popen[bytes], limits: Limits, interrupt: Interrupt | None):
        self.proc = proc
        self.limits = limits
        self.interrupt = interrupt
        self.stdout = TailBuffer(limits.output_limit)
        self.stderr = TailBuffer(limits.output_limit)
        self.selector = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        self.selector.register(proc.stdout, selectors.EVENT_READ, self.stdout)
        self.selector.register(proc.stderr, selectors.EVENT_READ, self.stderr)
        self.exit_fd = os.pidfd_open(proc.pid)
        self.selector.register(self.exit_fd, selectors.EVENT_READ, "exit")
        if interrupt is not None:
            self.selector.register(interrupt.fileno(), selectors.EVENT_READ, "interrupt")
        start = time.monotonic()
        self.deadline = start + limits.timeout if limits.timeout > 0 else None
        self.kill_at: float | None = None
        self.open_pipes = 2

    def pump(self) -> str | None:
        """Until the shell has exited and both pipes are drained; returns the error that
        ended it early (timeout, interrupt) or None."""
        error: str | None = None
        leader_done = False
        while self.open_pipes or not leader_done:
            for key, _ in self.selector.select(self._wait_time()):
                if key.data == "exit":
                    leader_done = True
                    self.selector.unregister(self.exit_fd)
                    # The shell is gone: whatever it left running in its group goes too.
                    self._signal_group(signal.SIGKILL)
                elif key.data == "interrupt":
                    assert self.interrupt is not None
                    self.selector.unregister(self.interrupt.fileno())
                    error = error or self.interrupt.reason
                    self._terminate(self.interrupt.grace)
                else:
                    self._read(key)
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline and not leader_done:
                error = error or f"timeout after {self.limits.timeout:g}s"
                self.deadline = None
                self._terminate(self.limits.kill_grace)
            if self.kill_at is not None and now >= self.kill_at:
                self.kill_at = None
                self._signal_group(signal.SIGKILL)
        return error

    def _wait_time(self) -> float | None:
        times = [t for t in (self.deadline, self.kill_at) if t is not None]
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _read(self, key: selectors.SelectorKey) -> None:
        chunk = os.read(key.fd, READ_CHUNK)
        if chunk:
            key.data.write(chunk)
        else:
            self.selector.unregister(key.fileobj)
            self.open_pipes -= 1

    def _terminate(self, grace: float) -> None:
        self._signal_group(signal.SIGTERM)
        kill_at = time.monotonic() + grace
        self.kill_at = kill_at if self.kill_at is None else min(self.kill_at, kill_at)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # group already empty
            os.killpg(self.proc.pid, sig)

    def reap(self) -> None:
        """Never leave a zombie or a stray process, even if pump() raised."""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self._signal_group(signal.SIGKILL)
        self.selector.close()
        os.close(self.exit_fd)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
