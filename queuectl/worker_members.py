"""The processes of a worker supervisor (supervisor.py): how one is started, what the
supervisor keeps about it, and how `worker list` finds them on this host.

The processes a supervisor starts with it are forked from it: each then has what the
supervisor imported (queuectl, the database driver) and costs no interpreter start-up.
A process started later, in place of one that died, is a fresh interpreter
(`python -m queuectl.worker_process`): by then the supervisor runs threads, and a fork
copies only the thread that calls it (a lock another one held would stay held)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from queuectl.spawn import HIDDEN_FROM_JOBS

PROCESS_MODULE = "queuectl.worker_process"  # names a started process in /proc...
FORKED_NAME = b"queuectl-member"  # ...and a forked one (its comm: `worker list`)
PR_SET_NAME = 15  # <linux/prctl.h>
FORK_BLOCKED = {signal.SIGTERM, signal.SIGINT}


@dataclass
class Member:
    """One process: its share of the slots, and what it has said so far. `popen` is None
    for a forked process (then `returncode` is set once it is reaped)."""

    index: int
    slots: int
    pid: int
    exit_fd: int
    report_fd: int
    log_fd: int
    started: float  # monotonic
    popen: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    log_buf: bytes = b""
    report_buf: bytes = b""
    ready: bool = False
    stopping: tuple[str, int] | None = None  # its stop mode and jobs still running
    ended: dict[str, object] | None = None  # its last report: why, what it recorded
    open_fds: set[int] = field(default_factory=set)

    def wait(self) -> int:
        """Reap it (it has exited: its pidfd said so); its exit code as Popen gives it."""
        if self.popen is not None:
            return self.popen.wait()
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # SIGCHLD ignored: reaped already, status lost
                self.returncode = 0  # as Popen reads it
        return self.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal it through its pidfd, which names this process and no other: where
        SIGCHLD is ignored the kernel reaps it the moment it exits, and its pid may be
        another process's before we hear of it (then: ProcessLookupError)."""
        reaped = self.popen.returncode if self.popen is not None else self.returncode
        if reaped is not None:
            return  # and its pidfd is closed, or about to be
        try:
            signal.pidfd_send_signal(self.exit_fd, sig)
        except OSError as err:
            if err.errno != errno.EBADF:
                raise
            # Closed: the supervisor's loop reaped it after the check above (the
            # watchdog's thread signals too).

    def close_log(self) -> None:
        if self.popen is not None and self.popen.stderr is not None:
            self.popen.stderr.close()
        else:
            os.close(self.log_fd)


def can_fork() -> bool:
    """Whether a process can be forked from this one safely: it has one thread (a fork
    copies only the calling thread, and whatever lock another held stays held)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def open_on(path: str) -> bool:
    """Whether this process has a descriptor open on the file `path` or on one named
    after it (its -wal, its -shm): a SQLite connection, which a fork must not copy. When
    /proc cannot tell, it answers True."""
    real = os.path.realpath(path)
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return True
    for name in names:
        with contextlib.suppress(OSError):  # closed since the listing
            if os.readlink(f"/proc/self/fd/{name}").startswith(real):
                return True
    return False


def start_member(
    index: int, slots: int, spec: dict[str, object], url: str, fork: bool = False
) -> Member:
    """Start a process with a pipe to report on and its stderr (its log lines) to read,
    in a process group of its own: forked from this one with `fork` (see can_fork, and
    Supervisor._start_all for the database), else `python -m queuectl.worker_process
    SPEC`."""
    report_read, report_write = os.pipe()
    spec = {**spec, "parent": os.getpid(), "report_fd": report_write}
    try:
        if fork:
            (pid, log_fd), popen = _fork(spec, url, report_read), None
        else:
            popen = _popen(spec, url, report_write)
            assert popen.stderr is not None
            pid, log_fd = popen.pid, popen.stderr.fileno()
    except BaseException:
        os.close(report_read)
        raise
    finally:
        os.close(report_write)
    exit_fd = os.pidfd_open(pid)
    return Member(index, slots, pid, exit_fd, report_read, log_fd, time.monotonic(), popen)


def _fork(spec: dict[str, object], url: str, report_read: int) -> tuple[int, int]:
    """Fork a process that runs the spec's Worker (worker_process.run): it has every
    module this one imported, so it starts in milliseconds, not in an interpreter's
    start-up and imports (a tenth to a third of a second of CPU, per process). Returns its
    pid and the read end of its stderr."""
    log_read, log_write = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # or the child writes what they hold again
        with contextlib.suppress(Exception):
            stream.flush()
    # A signal meant for it arrives once it has a fresh interpreter's handlers, not ours.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(log_read)
        os.close(log_write)
        raise
    if pid == 0:
        try:
            _child(spec, url, (report_read, log_read), log_write, blocked)
        finally:
            os._exit(1)  # whatever happened, never the supervisor's code from here
    with contextlib.suppress(OSError):  # as the child does: whichever runs first
        os.setpgid(pid, pid)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.close(log_write)
    return pid, log_read


def _child(
    spec: dict[str, object],
    url: str,
    theirs: tuple[int, ...],
    log_write: int,
    mask: set[int | signal.Signals],
) -> None:
    """The forked process: never returns into the supervisor's code (os._exit). What the
    supervisor held is left as it was: the frames that hold it never return, and it is
    frozen out of the cycle collector, so none of its objects is finalized here (a
    SQLite connection is not among them: see Supervisor._start_all)."""
    code = 1
    try:
        gc.freeze()
        for fd in theirs:
            os.close(fd)
        _as_started(url, log_write)
        # A Ctrl-C sent before it had a process group of its own was for the supervisor
        # (a started process never sees it either): SIGINT is ignored while unblocked.
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from queuectl.worker_process import run

        code = run(spec, url)
    except SystemExit as ended:
        code = ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # no handler now
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _as_started(url: str, log_write: int) -> None:
    """What the started process would have: a fresh interpreter's SIGTERM handler (SIGINT
    ignored for now: see _child), no wake-up descriptor, its own process group,
    /dev/null for stdin and stdout and the log pipe for stderr, member_env's
    environment, and a name of its own."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the supervisor alone
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd, target in ((devnull, 0), (devnull, 1), (log_write, 2)):
        os.dup2(fd, target)
    for fd in (devnull, log_write):
        os.close(fd)
    environment = member_env(url)
    os.environ.clear()
    os.environ.update(environment)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: `worker list` shows less
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(FORKED_NAME), 0, 0, 0)


def _popen(spec: dict[str, object], url: str, report_write: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", PROCESS_MODULE, json.dumps(spec)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=(report_write,),
        process_group=0,  # a terminal's Ctrl-C reaches the supervisor alone
        env=member_env(url),
    )


def member_env(url: str) -> dict[str, str]:
    """Only the supervisor speaks to systemd; the database goes by the environment (in
    argv, `ps` would show its password). _as_started makes a forked process's alike."""
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_FROM_JOBS}
    env["QUEUECTL_DB"] = url
    return env


def member_pids(pid: int) -> list[int]:
    """The processes of the supervisor `pid` on this host (from /proc; [] elsewhere or
    when it has none): what `worker list` shows beside a worker."""
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = listing.read().split()
    except OSError:
        return []
    for child in children:
        try:
            with open(f"/proc/{child}/comm", "rb") as handle:
                named = handle.read().rstrip(b"\n") == FORKED_NAME
            if not named:
                with open(f"/proc/{child}/cmdline", "rb") as handle:
                    named = PROCESS_MODULE.encode() in handle.read()
        except OSError:
            continue
        if named:
            found.append(int(child))
    return found
