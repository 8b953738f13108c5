"""uvicorn's h11 protocol with deadlines on the client's side of each request.

uvicorn closes a keep-alive connection that stays idle between requests, but not one that
opens and never finishes its headers, nor one whose body stops arriving: each would hold a
socket, and a share of the connection cap, for good. Here a request's line and headers
must all arrive within HEADERS_SECONDS of its first byte (or of the connection opening),
and a body that sends nothing for BODY_IDLE_SECONDS is dropped. The response side is
untouched: event streams stay open as long as their client reads them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from queuectl.web.settings import BODY_IDLE_SECONDS, HEADERS_SECONDS


class GuardedH11Protocol(H11Protocol):
    headers_seconds = HEADERS_SECONDS
    body_idle_seconds = BODY_IDLE_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadlines()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("_headers_timer")
        self._cancel("_body_timer")
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.transport.is_closing():
            self._cancel("_body_timer")  # the body moved: its idle time starts again
            self._arm_deadlines()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request, if any, gets its own headers deadline from its first byte;
        # until then uvicorn's keep-alive timeout governs the idle connection.
        self._cancel("_headers_timer")

    def _arm_deadlines(self) -> None:
        state = self.conn.their_state
        waiting_headers = state is h11.IDLE and self.conn.our_state is h11.IDLE
        if waiting_headers and self._started_a_request():
            if self._headers_timer is None:
                self._headers_timer = self.loop.call_later(self.headers_seconds, self._expire)
        else:
            self._cancel("_headers_timer")
        if state is h11.SEND_BODY and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.body_idle_seconds, self._expire)

    def _started_a_request(self) -> bool:
        """Whether the client owes us headers now: the connection is new (nothing served
        yet) or bytes of a next request have arrived."""
        buffered: int = len(self.conn.trailing_data[0])
        return self.timeout_keep_alive_task is None or buffered > 0

    def _cancel(self, name: str) -> None:
        timer = getattr(self, name)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    def _expire(self) -> None:
        """Too slow: close the connection (no response; the client never finished)."""
        self._headers_timer = self._body_timer = None
        if not self.transport.is_closing():
            self.transport.close()
