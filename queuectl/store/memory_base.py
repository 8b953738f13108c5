"""The ground floor of MemoryStore (memory.py): the shared memory database of its URL, its
own clock, and the life cycle, under memory_workers.py and memory_observe.py.

Every call holds the database's lock, so each is atomic, as one transaction is.
"""

from __future__ import annotations

import os
import time

from queuectl.models import Job, JobState
from queuectl.store.memory_data import database

SCHEMA_VERSION = 1


class MemoryBase:
    """A store's view of the memory database named by its URL (`memory://NAME`)."""

    def __init__(
        self, url: str, durable: bool = True, migrate: bool = True, check_schema: bool = True
    ) -> None:
        self.url = url
        self.remote = False
        self._name = url.split("://", 1)[1]
        self._db = database(self._name)
        self._clock_offset = 0.0

    # -- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        pass  # the database stays for the process's other stores on this URL

    def ping(self) -> str:
        return f"memory database {self._name!r} in process {os.getpid()}"

    def durability_warning(self) -> str | None:
        return "memory:// keeps jobs in this process only: they are gone when it exits"

    def migrate(self) -> list[int]:
        return []  # born at the current version

    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        self._clock_offset += seconds

    # -- reads every part shares --------------------------------------------------------

    def _mine(self, worker_id: str) -> list[Job]:
        """The processing jobs of a worker (the caller holds the lock)."""
        return [
            job
            for job in self._db.jobs.values()
            if job.state is JobState.PROCESSING and job.worker_id == worker_id
        ]
