"""A fast path for the two commands scripts call in loops: `queuectl enqueue SPEC` and
`queuectl status --json`, without importing Click (a third of their start-up).

It recognises only the plain forms (a `--db URL` before or after the command name being
the one option besides `--json`); anything else, `--help` included, returns None and the
Click app handles it. What it prints, and every error, is what the Click path prints:
both call the same service functions, and errors go through the same one-line `fail`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def parse(argv: Sequence[str]) -> tuple[str, str | None, str | None] | None:
    """(command, db, spec) for argv the fast path handles, else None. `db` is the last
    --db given, else QUEUECTL_DB (empty = unset, as in Click)."""
    db: str | None = os.environ.get("QUEUECTL_DB") or None
    words: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--db":
            if not args:
                return None
            db = args.pop(0)
        elif arg.startswith("--db="):
            db = arg[len("--db=") :]
        else:
            words.append(arg)
    if len(words) == 2 and words[0] == "enqueue" and not words[1].startswith("-"):
        return "enqueue", db, words[1]
    if words == ["status", "--json"]:
        return "status", db, None
    return None


def run(argv: Sequence[str]) -> bool:
    """Run argv if the fast path handles it (exiting on error); False to use Click."""
    parsed = parse(argv)
    if parsed is None:
        return False
    command, db, spec = parsed
    _import_msgspec_lean()
    from queuectl.cli.errors import fail, silence_stdout
    from queuectl.errors import QueueError

    try:
        if command == "enqueue":
            assert spec is not None
            _enqueue(db, spec)
        else:
            _status(db)
        sys.stdout.flush()
    except QueueError as err:
        fail(str(err), 1)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach the database driver
        fail("arguments must be valid UTF-8 text", 1)
    except BrokenPipeError:
        silence_stdout()
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
    return True


def _import_msgspec_lean() -> None:
    """Import msgspec without typing_extensions, when that is installed (other packages
    bring it): msgspec imports it only to understand that module's own types, which
    queuectl's structs do not use, and it costs 10 ms of inspect, ast and dis. Only in
    these short processes: `serve` imports Litestar, whose types need it."""
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # import fails
    try:
        import msgspec  # noqa: F401
    finally:
        del sys.modules["typing_extensions"]  # a later import finds it as usual


_NO_OPTIONS = {
    "priority": None,
    "run_at": None,
    "delay": None,
    "timeout": None,
    "max_retries": None,
    "queue": None,
    "id": None,
    "cwd": None,
    "env": None,
}


def _enqueue(db: str | None, spec: str) -> None:
    from queuectl.cli.spec_arg import caller_directory, job_from_argument, read_spec_argument
    from queuectl.service.enqueue import enqueue
    from queuectl.store import open_store

    job = job_from_argument(read_spec_argument(spec), _NO_OPTIONS, caller_directory())
    store = open_store(db, shared=True)
    try:
        job_id = enqueue(store, [job])[0]
    finally:
        store.close()
    sys.stdout.write(f"{job_id}\n")
    from queuectl.cli.last_job import remember

    remember(db, job_id)


def _status(db: str | None) -> None:
    import json

    from queuectl.serialize import status_dict
    from queuectl.service.leases import reap_expired
    from queuectl.service.status import status
    from queuectl.store import open_store

    store = open_store(db, create=False, shared=True)
    try:
        reap_expired(store)  # as `status` does: no job shows processing for a dead worker
        report = status(store)
    finally:
        store.close()
    sys.stdout.write(json.dumps(status_dict(report), indent=2, ensure_ascii=False) + "\n")
