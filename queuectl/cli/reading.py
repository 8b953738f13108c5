"""What `list`, `show`, `logs` and `status` do once their arguments are read, without
Click: the Click commands (jobs.py, observe.py, admin.py) and the fast path (fast.py)
both call these, so the two print the same bytes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

from queuectl import service
from queuectl.cli import output
from queuectl.models import JobPage, JobQuery, ListState

if TYPE_CHECKING:
    from queuectl.cli.context import App
    from queuectl.store import Store


def list_query(
    states: Sequence[Sequence[ListState]],
    queue: str | None,
    search: str | None,
    id_prefix: str | None,
    oldest: bool,
    limit: int,
) -> JobQuery:
    """The query `list` asks: each --state gives one or more states (`failed,dead`)."""
    chosen = tuple(dict.fromkeys(state for group in states for state in group))
    order = "oldest" if oldest else "newest"
    return JobQuery(
        states=chosen, queue=queue, search=search, id_prefix=id_prefix, order=order, limit=limit
    )


def fetch_page(store: Store, query: JobQuery) -> JobPage:
    """One listing (one frame of --watch): jobs of dead workers first failed back to their
    retry rules, as every command that reads jobs does."""
    from queuectl.service.leases import reap_expired

    reap_expired(store)
    return service.list_jobs(store, query, max_limit=None)


def print_page(
    page: JobPage, query: JobQuery, as_json: bool, wide: bool, store: Store | None = None
) -> None:
    """The page; with --json each job says why it waits when a limit holds it back
    (read from `store`)."""
    held = None
    if as_json and store is not None and page.jobs:
        from queuectl.service.limits import waiting_reasons

        held = waiting_reasons(store, page.jobs)
    output.print_jobs(page.jobs, as_json, wide=wide, held_back=held)
    if not as_json and page.next_cursor is not None:
        output.warn(f"(showing the {query.order} {query.limit}; use --limit 0 for all)")


def print_status(app: App, queue: str | None, as_json: bool) -> None:
    """`status` once: a warning first if the database would lose acknowledged jobs."""
    app.warn_if_not_durable()
    output.print_status(service.status(app.jobs_store, queue), as_json)


def show_job(app: App, job_id: str, as_json: bool) -> None:
    from queuectl.service.limits import waiting_reasons

    job, attempts = service.job_details(app.jobs_store, job_id)
    held = waiting_reasons(app.jobs_store, [job]).get(job.id)
    output.print_job(job, attempts, as_json, service.job_links(app.jobs_store, job_id), held)


def print_logs(
    app: App, job_id: str, attempt: int | None, lines: int | None, as_json: bool
) -> None:
    """An attempt's output (the last by default): stdout here, stderr on stderr, or both
    in one JSON object; `lines`: only the last so many of each stream."""
    import msgspec

    from queuectl.errors import JobNotFound
    from queuectl.service import observe

    out = observe.attempt_output(app.jobs_store, job_id, attempt)
    if as_json:
        from queuectl import serialize

        shown = msgspec.structs.replace(
            out, stdout=last_lines(out.stdout, lines), stderr=last_lines(out.stderr, lines)
        )
        output.echo_json(serialize.output_dict(shown))
        return
    if out.attempt is None:
        raise JobNotFound(f"job {job_id!r} has not run yet")
    write_bytes(sys.stdout.buffer, last_lines(out.stdout, lines))
    write_bytes(sys.stderr.buffer, last_lines(out.stderr, lines))
    if out.running and not out.stdout and not out.stderr:
        output.echo(
            f"queuectl: job {job_id} (attempt {out.attempt}) is running and has shown no "
            "output yet (its worker shares output about once a second; see --follow)",
            err=True,
        )


def last_lines(data: bytes, count: int | None) -> bytes:
    if count is None:
        return data
    if count == 0:
        return b""
    return b"".join(data.splitlines(keepends=True)[-count:])


def write_bytes(stream: BinaryIO, data: bytes) -> None:
    if data:
        stream.write(data)
        stream.flush()
