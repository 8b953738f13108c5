"""The chores a worker supervisor (and `queuectl serve`) does beside its jobs: enqueue the
due runs of schedules about once a second, and prune finished jobs past their retention.

They run in a thread of their own, on a store connection of their own, so neither a
slow prune nor a store outage ever holds up the worker's loop. Every host does them;
the store keeps them from being done twice (unique run ids, compare-and-set records).
"""

from __future__ import annotations

import logging
import threading
import time

from queuectl.errors import QueueError

log = logging.getLogger("queuectl.worker")

TICK = 1.0  # seconds between looks at the schedules
PRUNE_EVERY = 60.0  # seconds between looks at whether a prune is due


class Housekeeper:
    """Start it with the store URL; `stop()` ends it (within a tick)."""

    def __init__(self, url: str, name: str = "housekeeping") -> None:
        self.url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        from queuectl.service import retention, schedules
        from queuectl.store import open_store

        store = None
        next_prune = time.monotonic()
        while not self._stop.is_set():
            try:
                if store is None:
                    store = open_store(self.url, durable=False)
                for job_id in schedules.run_due(store):
                    log.info("schedule run %s enqueued", job_id)
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY
                    removed = retention.prune_if_due(store, stop=self._stop)
                    if removed:
                        log.info("retention: %d finished job(s) pruned", removed)
                self._failing = False
            except QueueError as err:
                if not self._failing:  # once per outage, not once a second
                    log.warning("housekeeping: %s", err)
                self._failing = True
            self._stop.wait(TICK)
        if store is not None:
            store.close()
