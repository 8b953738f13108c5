"""The worker registry as front ends see it, and stop requests.

Nothing here signals a process or waits: a stop is a request recorded in the store, which
each worker reads on its next heartbeat, on any host. The CLI alone also signals the
workers on its own host and waits for them to go (queuectl/cli/stopping.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from queuectl.errors import InvalidSpec, WorkerNotFound
from queuectl.models import StopMode, WorkerInfo
from queuectl.service.common import settings

if TYPE_CHECKING:
    from queuectl.store.base import Store


def workers(store: Store, include_dead: bool = False) -> list[WorkerInfo]:
    """Registered workers, oldest first, with heartbeat_age and alive filled in: only the
    live ones (heartbeat within lease-seconds) unless `include_dead`."""
    alive_within = settings(store).lease_seconds
    found = store.list_workers(alive_within=None if include_dead else alive_within)
    now = store.now()
    return [
        msgspec.structs.replace(
            w,
            heartbeat_age=max(0.0, now - w.heartbeat_at),
            alive=now - w.heartbeat_at <= alive_within,
        )
        for w in found
    ]


def live_workers(store: Store, include_dead: bool = False) -> list[WorkerInfo]:
    """Older name of `workers`."""
    return workers(store, include_dead)


def request_stop(
    store: Store, worker_ids: Sequence[str] | None, now: bool, gone_ok: bool = False
) -> int:
    """Ask workers to stop: the given ids, or every live one when None. Graceful lets
    running jobs finish (up to grace-period); `now` kills them and requeues them.
    Returns how many were asked. WorkerNotFound for an id that is not registered, unless
    `gone_ok` (`worker stop` asking the workers it just listed: one that left the registry
    meanwhile, stopped by another `worker stop`, has stopped, which is what was asked)."""
    if worker_ids is not None:
        if not worker_ids:
            raise InvalidSpec("no worker ids given", field="worker_id")
        known = {w.id for w in store.list_workers()}
        for worker_id in worker_ids:
            if worker_id not in known and not gone_ok:
                raise WorkerNotFound(f"no worker with id {worker_id!r}")
        ids = [i for i in dict.fromkeys(worker_ids) if i in known]
        if not ids:
            return 0
    else:
        ids = [w.id for w in workers(store)]
        if not ids:
            return 0
    return store.request_worker_stop(StopMode.NOW if now else StopMode.GRACEFUL, ids)


def forget_workers(store: Store, worker_ids: Sequence[str]) -> None:
    """Remove workers known to be gone (their process exited) from the registry, so they
    are reported dead at once instead of after their heartbeat goes stale."""
    for worker_id in worker_ids:
        store.unregister_worker(worker_id)


def worker_registered(store: Store, pid: int, host: str | None = None) -> bool:
    """Whether a worker with this pid (on `host`, when given) has registered: what
    `worker start --detach` waits for."""
    return any(w.pid == pid and (host is None or w.host == host) for w in store.list_workers())
