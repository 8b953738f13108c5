"""systemd's notify protocol (`Type=notify`), written out: one datagram per state change
to the socket named by $NOTIFY_SOCKET. No dependency; nothing happens outside systemd."""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    """Tells the service manager READY, STATUS and STOPPING; a no-op without a socket."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address.startswith("@"):  # the abstract namespace
            self._address = "\0" + address[1:]
        elif address.startswith("/"):
            self._address = address
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        # A manager that went away must not take the worker with it.
        with contextlib.suppress(OSError):
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message.encode(), self._address)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
