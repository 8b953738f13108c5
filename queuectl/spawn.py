"""Spawning a job's command: `/bin/sh -c` in a session of its own, stdin from /dev/null,
stdout and stderr into pipes, and an environment of the job's own (the worker's, less
queuectl's secrets, plus the job's variables and its run token; see proctree).

os.posix_spawn (vfork-style) costs a third less than subprocess.Popen per job, which is
most of a worker's overhead on short jobs. runner.py drives what is spawned here.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from queuectl.proctree import TOKEN_VAR

SHELL = "/bin/sh"
_tokens = itertools.count(1)

# The worker's own business, never a job's: `queuectl serve`'s API token, and systemd's
# sockets and watchdog (a job that wrote READY=1 or STOPPING=1 to NOTIFY_SOCKET would speak
# for the worker).
HIDDEN_FROM_JOBS = (
    "QUEUECTL_TOKEN",
    "NOTIFY_SOCKET",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
)


@dataclass(frozen=True, slots=True)
class Spawned:
    """A command just spawned: its shell's pid (also its process group), the read ends of
    its stdout and stderr pipes, and the run token its whole tree carries."""

    pid: int
    stdout_fd: int
    stderr_fd: int
    token: str


def spawn(command: str, env: Mapping[str, str], cwd: str | None) -> Spawned | str:
    """Spawn `command` in directory `cwd` (None: the worker's), with `env` over the
    worker's environment; or say why it could not start (a failed attempt, not a dead
    worker: a missing directory, no descriptors left, an environment no process can have)."""
    if cwd is not None and not os.path.isdir(cwd):
        return f"cannot start: working directory {cwd!r} does not exist on this host"
    token = f"{_token_prefix()}.{next(_tokens)}"
    job_env = _job_env(env, token)
    if isinstance(job_env, str):
        return job_env
    try:
        out_read, out_write = os.pipe()
    except OSError as err:  # out of descriptors
        return f"cannot start: {err}"
    try:
        err_read, err_write = os.pipe()
    except OSError as err:
        os.close(out_read)
        os.close(out_write)
        return f"cannot start: {err}"
    try:
        pid = os.posix_spawn(
            SHELL,
            _shell_argv(command, cwd),
            job_env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, _devnull(), 0),
                (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, err_write, 2),
            ],
            setsid=True,  # its own session and process group: kill the group, kill it all
            # Python ignores SIGPIPE (and SIGXFSZ); a job gets the defaults, as from a
            # shell: `yes | head` ends quietly instead of printing "Broken pipe".
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except (OSError, ValueError) as err:
        for fd in (out_read, err_read):
            os.close(fd)
        return f"cannot start: {err}"
    finally:
        os.close(out_write)
        os.close(err_write)
    return Spawned(pid, out_read, err_read, token)


@functools.cache
def _base_env() -> dict[bytes, bytes]:
    """The worker's environment, encoded once (Popen would encode it again per job),
    without queuectl's own secrets."""
    hidden = {os.fsencode(name) for name in HIDDEN_FROM_JOBS}
    return {k: v for k, v in os.environb.items() if k not in hidden}


def _job_env(env: Mapping[str, str], token: str) -> dict[bytes, bytes] | str:
    """The environment of one job, or why it cannot have one: a job stored before its
    text was checked may hold a lone surrogate, which no environment can carry."""
    try:
        extra = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    except UnicodeEncodeError:
        return "cannot start: `env` holds text that is not valid Unicode (a lone surrogate)"
    job_env = {**_base_env(), **extra}
    job_env[TOKEN_VAR.encode()] = token.encode()
    return job_env


@functools.cache
def _devnull() -> int:
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def seal_inherited_fds() -> None:
    """Make every descriptor above stderr close-on-exec, so jobs inherit none of ours.

    posix_spawn does not close descriptors the way subprocess's close_fds does; Python
    creates its own non-inheritable, and this covers any we were started with."""
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


@functools.cache
def _token_prefix() -> str:
    return f"{os.getpid()}.{os.urandom(4).hex()}"


# posix_spawn has no chdir (Python does not expose glibc's addchdir_np), and chdir in a
# threaded worker would move every thread: the shell changes directory, then becomes the
# job's own `sh -c`, so the job sees exactly what it would have without a cwd.
_CD_THEN_RUN = 'cd -- "$1" && exec "$0" -c "$2"'


def _shell_argv(command: str, cwd: str | None) -> list[str]:
    if cwd is None or cwd == _worker_cwd():
        return [SHELL, "-c", command]
    return [SHELL, "-c", _CD_THEN_RUN, SHELL, cwd, command]


@functools.cache
def _worker_cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # our own directory was removed
        return None
