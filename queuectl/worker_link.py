"""What a worker process tells its supervisor (supervisor.py), one JSON line at a time
on a pipe: what it would tell systemd (READY, STATUS, STOPPING), and at its end why it
stopped and the attempts it recorded, for the supervisor's one summary."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping

from queuectl.sdnotify import Notifier


class SupervisorLink(Notifier):
    """A Notifier whose messages go to the supervisor (who speaks to systemd for all its
    processes), plus `ended`."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    @property
    def enabled(self) -> bool:
        return True

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def ended(self, reason: str, tally: Mapping[str, int]) -> None:
        self._write({"ended": reason, "tally": dict(tally)})

    def failed(self, message: str) -> None:
        """The process ends with an error (the one line the CLI would print): the
        supervisor prints it, once for all its processes."""
        self._write({"failed": message})

    def _send(self, message: str) -> None:
        self._write({"notify": message})

    def _write(self, entry: dict[str, object]) -> None:
        # A supervisor that is gone (it was killed) must not take the process with it.
        with contextlib.suppress(OSError):
            os.write(self._fd, json.dumps(entry).encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def parse_notify(message: str) -> dict[str, str]:
    """`KEY=value` lines (systemd's notify format) as a dict."""
    return dict(line.split("=", 1) for line in message.splitlines() if "=" in line)
