"""One process of a worker supervisor (supervisor.py): forked from it (worker_members.py)
or `python -m queuectl.worker_process SPEC`, the database in $QUEUECTL_DB.

It runs a Worker with its share of the slots under the supervisor's worker id (leases,
heartbeats, stop and cancel orders are per worker id, so they work as they do for one
process), logs to stderr in the supervisor's style (the supervisor forwards the lines to
its one log) and reports on a pipe (worker_link.py). It dies with its supervisor, as a
worker's slots would: a SIGKILL to the worker leaves its jobs to the lease rules.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent (the supervisor) exits; exit now if it has
    already (then this process was handed to another)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's stop still reaches us
        pass
    if os.getppid() != parent:
        sys.exit(1)


def main(argv: list[str]) -> int:
    return run(json.loads(argv[1]), os.environ.get("QUEUECTL_DB"))


def preload() -> None:
    """Import what `run` needs (a supervisor does, before it forks its processes)."""
    import queuectl.cli.worker_log
    import queuectl.worker
    import queuectl.worker_link  # noqa: F401


def run(spec: dict[str, Any], url: str | None) -> int:
    """Run the Worker of `spec` (from supervisor.py) until it ends; its exit code."""
    die_with_parent(int(spec["parent"]))
    from queuectl.cli.worker_log import configure_like
    from queuectl.errors import QueueError
    from queuectl.held_log import held_lines
    from queuectl.worker import Worker
    from queuectl.worker_link import SupervisorLink
    from queuectl.worker_options import WorkerOptions

    configure_like(spec["log"])
    options = WorkerOptions(
        slots=int(spec["slots"]),
        queues=spec["queues"],
        burst=bool(spec["burst"]),
        host=str(spec["host"]),
        worker_id=str(spec["id"]),
        report_fd=int(spec["report_fd"]),
        worker_slots=int(spec["worker_slots"]),
    )
    assert options.report_fd is not None
    try:
        return Worker(url, options).run()
    except QueueError as err:
        SupervisorLink(options.report_fd).failed(str(err))
        return 1
    finally:
        if (held := held_lines()) is not None:
            held.flush()  # before any traceback Python prints: these lines came first


if __name__ == "__main__":
    sys.exit(main(sys.argv))
