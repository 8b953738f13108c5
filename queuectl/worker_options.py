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


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# Slots a process gets by default before a worker takes another process: measured on 2
# cores, a second process made a 2-slot worker slower on SQLite (0.81x) and no faster on
# PostgreSQL (0.95x), while an 8-slot worker drained 8 to 23 % faster in 2 processes.
SLOTS_PER_PROCESS = 4


def default_procs(slots: int) -> int:
    """Processes for a worker of `slots` slots: one per SLOTS_PER_PROCESS slots, at most
    one per usable core, at least one."""
    return max(1, min(slots // SLOTS_PER_PROCESS, usable_cores()))


def split_slots(slots: int, procs: int) -> list[int]:
    """`slots` shared out over `procs` processes as evenly as can be (the first get one
    more when it does not divide)."""
    each, extra = divmod(slots, procs)
    return [each + (1 if i < extra else 0) for i in range(procs)]


@dataclass
class WorkerOptions:
    slots: int = 1
    queues: Sequence[str] | None = None  # None = every queue
    burst: bool = False
    host: str = field(default_factory=default_host)
    # A process of a supervisor (supervisor.py): it runs under the supervisor's worker id,
    # which the supervisor registers, and reports to it on this descriptor (the process's
    # link, worker_process.py) instead of logging its start and summary or telling systemd.
    worker_id: str | None = None
    report_fd: int | None = None
    worker_slots: int | None = None  # ...and the whole worker's slots (sizes its reserve)

    @property
    def supervised(self) -> bool:
        return self.worker_id is not None
