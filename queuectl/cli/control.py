"""Commands that steer jobs and queues: retry (requeue finished jobs), wait, pause, resume."""

from __future__ import annotations

import click

from queuectl import service
from queuectl.cli import output
from queuectl.cli.app import App, pass_app
from queuectl.models import JobState


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
    return service.ids_in_states(app.store, states, allowed, queue)


@click.command(params=[state_option(service.REQUEUEABLE, "Retry")])
@click.argument("job_ids", nargs=-1, metavar="[ID]...")
@click.option("--queue", help="Only jobs of this queue (with --state).")
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
    requeued = service.requeue(app.store, ids) if ids else []
    if as_json:
        output.echo_json({"ids": requeued})
    elif not requeued:
        click.echo("no jobs to retry")
    else:
        click.echo("\n".join(f"{job_id}: pending" for job_id in requeued))
