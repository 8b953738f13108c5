"""Browser sessions, and a throttle on wrong credentials.

A login gives the browser a random session id, never the token: the id means something
only to this server process, logout revokes it, and a restart (the only way to change
the token) ends every session. Each session carries its own CSRF secret, which a change
made with the session must repeat in a header.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

SESSION_SECONDS = 12 * 3600  # a login lasts this long, however active
MAX_SESSIONS = 10_000  # the oldest goes first past this
FAILURES_ALLOWED = 10  # wrong tokens per client per window ...
FAILURE_WINDOW_SECONDS = 60.0  # ... after which it gets 429 until the window ends
MAX_TRACKED_CLIENTS = 10_000


@dataclass(frozen=True)
class Session:
    csrf: str
    expires: float


def _key(session_id: str) -> str:
    """Sessions are looked up by a hash of their id: no timing of the table reveals one."""
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


class Sessions:
    """The live sessions of one server process (memory only, by design)."""

    def __init__(self, lifetime: float = SESSION_SECONDS) -> None:
        self.lifetime = lifetime
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(24), expires=time.time() + self.lifetime)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.expires <= time.time():
                del self._sessions[key]
                return None
        return session

    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(_key(session_id), None)


class FailureThrottle:
    """Wrong tokens per client address in fixed windows: guessing gets 10 tries a minute."""

    def __init__(
        self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW_SECONDS
    ) -> None:
        self.allowed = allowed
        self.window = window
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str) -> float:
        """How long `client` must wait before its credentials are checked again (0: now)."""
        with self._lock:
            count, start = self._failures.get(client, (0, 0.0))
        left = start + self.window - time.monotonic()
        return max(left, 0.0) if count >= self.allowed and left > 0 else 0.0

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            count, start = self._failures.get(client, (0, now))
            if start + self.window <= now:
                count, start = 0, now
            elif client not in self._failures and len(self._failures) >= MAX_TRACKED_CLIENTS:
                self._failures.clear()  # a flood of addresses: start over, never grow
            self._failures[client] = (count + 1, start)
