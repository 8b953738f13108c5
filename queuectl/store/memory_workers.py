"""What a memory store keeps beside the jobs: the worker registry (stop requests
included), config and paused queues. Part of MemoryStore (memory.py)."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec.structs import replace

from queuectl import rules
from queuectl.models import StopMode, WorkerInfo, WorkerRegistration
from queuectl.store.memory_base import MemoryBase


class MemoryWorkers(MemoryBase):
    # -- config and paused queues -------------------------------------------------------

    def get_config(self) -> dict[str, str]:
        with self._db.lock:
            return dict(self._db.config)

    def set_config(self, key: str, value: str) -> None:
        with self._db.lock:
            self._db.config[key] = value

    def reset_config(self, key: str | None = None) -> None:
        with self._db.lock:
            if key is None:
                self._db.config.clear()
            else:
                self._db.config.pop(key, None)

    def pause_queues(self, queues: Sequence[str]) -> None:
        with self._db.lock:
            self._db.paused.update(queues)

    def resume_queues(self, queues: Sequence[str] | None) -> None:
        with self._db.lock:
            if queues is None:
                self._db.paused.clear()
            else:
                self._db.paused.difference_update(queues)
            self._db.wake()

    def paused_queues(self) -> list[str]:
        with self._db.lock:
            return sorted(self._db.paused)

    # -- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerRegistration) -> None:
        with self._db.lock:
            now = self.now()
            self._db.workers[worker.id] = WorkerInfo(
                worker.id, worker.host, worker.pid, tuple(worker.queues), worker.slots, now, now
            )

    def unregister_worker(self, worker_id: str) -> None:
        with self._db.lock:
            self._db.workers.pop(worker_id, None)

    def list_workers(self, alive_within: float | None = None) -> list[WorkerInfo]:
        with self._db.lock:
            now = self.now()
            workers = [
                replace(w, running=tuple(job.id for job in self._mine(w.id)))
                for w in self._db.workers.values()
                if alive_within is None or w.heartbeat_at >= now - alive_within
            ]
        return sorted(workers, key=lambda w: (w.started_at, w.id))

    def request_worker_stop(self, mode: StopMode, worker_ids: Sequence[str] | None = None) -> int:
        with self._db.lock:
            asked = [
                w for w in self._db.workers.values() if worker_ids is None or w.id in worker_ids
            ]
            for worker in asked:
                stop = rules.stop_request(worker.stop_requested, mode)
                self._db.workers[worker.id] = replace(worker, stop_requested=stop)
            self._db.wake()
        return len(asked)

    def prune_workers(self, dead_for: float) -> int:
        with self._db.lock:
            cutoff = self.now() - dead_for
            dead = [w.id for w in self._db.workers.values() if w.heartbeat_at < cutoff]
            for worker_id in dead:
                del self._db.workers[worker_id]
        return len(dead)
