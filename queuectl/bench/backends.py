"""Fresh, throw-away databases for the benchmark: every figure starts from an empty one."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT = "redis://127.0.0.1:6379/15"


def backend_of(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    if url.startswith(("redis://", "rediss://")):
        return "redis"
    return "sqlite"


class Server:
    """Where fresh databases are made: a directory (SQLite), a server database we may
    CREATE DATABASE from (PostgreSQL), or a Redis database number that is flushed."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.backend = backend_of(url) if url else "sqlite"
        self._dir = tempfile.mkdtemp(prefix="queuectl-bench-")

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    @contextmanager
    def fresh(self, name: str) -> Iterator[str]:
        """The URL of an empty database, removed afterwards."""
        if self.backend == "sqlite":
            folder = tempfile.mkdtemp(prefix=f"{name}-", dir=self._dir)
            try:
                yield os.path.join(folder, "queue.db")
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        elif self.backend == "postgresql":
            with _postgres_database(self.url or POSTGRES_DEFAULT, name) as url:
                yield url
        else:
            url = self.url or REDIS_DEFAULT
            _redis_flush(url)
            try:
                yield url
            finally:
                _redis_flush(url)


@contextmanager
def _postgres_database(admin_url: str, name: str) -> Iterator[str]:
    import psycopg

    db = f"queuectl_bench_{name}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{db}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _redis_address(url: str) -> tuple[str, int, int]:
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return parts.hostname or "127.0.0.1", parts.port or 6379, number


def _redis_command(url: str, *words: str, timeout_s: float = 2.0) -> bytes:
    host, port, number = _redis_address(url)
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        request = b""
        for command in (("SELECT", str(number)), words):
            request += f"*{len(command)}\r\n".encode()
            for word in command:
                request += f"${len(word.encode())}\r\n{word}\r\n".encode()
        sock.sendall(request)
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply


def _redis_flush(url: str) -> None:
    """Empty the database: seconds when it holds the scale figures' million jobs."""
    _redis_command(url, "FLUSHDB", timeout_s=300.0)


def postgres_answers(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception:
        return False
    return True


def redis_answers(url: str = REDIS_DEFAULT) -> bool:
    try:
        return b"+PONG" in _redis_command(url, "PING")
    except OSError:
        return False


def redis_store_exists() -> bool:
    return importlib.util.find_spec("queuectl.store.redis") is not None
