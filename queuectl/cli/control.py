"""Commands that steer jobs and queues: retry (requeue finished jobs), wait, pause, resume."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from queuectl import service
from queuectl.cli import output
from queuectl.cli.app import completer
from queuectl.cli.context import App, pass_app
from queuectl.cli.last_job import last_option, one_job
from queuectl.cli.params import Duration
from queuectl.models import FINAL_STATES, JobState, Requeued
from queuectl.service.leases import reap_expired

if TYPE_CHECKING:
    from queuectl.store.base import Store


def state_option(allowed: tuple[JobState, ...], what: str) -> click.Option:
    """`--state S`, repeatable or comma-separated, limited to `allowed`."""
    names = [s.value for s in allowed]

    def parse(
        ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
    ) -> list[JobState]:
        chosen: list[JobState] = []
        for value in values:
            for name in filter(None, (part.strip().lower() for part in value.split(","))):
                if name not in names:
                    raise click.BadParameter(f"{name!r} is not one of {', '.join(names)}")
                chosen.append(JobState(name))
        return list(dict.fromkeys(chosen))

    return click.Option(
        ["--state", "states"],
        multiple=True,
        metavar="STATE",
        callback=parse,
        shell_complete=completer("complete_states", names),
        help=f"{what} every job in STATE ({', '.join(names)}; repeatable or a,b).",
    )


def select_jobs(
    app: App,
    job_ids: tuple[str, ...],
    states: list[JobState],
    queue: str | None,
    allowed: tuple[JobState, ...],
) -> list[str]:
    """The jobs a many-jobs command acts on: IDs, or every job in --state / --queue."""
    if job_ids and (states or queue):
        raise click.UsageError("give job IDs or --state/--queue, not both")
    if job_ids:
        return list(job_ids)
    if not states and queue is None:
        raise click.UsageError("give job IDs, --state or --queue")
    return service.ids_in_states(app.jobs_store, states, allowed, queue)


@click.command(params=[state_option(service.REQUEUEABLE, "Retry")])
@click.argument(
    "job_ids", nargs=-1, metavar="[ID]...", shell_complete=completer("complete_job_ids")
)
@click.option(
    "--queue",
    help="Only jobs of this queue (with --state).",
    shell_complete=completer("complete_queues"),
)
@click.option("--json", "as_json", is_flag=True, help='Print {"ids": [...]}.')
@pass_app
def retry(
    app: App, job_ids: tuple[str, ...], states: list[JobState], queue: str | None, as_json: bool
) -> None:
    """Run finished jobs again from scratch: pending, attempts reset (any of completed,
    failed, dead, cancelled). All or none.

    \b
    queuectl retry job1 job2
    queuectl retry --state failed,dead --queue ci
    """
    if not job_ids and not states:
        raise click.UsageError("give job IDs or --state")
    ids = select_jobs(app, job_ids, states, queue, service.REQUEUEABLE)
    requeued = service.requeue(app.jobs_store, ids) if ids else Requeued([])
    if as_json:
        output.echo_json({"ids": list(requeued), "brought_back": requeued.brought_back})
    elif not requeued:
        click.echo("no jobs to retry")
    else:
        click.echo("\n".join(f"{job_id}: pending" for job_id in requeued))
        output.say_brought_back(requeued.brought_back)


UNFINISHED = (JobState.PENDING, JobState.PROCESSING, JobState.FAILED)
WAIT_TIMED_OUT = 124  # as timeout(1)


@click.command()
@click.argument(
    "job_ids", nargs=-1, metavar="[ID]...", shell_complete=completer("complete_job_ids")
)
@click.option(
    "--queue",
    help="Wait for the jobs of this queue only.",
    shell_complete=completer("complete_queues"),
)
@click.option(
    "--timeout",
    "limit",
    type=Duration(),
    help=f"Give up after this long (30s, 15m, 2h) and exit {WAIT_TIMED_OUT}.",
)
@last_option
@pass_app
def wait(
    app: App, job_ids: tuple[str, ...], queue: str | None, limit: float | None, last: bool
) -> None:
    """Block until those jobs (default: every job not yet finished) have finished.

    Prints how many it waits for, then each job as it finishes. Exits 0 if every one
    completed, 1 if any ended dead or cancelled (or was deleted), and 124 after --timeout.
    Jobs enqueued while it waits are not waited for.
    """
    if last and (job_ids or queue is not None):
        raise click.UsageError("give --last alone, not with job IDs or --queue")
    if job_ids and queue is not None:
        raise click.UsageError("give job IDs or --queue, not both")
    store = app.jobs_store
    if last:
        job_ids = (one_job(app, None, last),)
    if job_ids:
        ids = list(dict.fromkeys(job_ids))
        for job_id in ids:
            service.get_job(store, job_id)  # an unknown id is an error, at once
    else:
        ids = service.ids_in_states(store, [], UNFINISHED, queue)
    click.echo(f"waiting for {len(ids)} job{'s' if len(ids) != 1 else ''}")
    sys.stdout.flush()
    _warn_if_unserved(store, ids)
    ended = _wait_until_final(app, ids, limit)
    failed = [f"{job_id} ({state})" for job_id, state in ended.items() if state != "completed"]
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(ended)} jobs did not complete: {', '.join(failed)}"
        )
    click.echo(f"{len(ended)} job{'s' if len(ended) != 1 else ''} completed")


def _warn_if_unserved(store: Store, ids: list[str]) -> None:
    """Say so when no live worker serves a queue of the jobs waited on: the wait would
    last until one is started."""
    queues = {job.queue for job in map(store.get_job, ids[:1000]) if job is not None}
    alive = service.workers(store, include_dead=False)
    served = set().union(*(w.queues for w in alive))
    everything = any(not w.queues for w in alive)
    unserved = sorted(q for q in queues if not everything and q not in served)
    if unserved:
        names = ", ".join(unserved[:5]) + (", ..." if len(unserved) > 5 else "")
        output.warn(
            f"no live worker serves queue {names}: waiting until one does (queuectl worker start)"
        )


class WaitTimedOut(click.ClickException):
    exit_code = WAIT_TIMED_OUT


def _wait_until_final(app: App, ids: list[str], limit: float | None) -> dict[str, str]:
    """Each job's final state (or "deleted"), in `ids` order, sleeping on the store's
    change waiter between looks (with a look every second, in case a wake-up is missed)."""
    store = app.store
    deadline = None if limit is None else time.monotonic() + limit
    ended: dict[str, str] = {}
    remaining = list(ids)
    waiter = store.change_waiter()
    try:
        while True:
            for job_id in remaining:
                job = store.get_job(job_id)
                if job is None:
                    ended[job_id] = "deleted"
                elif job.state in FINAL_STATES:
                    ended[job_id] = job.state.value
                else:
                    continue
                click.echo(f"{job_id}: {ended[job_id]}")
                sys.stdout.flush()
            remaining = [job_id for job_id in remaining if job_id not in ended]
            if not remaining:
                return {job_id: ended[job_id] for job_id in ids}
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                shown = ", ".join(remaining[:5]) + (", ..." if len(remaining) > 5 else "")
                raise WaitTimedOut(
                    f"timed out: {len(remaining)} job{'s' if len(remaining) != 1 else ''} "
                    f"not finished ({shown})"
                )
            waiter.wait(1.0 if left is None else min(1.0, left))
            reap_expired(store)  # a worker that dies while we wait: its jobs go on
    finally:
        waiter.close()


PAUSED_JSON = click.option(
    "--json", "as_json", is_flag=True, help='Print {"paused": [...]}, every paused queue after.'
)


@click.command()
@click.argument(
    "queues", nargs=-1, metavar="[QUEUE]...", shell_complete=completer("complete_queues")
)
@PAUSED_JSON
@pass_app
def pause(app: App, queues: tuple[str, ...], as_json: bool) -> None:
    """Stop workers (on every host) from starting jobs of these queues (default: of every
    queue) until `queuectl resume`; running jobs go on."""
    _print_paused(service.pause(app.store, queues), as_json)


@click.command()
@click.argument(
    "queues", nargs=-1, metavar="[QUEUE]...", shell_complete=completer("complete_queues")
)
@PAUSED_JSON
@pass_app
def resume(app: App, queues: tuple[str, ...], as_json: bool) -> None:
    """Let workers start jobs of these paused queues again (default: resume them all)."""
    _print_paused(service.resume(app.store, queues), as_json)


def _print_paused(paused: list[str], as_json: bool) -> None:
    if as_json:
        output.echo_json({"paused": paused})
    elif not paused:
        click.echo("no queue is paused")
    elif service.EVERY_QUEUE in paused:
        click.echo("paused: every queue")
    else:
        click.echo(f"paused: {', '.join(paused)}")
