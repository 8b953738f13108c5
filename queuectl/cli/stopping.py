"""`worker stop` on this host: the stop request goes through the service (recorded in the
store, seen by every worker on any host); signalling local workers and waiting for them to
go is the CLI's own business, which is why it lives here and not in the service."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec

from queuectl import service

if TYPE_CHECKING:
    from queuectl.store.base import Store


def _is_queuectl(pid: int) -> bool | None:
    """Whether a local pid still runs queuectl (a dead worker's pid may have been reused;
    a zombie has no command line: it is gone). None where there is no /proc to tell:
    then the database request alone reaches the worker, and its registry row tells."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"queuectl" in handle.read()
    except FileNotFoundError:
        return None if not os.path.isdir("/proc/self") else False
    except OSError:
        return False


class StopReport(msgspec.Struct, frozen=True):
    """What `worker stop` did: ids stopped, found dead (process gone), still running."""

    stopped: list[str]
    dead: list[str]
    remaining: list[str]


def stop_workers(store: Store, now: bool, timeout: float, host: str) -> StopReport:
    """Ask every live worker to stop (through the database, seen on its next heartbeat),
    signal those on this host directly, and wait up to `timeout` seconds for them to go:
    a local worker until its process has exited, a remote one until its registry row is
    gone (or its heartbeat stopped). A local worker whose process is already gone is not
    waited for: it is marked dead (removed from the registry) at once."""
    import contextlib
    import signal
    import time

    workers = service.workers(store)
    local = {w.id: w.pid for w in workers if w.host == host}
    dead = [w.id for w in workers if w.id in local and _is_queuectl(w.pid) is False]
    service.forget_workers(store, dead)
    waiting = [w.id for w in workers if w.id not in dead]
    if waiting:
        service.request_stop(store, waiting, now, gone_ok=True)
    for worker_id in waiting:
        if worker_id in local and _is_queuectl(local[worker_id]):
            # Gone already, or not ours: the database request still reaches it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(local[worker_id], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    remaining = waiting
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {w.id for w in service.workers(store)}
        running = {i: _is_queuectl(local[i]) if i in local else None for i in remaining}
        remaining = [i for i, runs in running.items() if runs or (runs is None and i in alive)]
    # Exited without leaving the registry (killed, or ended by its watchdog).
    gone = set(waiting) - set(remaining)
    service.forget_workers(
        store, [i for i in gone if i in local and _is_queuectl(local[i]) is False]
    )
    stopped = [i for i in waiting if i not in remaining]
    return StopReport(stopped=stopped, dead=dead, remaining=remaining)
