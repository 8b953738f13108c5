"""Long-lived streams (live output, events) counted in total and per client address, so
one client cannot hold every slot and shut the others out."""

from __future__ import annotations

import threading
from collections import Counter


class ClientSlots:
    def __init__(self, total: int, per_client: int, what: str) -> None:
        self.total = total
        self.per_client = per_client
        self.what = what  # "live output streams", for the refusal
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> bool:
        with self._lock:
            if self._held.total() >= self.total or self._held[client] >= self.per_client:
                return False
            self._held[client] += 1
            return True

    def take(self, client: str) -> None:
        """acquire, or refuse the request with 429 (the client may retry shortly)."""
        if not self.acquire(client):
            from queuectl.web.auth import Denied

            raise Denied(
                429,
                f"too many {self.what} (at most {self.per_client} per client, {self.total} in "
                "all); try again shortly",
                {"Retry-After": "5"},
            )

    def release(self, client: str) -> None:
        with self._lock:
            self._held[client] -= 1
            if self._held[client] <= 0:
                del self._held[client]
