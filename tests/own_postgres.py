"""A PostgreSQL server of the test's own, for tests that restart, crash or freeze it.

Never the shared server: those faults would break every other test running against it.
`OwnPostgres` runs `initdb` into a temp dir and the postmaster on a free port, as the
`postgres` user when we are root (PostgreSQL refuses to run as root). The postmaster is
our direct child, so its pid is known: `restart`, `crash` (SIGKILL) and `freeze` (SIGSTOP
of every server process) act on exactly this server.

Missing binaries or privileges skip the test with the reason; under CI=true they fail it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TypedDict

import pytest

STARTUP_TIMEOUT_S = 60.0


class RunAs(TypedDict, total=False):
    """The keywords that run a child process as another user (none: as ourselves)."""

    user: int
    group: int


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`; fail instead under CI=true (a missing tool must not pass CI)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


def find_bin_dir() -> str | None:
    """The directory holding initdb and postgres (newest version first), or None."""
    on_path = shutil.which("initdb")
    candidates = [os.path.dirname(on_path)] if on_path else []
    found = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(found, key=lambda p: int(p.split("/")[-2]), reverse=True)
    for directory in candidates:
        if all(os.access(os.path.join(directory, n), os.X_OK) for n in ("initdb", "postgres")):
            return directory
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def children(pid: int) -> list[int]:
    """Direct children of `pid` (a server's backends, a worker's jobs), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # The command name may hold spaces and parentheses: ppid follows the last ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


class OwnPostgres:
    """One private server. `url` points at its `postgres` database (trust auth)."""

    def __init__(self, bin_dir: str, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None
        self._as = self._user()

    @staticmethod
    def _user() -> RunAs:
        """Run the server as `postgres` when we are root; as ourselves otherwise."""
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running PostgreSQL as root needs a 'postgres' user")
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _chown(self, path: Path) -> None:
        if "user" in self._as and "group" in self._as:
            os.chown(path, self._as["user"], self._as["group"])

    def init(self) -> None:
        self._chown(self.root)
        command = [f"{self.bin_dir}/initdb", "-D", str(self.data), "-A", "trust", "-U"]
        command += ["postgres", "-E", "UTF8", "--no-sync", "--no-instructions"]
        done = subprocess.run(command, capture_output=True, timeout=120, check=False, **self._as)
        if done.returncode != 0:
            unavailable(f"initdb failed: {done.stderr.decode(errors='replace').strip()[-300:]}")

    def start(self) -> None:
        """Start the postmaster and wait until it accepts connections. After a crash the
        old backends may hold shared memory a moment longer: retry until they are gone."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            self._spawn()
            if self._wait_ready(deadline):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"own PostgreSQL did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def _spawn(self) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",  # the faults here kill processes, not the machine
            "max_connections": "100",
            "shared_buffers": "16MB",
        }
        command = [f"{self.bin_dir}/postgres", "-D", str(self.data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, **self._as
            )

    def _wait_ready(self, deadline: float) -> bool:
        """True once it answers; False when the postmaster exited (start it again)."""
        import psycopg

        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                time.sleep(0.05)
        return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 60) -> None:
        """SIGINT: fast shutdown (clients disconnected, clean checkpoint). SIGKILL: a crash."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        self.proc.wait(timeout)

    def restart(self) -> None:
        self.stop(signal.SIGINT)
        self.start()

    def crash(self) -> None:
        """SIGKILL the postmaster: no shutdown at all; the next start runs crash recovery."""
        self.stop(signal.SIGKILL)
        self.start()

    def server_pids(self) -> list[int]:
        return [self.pid, *children(self.pid)]

    @contextlib.contextmanager
    def frozen(self) -> Iterator[list[int]]:
        """SIGSTOP the postmaster and every backend: connections stay open, nothing answers.
        SIGCONT on leaving, whatever happened inside."""
        pids = self.server_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            yield pids
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def shutdown(self) -> None:
        """Stop it for good (continuing a frozen one first) and wait for every backend."""
        if self.proc is None:
            return
        pids = self.server_pids() if self.proc.poll() is None else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        try:
            self.stop(signal.SIGQUIT, timeout=30)  # immediate shutdown
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
        for pid in pids:  # orphaned backends notice the postmaster's death and exit
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def own_postgres_server() -> Iterator[OwnPostgres]:
    """A fresh private server, shut down and deleted afterwards (skip/fail if impossible)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable("no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib")
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        unavailable("psycopg is not installed (pip install -e '.[test]')")
    # Not under pytest's tmp_path: the postgres user must be able to enter the directory.
    root = Path(tempfile.mkdtemp(prefix="queuectl-own-pg-"))
    server = OwnPostgres(str(bin_dir), root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)
