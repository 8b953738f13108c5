"""`--last`: the job last enqueued from this machine, per database, else the newest job.

`enqueue` remembers the id it printed in a small JSON file in the user's state directory
($XDG_STATE_HOME, else ~/.local/state), keyed by the database it went to, so `queuectl
logs --last` right after `queuectl enqueue -- make` reads that job's output even when
other users or machines enqueue into the same database. Remembering is best effort: an
unwritable state directory never fails an enqueue; `--last` then takes the newest job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from queuectl.cli.context import App
    from queuectl.store import Store

F = TypeVar("F", bound=Callable[..., Any])
REMEMBERED_DATABASES = 64  # the file keeps the most recent ones, so it stays small
LAST_HELP = (
    "The job last enqueued from this machine into this database (remembered in "
    "$XDG_STATE_HOME/queuectl, else ~/.local/state/queuectl), or else the newest job."
)


def last_option(command: F) -> F:
    """--last, the same on every command that takes a job id."""
    import click  # not at the top: the fast `enqueue` path remembers without Click

    return click.option("--last", is_flag=True, help=LAST_HELP)(command)


def state_file() -> str:
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.expanduser("~/.local/state")
    return os.path.join(base, "queuectl", "last-enqueued.json")


def database_key(db: str | None) -> str:
    """The database as resolved for opening it, as database_identity names it: a SQLite
    file's absolute path (the same file from any directory), a server's URL without its
    password (which must never reach the state file)."""
    from queuectl.store.opening import database_identity, resolve_url

    return database_identity(resolve_url(db))


def remember(db: str | None, job_id: str) -> None:
    """Record `job_id` as the last one enqueued into `db` (best effort, atomic)."""
    path = state_file()
    try:
        remembered = _read(path)
        remembered.pop(key := database_key(db), None)
        remembered[key] = job_id
        kept = dict(list(remembered.items())[-REMEMBERED_DATABASES:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"  # renamed over the file: readers see all or none
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(kept, handle)
        os.replace(temp, path)
    except OSError:
        return


def _read(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def last_job_id(store: Store, db: str | None) -> str:
    """The remembered job of `db` if it still exists, else the newest job."""
    from queuectl import service
    from queuectl.errors import JobNotFound
    from queuectl.models import JobQuery

    remembered = _read(state_file()).get(database_key(db))
    if remembered is not None and store.get_job(remembered) is not None:
        return remembered
    page = service.list_jobs(store, JobQuery(order="newest", limit=1))
    if not page.jobs:
        raise JobNotFound("--last: there are no jobs")
    return page.jobs[0].id


def one_job(app: App, job_id: str | None, last: bool) -> str:
    """The job a one-job command acts on: its ID argument, or --last (the database is
    opened only for --last, after the usage is checked). The fast path calls it with
    exactly one of them, so Click loads only to report a usage error."""
    if job_id is not None and not last:
        return job_id
    if last and job_id is None:
        return last_job_id(app.jobs_store, app.db)
    import click

    if job_id is not None:
        raise click.UsageError("give a job ID or --last, not both")
    raise click.UsageError("missing a job ID (or --last)")
