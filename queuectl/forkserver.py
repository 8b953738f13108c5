"""The fork server: one process per user and installation that has imported what short
commands need, and runs each in a child of its own (launcher.py is the other side).

A command arrives as one message on a Unix socket (SOCK_SEQPACKET, in a directory only
its user can enter; the peer's uid is checked too) with the caller's standard streams
as descriptors. A spare child, forked before the command came, takes it: the caller is
told its pid first, then the spare gets the message, the streams and the caller's
connection, takes the caller's directory, environment (time zone included), umask and
arguments, runs `queuectl.cli.main`, and sends its exit status before its own tear-down.
The server forks the next spare, reaps the child, and reports a status the child could
not send; a caller that goes away takes its command with it.

The server holds no database connection, thread or open file a child could share. A
spare may open a store ahead, the one the last command opened (store/ahead.py): its
command takes it only if it asks for that very store with the same settings, soon
enough, and the connection is still good; else it opens its own, as a process of its own
would. The server ends, once its children
have, after IDLE_S seconds without a command, on `queuectl forkserver stop` or SIGTERM,
or as soon as a file it imported changes (inotify tells it: an upgrade, an edit); the
next command then runs in its caller's process and starts a new server.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import marshal
import os
import selectors
import signal
import socket
import struct
import sys
import time
from typing import Any, TextIO

from queuectl import launcher
from queuectl.store import ahead, backend_class
from queuectl.store.inotify import CHANGED, FileWatch

PEERCRED = struct.Struct("3i")  # pid, uid, gid
RUN_FIELDS = 8  # ("run", key, argv, cwd, env, umask, streams, ignored signals)
NAMESPACES = ("mnt", "net", "user", "pid", "ipc", "uts")
MAX_FD = 1 << 20
ANCILLARY = socket.CMSG_SPACE(3 * 4)
ANCILLARY_RUN = socket.CMSG_SPACE(4 * 4)  # the caller's three streams and connection


def serve(path: str) -> None:
    """Serve at `path` (launcher.socket_path) until idle, stopped or stale; return at
    once when another server holds it or this interpreter is not the one it names."""
    # Nothing of the caller that started us but its standard streams (made /dev/null):
    # a pipe or lock it passed on would stay held for as long as the server lives.
    os.closerange(3, MAX_FD)
    directory = os.path.dirname(path)
    if launcher.socket_path(directory, launcher.server_key()) != path:
        return
    lock = _lock(path + ".lock")
    if lock is None:
        return
    os.chdir("/")
    preload()
    Server(path, lock).run()


def _lock(path: str) -> int | None:
    """The lock a server holds while it takes commands at `path` (one at a time), or
    None when another server holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def preload() -> None:
    """Import what the short commands use, each backend's driver included (those
    installed), without running anything: a child then imports almost nothing."""
    from queuectl.cli import lean_imports

    lean_imports.import_msgspec()
    for url in ("postgresql://", "redis://"):
        lean_imports.import_driver(url)
    for name in (
        "encodings.idna",  # a host name in a URL
        "queuectl.cli.fast",
        "queuectl.cli.context",
        "queuectl.cli.reading",
        "queuectl.cli.spec_arg",
        "queuectl.cli.last_job",
        "queuectl.cli.values",
        "queuectl.cli.app",
        "queuectl.cli.jobs",
        "queuectl.cli.observe",
        "queuectl.cli.admin",
        "queuectl.store.sqlite",
        "queuectl.store.postgres",
        "queuectl.store.redis",
    ):
        with contextlib.suppress(ImportError):  # a driver not installed
            __import__(name)


def watched_files() -> dict[str, tuple[int, int]]:
    """(mtime, size) of each file a loaded module came from (queuectl, the drivers, the
    standard library): a change means an upgrade or an edit."""
    found: dict[str, tuple[int, int]] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        with contextlib.suppress(OSError):
            info = os.stat(path)
            found[path] = (info.st_mtime_ns, info.st_size)
    return found


class Server:
    def __init__(self, path: str, lock: int) -> None:
        self.path = path
        self.lock: int | None = lock
        self.key = launcher.server_key()
        self.world = _world("self")
        self.idle_s = _idle_seconds()
        self.children: dict[int, socket.socket] = {}
        # Each running child's end of its spare socket: it reports there which store it
        # opened (the next spare's hint) and whether it took the one opened ahead.
        self.reports: dict[int, socket.socket] = {}
        self.hint: ahead.Hint | None = None
        self.served = 0
        self.taken_ahead = 0
        self.started = time.time()
        self.last = time.monotonic()
        self.listener: socket.socket | None = None
        self.inode = 0
        self.terminated = False
        self.outdated = False
        self.spare: tuple[int, socket.socket] | None = None
        self.selector = selectors.DefaultSelector()
        self.files = watched_files()
        self.watch: FileWatch | None = None
        # No inotify (or out of watches): a look at each file per command instead.
        with contextlib.suppress(OSError):
            self.watch = FileWatch(self.files, CHANGED)

    def run(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTERM, self.terminate)
        self.selector.register(wake_r, selectors.EVENT_READ)
        if self.watch is not None:
            self.selector.register(self.watch, selectors.EVENT_READ)
        self.listen()
        gc.collect()
        gc.freeze()  # the children's collections leave the preloaded objects' pages shared
        while self.listener is not None or self.children:
            timeout = None
            if self.listener is not None and not self.children:
                timeout = max(0.0, self.last + self.idle_s - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.fileobj is self.watch:
                    if self.stale():
                        self.stop_listening()
                elif key.fileobj is wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
                    self.reap()
                elif key.fileobj is self.listener:
                    self.accept()
                elif isinstance(key.data, tuple):
                    self.report(key.data[1])
                else:
                    self.caller_left(key.data)
            idle = not self.children and time.monotonic() - self.last >= self.idle_s
            if idle or self.terminated:
                self.stop_listening()
            self.next_spare()

    def terminate(self, signum: int, frame: object) -> None:
        """SIGTERM: stop as `queuectl forkserver stop` does (in the loop, not here)."""
        self.terminated = True

    def listen(self) -> None:
        """Bind under a name of its own, then rename into place: a caller finds either
        the old socket or the new one, never none."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        temporary = f"{self.path}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        listener.bind(temporary)
        listener.listen(64)
        os.rename(temporary, self.path + ".sock")
        self.inode = os.stat(self.path + ".sock").st_ino
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ)

    def stop_listening(self) -> None:
        """No more commands: the socket goes (if still ours), running children finish."""
        if self.listener is None:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path + ".sock").st_ino == self.inode:
                os.unlink(self.path + ".sock")
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        if self.lock is not None:  # a new server may start while our commands finish
            os.close(self.lock)
            self.lock = None
        if self.spare is not None:  # it reads the end of its socket, and ends
            self.spare[1].close()
            self.spare = None

    def accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        owned: socket.socket | None = conn
        try:
            conn.settimeout(2.0)  # a caller that connects and says nothing
            message, data, fds = self.receive(conn)
            self.last = time.monotonic()
            if message is not None and self.answer(conn, message, data, fds):
                owned = None  # the child's: its status goes back on it
        except OSError:
            pass
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)  # the child has its own copies
            if owned is not None:
                owned.close()

    def receive(self, conn: socket.socket) -> tuple[tuple[Any, ...] | None, bytes, list[int]]:
        """The caller's message (and its bytes) and descriptors; None for a message not
        to answer (another user's, cut short, unreadable, another installation's)."""
        data, ancillary, flags, _ = conn.recvmsg(launcher.MAX_MESSAGE, ANCILLARY)
        fds = _fds_of(ancillary)
        peer = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        if PEERCRED.unpack(peer)[1] != os.getuid() or flags & (
            socket.MSG_TRUNC | socket.MSG_CTRUNC
        ):
            return None, data, fds
        try:
            message = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return None, data, fds
        if not isinstance(message, tuple) or len(message) < 2 or message[1] != self.key:
            return None, data, fds
        return message, data, fds

    def ours(self, conn: socket.socket) -> bool:
        """Whether the caller has this server's groups and namespaces: a sandboxed
        process of the same user must not run commands outside its sandbox."""
        peer = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        pid = PEERCRED.unpack(peer)[0]
        return self.world is not None and _world(str(pid)) == self.world

    def answer(
        self, conn: socket.socket, message: tuple[Any, ...], data: bytes, fds: list[int]
    ) -> bool:
        """Answer one message; True when a child now runs and owns the connection."""
        kind = message[0]
        if kind == "status":
            running = sorted(self.children)
            answer = (
                "status",
                os.getpid(),
                self.started,
                self.served,
                self.idle_s,
                running,
                self.taken_ahead,
            )
            conn.send(marshal.dumps(answer))
        elif kind == "stop":
            self.stop_listening()
            conn.send(marshal.dumps(("stopping", os.getpid())))
        elif kind == "run" and len(fds) == 3 and len(message) == RUN_FIELDS:
            if not self.ours(conn):
                conn.send(marshal.dumps(("refused",)))
            elif self.stale():
                self.stop_listening()
                conn.send(marshal.dumps(("stale",)))
            else:
                return self.fork(conn, data, fds)
        return False

    def stale(self) -> bool:
        """Whether a file this server imported has changed since it started."""
        if self.watch is not None:
            self.outdated = self.outdated or self.watch.changed()
            return self.outdated
        for path, (mtime, size) in self.files.items():
            try:
                info = os.stat(path)
            except OSError:
                return True
            if (info.st_mtime_ns, info.st_size) != (mtime, size):
                return True
        return False

    def fork(self, conn: socket.socket, data: bytes, fds: list[int]) -> bool:
        """Hand the command to the spare child (forked ahead, so no fork waits here),
        once the caller knows its pid. False when it was not handed over (the caller
        left, or the spare could not take it): it did not run."""
        self.next_spare()  # (there is one already, unless it died or was replaced)
        assert self.spare is not None
        pid, spare = self.spare
        try:
            conn.send(marshal.dumps(("started", pid)))
        except OSError:  # the caller left: the spare waits for the next one
            return False
        self.spare = None
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fd_bytes([*fds, conn.fileno()]))]
        try:
            spare.sendmsg([data], rights)
        except OSError:  # the spare never got it: it ends unused, the caller runs it
            spare.close()
            with contextlib.suppress(OSError):
                conn.send(marshal.dumps(("refused",)))
            return False
        self.served += 1
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)
        self.reports[pid] = spare
        self.selector.register(spare, selectors.EVENT_READ, ("report", pid))
        return True

    def next_spare(self) -> None:
        """A spare child for the next command, forked while nothing waits for it; it
        opens the store of the current hint ahead (a new hint replaces it: `report`)."""
        if self.spare is None and self.listener is not None:
            self.spare = _fork_spare(self.hint)

    def report(self, pid: int) -> None:
        """A child's report: the store its command opened, and whether it took the one
        opened ahead. A new hint replaces a spare made for another store."""
        sock = self.reports.pop(pid, None)
        if sock is None:
            return
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
            said = marshal.loads(sock.recv(launcher.MAX_MESSAGE, socket.MSG_DONTWAIT))
            if isinstance(said, tuple) and len(said) == 3 and said[0] == "report":
                _, hint, taken = said
                self.taken_ahead += bool(taken)
                if hint != self.hint:  # (None: it opened no server's store; open none)
                    self.hint = hint
                    if self.spare is not None:  # made for the old hint
                        self.spare[1].close()  # it ends; the next spare opens this store
                        self.spare = None
        self._forget_report(sock)

    def _forget_report(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        sock.close()

    def caller_left(self, pid: int) -> None:
        """The caller's end of a running child's connection closed: it was killed (it
        forwards the signals it can catch, and waits). The command goes with it, as a
        command in the caller's own process would have."""
        conn = self.children.get(pid)
        if conn is None:
            return
        try:
            said = conn.recv(1, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            said = b""
        if not said:
            self.selector.unregister(conn)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def reap(self) -> None:
        """Collect ended children; a command's status goes to its caller (if the command
        did not send it itself), a spare that died is forked again when needed."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and self.spare[0] == pid:
                self.spare[1].close()
                self.spare = None
            self.report(pid)  # if it has not been read yet
            conn = self.children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(conn)
                with contextlib.suppress(OSError):
                    conn.send(marshal.dumps(("exit", os.waitstatus_to_exitcode(status))))
                conn.close()


def _world(pid: str) -> tuple[str, ...] | None:
    """A process's groups and namespaces (`pid` a number or "self"); None when they
    cannot be read (then no caller matches)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            lines = [line for line in status if line.startswith(("Gid:", "Groups:"))]
        links = [os.readlink(f"/proc/{pid}/ns/{name}") for name in NAMESPACES]
    except OSError:
        return None
    return (*(" ".join(line.split()) for line in lines), *links)


def _idle_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("QUEUECTL_FORKSERVER_IDLE", launcher.IDLE_S)))
    except ValueError:
        return launcher.IDLE_S


def _fork_spare(hint: ahead.Hint | None) -> tuple[int, socket.socket]:
    """Fork a child that waits for its command on a socket of its own: (pid, socket)."""
    ours, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # the spare: never returns
        _spare(its.detach(), hint)
    its.close()
    return pid, ours


def _spare(sock_fd: int, hint: ahead.Hint | None) -> None:
    """Open the hinted store ahead, wait for a command (its message, the caller's three
    streams and connection), run it, report to the server, and end; end at once when
    the server goes without sending one."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        _python_signals()
        os.closerange(3, sock_fd)  # nothing of the server's: the listener, other
        os.closerange(sock_fd + 1, MAX_FD)  # callers' streams and connections
        sock = socket.socket(fileno=sock_fd)
        if hint is not None:
            with contextlib.suppress(Exception):
                ahead.prepare(hint, backend_class)
        data, ancillary = _command(sock)
        fds = _fds_of(ancillary)
        if not data or len(fds) != 4:  # the server went, or it is not a command
            os._exit(1)
        message = marshal.loads(data)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        caller = fds[3]
        for fd in fds[:3]:
            os.close(fd)
        ahead.hinting = True
        code = _run(message)
        for fd in (0, 1, 2):  # the caller's output ends here, not at this exit
            with contextlib.suppress(OSError):
                os.close(fd)
        # The report first: once its caller has the status and ends, the server ends
        # this process (it cannot tell a caller that ended from one that was killed).
        with contextlib.suppress(OSError, ValueError):
            sock.send(marshal.dumps(("report", ahead.opened, ahead.taken)))
        with contextlib.suppress(OSError):
            os.write(caller, marshal.dumps(("exit", code)))
    except BaseException:  # whatever it is, report it as Python would, and fail
        import traceback

        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


def _command(sock: socket.socket) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """The command's message and descriptors; a store opened ahead that waited its time
    is closed meanwhile."""
    wait = ahead.expire_in()
    if wait is not None and wait > 0:
        sock.settimeout(wait)
        try:
            data, ancillary, _, _ = sock.recvmsg(launcher.MAX_MESSAGE, ANCILLARY_RUN)
            return data, ancillary
        except TimeoutError:
            pass
        sock.settimeout(None)
    ahead.discard()
    data, ancillary, _, _ = sock.recvmsg(launcher.MAX_MESSAGE, ANCILLARY_RUN)
    return data, ancillary


def _run(message: tuple[Any, ...]) -> int:
    """Run the caller's command as its own process would: its exit code."""
    _, _, argv, cwd, env, mask, streams, ignored = message
    for signum in ignored:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_IGN)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    os.umask(mask)
    sys.argv = list(argv)
    sys.stdin, sys.stdout, sys.stderr = (_stream(fd, *streams[fd]) for fd in range(3))
    from queuectl.cli import main

    try:
        main(sys.argv[1:])
        code = 0
    except SystemExit as done:
        code = _exit_code(done.code)
    except KeyboardInterrupt:
        code = 130
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return code


def _python_signals() -> None:
    """Every signal as a new Python process has it: the default action, but for SIGINT
    (KeyboardInterrupt) and SIGPIPE and SIGXFSZ (ignored)."""
    for signum in range(1, signal.NSIG):
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_IGN)


def _fds_of(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds += [int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4)]
    return fds


def _fd_bytes(fds: list[int]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def _stream(fd: int, encoding: str, errors: str) -> TextIO:
    """A standard stream on the caller's descriptor, as Python would have made it there:
    in the caller's encoding, line-buffered on a terminal (stderr always)."""
    if fd == 0:
        return open(0, encoding=encoding, errors=errors, newline="\n", closefd=False)
    line = os.isatty(fd) or fd == 2
    return open(fd, "w", 1 if line else -1, encoding, errors, closefd=False)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
