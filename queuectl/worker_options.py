"""What a worker is started with, and what names it: its options, host and id."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field


def default_host() -> str:
    return os.environ.get("QUEUECTL_HOSTNAME") or socket.gethostname()


def new_worker_id(host: str) -> str:
    """host-pid-random: readable in `worker list`, unique even when pids are reused."""
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass
class WorkerOptions:
    slots: int = 1
    queues: Sequence[str] | None = None  # None = every queue
    burst: bool = False
    host: str = field(default_factory=default_host)
