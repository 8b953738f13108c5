"""A Redis server of the test's own, for tests that crash or restart it.

Never the shared server (it runs without persistence, and other tests use it). Debian's
`redis-server` runs on a free port in a temp dir with the append-only file on and synced
on every write (`appendfsync always`), so a SIGKILL loses nothing it acknowledged. It is
our direct child: `crash` kills exactly this server, `start` brings it back on the same
port and directory, where it reloads the append-only file.

A missing redis-server skips the test with the reason; under CI=true it fails it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.own_postgres import free_port, unavailable

STARTUP_TIMEOUT_S = 30.0


class OwnRedis:
    """One private server; `url` is its database 0."""

    def __init__(self, binary: str, root: Path, fsync: str = "always") -> None:
        self.binary = binary
        self.root = root
        self.fsync = fsync
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.root),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.root / "server.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self._log()}")
            with contextlib.suppress(redis.RedisError), redis.Redis(port=self.port) as client:
                if client.ping() and client.info("persistence").get("loading") == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer in {STARTUP_TIMEOUT_S:g}s")

    def crash(self) -> None:
        """SIGKILL: no chance to write anything more."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def restart(self) -> None:
        """A clean shutdown (SIGTERM: the server finishes its append-only file), then up
        again on the same files."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.start()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def _log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@contextlib.contextmanager
def own_redis_server(fsync: str = "always") -> Iterator[OwnRedis]:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="queuectl-redis-") as root:
        server = OwnRedis(binary, Path(root), fsync)
        server.start()
        try:
            yield server
        finally:
            server.stop()
