"""The `queuectl` command's first step: hand a short command to the fork server.

Most of a short command's start-up is imports (msgspec, the database driver: psycopg or
redis-py alone cost several times `python -c pass`). The fork server (forkserver.py) is a
process of the same Python and the same queuectl that has done those imports once; for
each command it forks a child that takes this process's arguments, environment, working
directory, umask and standard streams (passed as descriptors) and runs the command as
`queuectl.cli.main` would here. This process waits, forwards the signals a user sends
(Ctrl-C), and exits with the child's status.

Only the short commands of COMMANDS go there, from a process started in the usual way
(no -O, -X or -W). The first one finds no server, runs here, and starts one; a server
ends after QUEUECTL_FORKSERVER_IDLE seconds without a command (IDLE_S). A command that
cannot be handed off (no server, an old one, a refusal) runs here, never twice: the
child runs only once the server has told this process it started.
QUEUECTL_FORKSERVER=0 turns the whole thing off.

This module runs before anything else of queuectl (scripts/queuectl imports nothing
before it): it imports only what the interpreter has already loaded or builds in
(`_socket`, not `socket`: that one's enum and selectors cost more than the whole
hand-off).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal is the same, less its enum
import _socket
import marshal
import os
import stat
import sys
import time
import zlib

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing

if TYPE_CHECKING:
    from typing import Any

COMMANDS = frozenset({"enqueue", "status", "list", "show", "logs"})
# proctree.TOKEN_VAR, which a worker gives each job (not imported: a test keeps them equal).
JOB_TOKEN = "QUEUECTL_RUN"
SWITCH = "QUEUECTL_FORKSERVER"
OFF = frozenset({"0", "off", "no", "false"})
IDLE_S = 600.0
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
RESPAWN_S = 10.0  # at most one server start per this many seconds (a failing one)
MAX_MESSAGE = 1 << 20
# A Unix socket's path holds at most 107 bytes: the directory, "/fork-" and 8 hex digits,
# and the server's temporary ".PID" suffix (up to 7 digits) must fit.
MAX_DIR = 107 - len("/fork-12345678.1234567")


def main() -> None:
    """The `queuectl` command (scripts/queuectl) and `python -m queuectl`."""
    if _wanted(sys.argv[1:]):
        code = hand_off()
        if code is not None:
            os._exit(code)
    from queuectl.cli import main as cli_main

    cli_main()


def _wanted(args: list[str]) -> bool:
    if os.environ.get(SWITCH, "").strip().lower() in OFF or sys.platform != "linux":
        return False  # (SOCK_SEQPACKET and SO_PEERCRED are Linux's)
    if JOB_TOKEN in os.environ:
        return False  # a job's command: all it starts stays in the job's process tree
    if "_QUEUECTL_COMPLETE" in os.environ or None in (sys.stdin, sys.stdout, sys.stderr):
        return False
    flags = sys.flags
    if sys.warnoptions or sys._xoptions or flags.optimize or flags.dev_mode:
        return False  # the server would not run as this interpreter does
    while args and (args[0] == "--db" or args[0].startswith("--db=")):
        args = args[2:] if args[0] == "--db" else args[1:]
    return bool(args) and args[0] in COMMANDS


def runtime_dir() -> str | None:
    """The private directory of this user's fork servers, made if missing; None when it
    is not private (another owner, open to others, not a directory) or its path leaves
    no room for a socket's name (MAX_DIR)."""
    path = runtime_path()
    uid = os.getuid()
    if len(os.fsencode(path)) > MAX_DIR:
        return None
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o077
    return path if private else None


def runtime_path() -> str:
    """$XDG_RUNTIME_DIR/queuectl, else /tmp/queuectl-UID."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    return os.path.join(base, "queuectl") if os.path.isabs(base) else f"/tmp/queuectl-{os.getuid()}"


def unusable() -> str:
    if sys.platform != "linux":
        return "the fork server runs on Linux only"
    return (
        f"cannot use {runtime_path()} for the fork server: it must be a directory of this"
        f" user's that others cannot enter, and a path of at most {MAX_DIR} bytes"
    )


def server_key() -> str:
    """What a server must share with this process to run its commands: the interpreter,
    queuectl's own files and the import path."""
    here = os.path.dirname(os.path.abspath(__file__))
    return "\0".join([sys.executable, sys.version, here, *sys.path])


def socket_path(directory: str, key: str) -> str:
    return os.path.join(directory, f"fork-{zlib.crc32(key.encode(errors='surrogatepass')):08x}")


def connect(path: str) -> _socket.socket | None:
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    except OSError:
        return None
    try:
        sock.connect(path + ".sock")
        peer = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # pid, uid, gid
    except OSError:
        sock.close()
        return None
    if int.from_bytes(peer[4:8], sys.byteorder) != os.getuid():  # not ours: never tell it
        sock.close()
        return None
    return sock


def request(sock: _socket.socket, message: Any, fds: tuple[int, ...] = ()) -> None:
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fd_bytes(fds))] if fds else []
    sock.sendmsg([marshal.dumps(message)], rights)


def reply(sock: _socket.socket) -> tuple[object, ...] | None:
    """The server's next message; None once it closed the connection."""
    data = sock.recv(MAX_MESSAGE)
    if not data:
        return None
    message = marshal.loads(data)
    return message if isinstance(message, tuple) and message else None


def _fd_bytes(fds: tuple[int, ...]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def hand_off() -> int | None:
    """Run this process's command in a child of the fork server; its exit code, or None
    when the command did not start there (it is then this process's to run)."""
    directory = runtime_dir()
    if directory is None:
        return None
    key = server_key()
    path = socket_path(directory, key)
    sock = connect(path)
    if sock is None:
        start_server(path)
        return None
    try:
        try:
            cwd = os.getcwd()
        except OSError:  # ours was removed: the command reports that itself, here
            return None
        mask = os.umask(0o022)
        os.umask(mask)
        streams = [(s.encoding, s.errors) for s in (sys.stdin, sys.stdout, sys.stderr)]
        ignored = _ignored()
        message = ("run", key, sys.argv, cwd, dict(os.environ), mask, streams, ignored)
        try:
            request(sock, message, (0, 1, 2))
            answer = reply(sock)
        except OSError:  # too large, a descriptor closed, the server gone: run it here
            return None
        if answer is None or answer[0] != "started":
            if answer is not None and answer[0] == "stale":
                start_server(path)
            return None
        return _wait(sock, answer[1], ignored)
    finally:
        sock.close()


def _ignored() -> list[int]:
    """The signals this process ignores (as under nohup, or in a script's background
    job): the command ignores them too, and they are not passed on."""
    ignored = []
    for signum in range(1, _signal.NSIG):
        try:
            if _signal.getsignal(signum) is _signal.SIG_IGN:
                ignored.append(signum)
        except (OSError, ValueError):
            pass
    return ignored


def _wait(sock: _socket.socket, pid: object, ignored: list[int]) -> int | None:
    """Pass the user's signals on to the child until its end is reported: its exit code
    (None: the server could not hand the command over after all; it did not run)."""
    assert isinstance(pid, int)

    def forward(signum: int, frame: object) -> None:
        try:  # noqa: SIM105  (contextlib is not loaded yet)
            os.kill(pid, signum)
        except OSError:  # it has ended
            pass

    def stop(signum: int, frame: object) -> None:
        """Ctrl-Z: the command stops (SIGSTOP: as a child of a server in a session of
        its own, it would discard SIGTSTP), then this process does, as usual."""
        forward(_signal.SIGSTOP, frame)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, stop)  # continued (`fg`): SIGCONT follows

    handlers = {getattr(_signal, name): forward for name in FORWARDED}
    handlers.update({_signal.SIGTSTP: stop, _signal.SIGCONT: forward})
    previous = {}
    for signum, handler in handlers.items():
        if signum not in ignored:
            previous[signum] = _signal.signal(signum, handler)
    try:
        answer = reply(sock)
    except OSError:
        answer = None
    if answer is not None and answer[0] == "refused":
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        return None
    if answer is None or answer[0] != "exit" or not isinstance(answer[1], int):
        # Both ends closed with no word: the child has ended, and so has the server.
        os.write(2, b"error: the fork server ended before the command; its exit status is lost\n")
        return 1
    code = answer[1]
    if code < 0:  # ended by a signal: end the same way, for the shell to see
        if -code in previous or -code == _signal.SIGINT:  # not Python's handler now
            _signal.signal(-code, _signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def start_server(path: str, pause_s: float = RESPAWN_S) -> None:
    """Start a fork server in the background, at most once per `pause_s` (a server that
    fails to start is not started again by every command): it runs detached, with its
    own session and no terminal, and serves from its next command on."""
    lock = path + ".lock"
    try:
        if time.time() - os.stat(lock).st_mtime < pause_s:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600))
        os.utime(lock)
        # The import path first, as this process has it: not the server's working
        # directory, which -c would put first.
        code = (
            "import sys, marshal; sys.path[:] = marshal.loads(bytes.fromhex(sys.argv[1]));"
            " from queuectl.forkserver import serve; serve(sys.argv[2])"
        )
        argv = [sys.executable, "-c", code, marshal.dumps(sys.path).hex(), path]
        null = os.devnull
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
    except (OSError, ValueError):  # ValueError: a NUL in the import path
        pass


def control(kind: str) -> tuple[object, ...] | None:
    """Ask this installation's server for its "status" or to "stop"; None when no server
    answers. ValueError when the runtime directory is not private."""
    directory = runtime_dir() if sys.platform == "linux" else None
    if directory is None:
        raise ValueError(unusable())
    key = server_key()
    sock = connect(socket_path(directory, key))
    if sock is None:
        return None
    try:
        request(sock, (kind, key))
        return reply(sock)
    except OSError:
        return None
    finally:
        sock.close()


def start_now() -> None:
    """Start a server now (no RESPAWN_S pause), for `queuectl forkserver start`."""
    directory = runtime_dir() if sys.platform == "linux" else None
    if directory is None:
        raise ValueError(unusable())
    start_server(socket_path(directory, server_key()), pause_s=0.0)
