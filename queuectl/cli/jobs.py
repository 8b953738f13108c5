"""Commands on jobs: enqueue, list, show, cancel, purge, update (logs: cli/observe.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from queuectl import service
from queuectl.cli import output, reading
from queuectl.cli.app import completer, listing_options
from queuectl.cli.context import App, pass_app
from queuectl.cli.control import select_jobs, state_option
from queuectl.cli.last_job import last_option, one_job, remember
from queuectl.cli.params import RUN_AT_HELP, Duration, RunAt
from queuectl.cli.spec_arg import (
    caller_directory,
    enqueue_one,
    job_options,
    plain_command,
    read_spec_argument,
)
from queuectl.cli.values import non_negative
from queuectl.cli.watching import watch, watch_option
from queuectl.errors import InvalidSpec
from queuectl.models import AfterMode, JobPage, JobState, ListState
from queuectl.timefmt import iso, parse_duration

STATE_NAMES = [s.value for s in JobState]


class NonNegative(click.ParamType):  # type: ignore[type-arg]
    """A number >= 0 (int or float); Click's own types allow negatives (values.py)."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return non_negative(self.kind, value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def _read_file(path: str) -> str:
    """The bytes of FILE (or stdin), which must be UTF-8 (a leading BOM is allowed)."""
    name = "stdin" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError as err:
        raise InvalidSpec(f"cannot read {name}: {err.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InvalidSpec(
            f"cannot read {name}: line {line}: not valid UTF-8 (byte {err.start})"
        ) from None


class EnqueueCommand(click.Command):
    """`enqueue` with a plain command after `--` (`queuectl enqueue -- make test`): the
    words after the first `--` are the command, everything before it is parsed as usual."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["queuectl.argv"] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)


@click.command(cls=EnqueueCommand)
@click.argument("spec", required=False)
@click.option(
    "--file",
    "-f",
    "file",
    metavar="FILE",
    help="Enqueue many: JSON lines or one JSON array ('-' = stdin).",
)
@click.option("--id", "job_id", help="Job id (default: generated).")
@click.option("--priority", type=int, help="Higher runs first (default 0).")
@click.option("--run-at", type=RunAt(), help=RUN_AT_HELP)
@click.option(
    "--delay", type=Duration(), help="Not before this long from now (seconds, or 90s, 15m, 2h)."
)
@click.option("--timeout", type=Duration(), help="Per attempt (seconds, or 15m, 1h30m; 0 = none).")
@click.option("--max-retries", type=NonNegative(int), help="Retries after the first attempt.")
@click.option(
    "--queue", help="Queue name (default 'default').", shell_complete=completer("complete_queues")
)
@click.option(
    "--cwd",
    metavar="DIR",
    help="Run in DIR (default: the directory you enqueue from, unless the spec names one).",
)
@click.option(
    "--env",
    "env_pairs",
    metavar="NAME[=VALUE]",
    multiple=True,
    help="Set a variable for the job (repeatable; added to the spec's `env`); a NAME alone "
    "copies its value from this shell.",
)
@click.option(
    "--env-all",
    is_flag=True,
    help="Give the job this shell's whole environment (but the worker's own business: "
    "NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*, QUEUECTL_TOKEN); --env adds to it.",
)
@click.option(
    "--after",
    "after_ids",
    metavar="ID[,ID...]",
    multiple=True,
    help="Run only after these jobs (repeatable, or a comma list); see --after-mode.",
)
@click.option(
    "--after-mode",
    type=click.Choice([mode.value for mode in AfterMode]),
    help="completed (default): run once they all completed, and be cancelled if one ends "
    "dead or cancelled; finished: run once they all ended, however they ended.",
)
@click.option(
    "--concurrency-key",
    metavar="KEY",
    help="Jobs sharing KEY never run more at once than its limit (1 unless set with "
    "`queuectl queue set-key`), on any host, whatever their queues.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"ids": [...]}.')
@click.pass_context
def enqueue(
    ctx: click.Context,
    /,
    spec: str | None,
    file: str | None,
    job_id: str | None,
    env_pairs: tuple[str, ...],
    env_all: bool,
    after_ids: tuple[str, ...],
    as_json: bool,
    **options: Any,
) -> None:
    """Add a job: a plain command after --, a JSON SPEC, or many (--file). Prints the
    new job id(s), one per line.

    \b
    queuectl enqueue -- ./build.sh --fast
    queuectl enqueue --queue ci --priority 5 --delay 1m -- 'make && make test'
    queuectl enqueue '{"id":"job1","command":"sleep 2 && echo done"}'
    queuectl enqueue --file jobs.jsonl
    queuectl enqueue --id stitch --after render-1,render-2 -- ./stitch.sh

    A job runs in the directory it was enqueued from (or --cwd, or the spec's `cwd`), with
    the worker's environment plus the spec's `env` and --env. A bulk enqueue is one
    transaction: one bad line and nothing is enqueued.
    """
    app: App = ctx.obj
    app.may_create = True  # adding work may start a new queue
    here = caller_directory()
    try:
        options = job_options(options, env_pairs, env_all, here)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'--env'") from None
    after = [part.strip() for value in after_ids for part in value.split(",") if part.strip()]
    options["after"] = after or None
    argv: list[str] | None = ctx.meta.get("queuectl.argv")
    if options["run_at"] is not None and options["delay"] is not None:
        raise click.UsageError("give --run-at or --delay, not both")
    if sum(x is not None for x in (spec, file, argv)) > 1:
        raise click.UsageError("give one of: a command after --, a SPEC, or --file")
    if file is not None:
        if job_id is not None:
            raise click.UsageError("--id goes with one job, not with --file")
        ids = service.enqueue_bulk(app.store, _read_file(file), options, here)
        output.print_ids(ids, as_json)
        if ids:
            remember(app.db, ids[-1])
        output.warn(f"enqueued {len(ids)} job{'s' if len(ids) != 1 else ''}")
        return
    if argv is not None:
        if not argv:
            raise click.UsageError("missing the command after --")
        data: dict[str, Any] = {"command": plain_command(argv)}
    elif spec is None:
        raise click.UsageError("missing a command (queuectl enqueue -- CMD), a SPEC or --file")
    else:
        data = read_spec_argument(spec)
    enqueue_one(app, data, {**options, "id": job_id}, here, as_json)


class StateList(click.ParamType):  # type: ignore[type-arg]
    """States for a listing: a name, several separated by commas, or "scheduled"."""

    name = "state"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return service.parse_list_states(str(value))
        except InvalidSpec as err:
            self.fail(str(err), param, ctx)


@click.command("list")
@click.option(
    "--state",
    "states",
    type=StateList(),
    multiple=True,
    help="Only jobs in these states (repeatable, or comma-separated: failed,dead; "
    "'scheduled' = pending jobs due later, 'blocked' = pending jobs waiting for jobs they "
    "run after).",
    shell_complete=completer("complete_states", [*STATE_NAMES, "scheduled", "blocked"]),
)
@click.option("--status", "status_alias", type=StateList(), multiple=True, hidden=True)
@click.option(
    "--queue", help="Only jobs of this queue.", shell_complete=completer("complete_queues")
)
@click.option("--search", metavar="TEXT", help="Only jobs whose command contains TEXT.")
@click.option("--id-prefix", metavar="PREFIX", help="Only jobs whose id starts with PREFIX.")
@click.option("--schedule", metavar="NAME", help="Only the runs of schedule NAME.")
@click.option("--oldest", is_flag=True, help="Oldest first (default: newest first).")
@listing_options
@watch_option
@pass_app
def list_(
    app: App,
    states: tuple[tuple[ListState, ...], ...],
    status_alias: tuple[tuple[ListState, ...], ...],
    queue: str | None,
    search: str | None,
    id_prefix: str | None,
    schedule: str | None,
    oldest: bool,
    limit: int,
    as_json: bool,
    wide: bool,
    interval: float | None,
) -> None:
    """List jobs, newest first: today's times as the clock alone, and the QUEUE and RUN AT
    columns only when they tell something (--wide: everything; --watch: redrawn)."""
    if interval is not None and as_json:
        raise click.UsageError("--watch draws a table: not with --json")
    if schedule is not None:
        if id_prefix is not None:
            raise click.UsageError("--schedule or --id-prefix, not both")
        id_prefix = f"{schedule}@"  # a run's id is its schedule's name and due time
    query = reading.list_query((*states, *status_alias), queue, search, id_prefix, oldest, limit)

    def fetch() -> JobPage:
        return reading.fetch_page(app.store, query)  # each frame, as one `list` would

    def show(page: JobPage) -> None:
        reading.print_page(page, query, as_json, wide, app.store)

    if interval is None:
        show(fetch())
    else:
        watch(fetch, show, interval)


@click.command()
@click.argument("job_id", required=False, shell_complete=completer("complete_job_ids"))
@last_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_app
def show(app: App, job_id: str | None, last: bool, as_json: bool) -> None:
    """Every field of a job, and each attempt with its output tail."""
    reading.show_job(app, one_job(app, job_id, last), as_json)


@click.command(params=[state_option(service.CANCELLABLE, "Cancel")])
@click.argument(
    "job_ids", nargs=-1, metavar="[ID]...", shell_complete=completer("complete_job_ids")
)
@click.option(
    "--queue",
    help="Cancel every unfinished job of this queue (or with --state).",
    shell_complete=completer("complete_queues"),
)
@last_option
@click.option("--json", "as_json", is_flag=True, help='Print {"states": {id: state}}.')
@pass_app
def cancel(
    app: App,
    job_ids: tuple[str, ...],
    states: list[JobState],
    queue: str | None,
    last: bool,
    as_json: bool,
) -> None:
    """Cancel jobs: waiting ones at once; a running one is killed by its worker.

    \b
    queuectl cancel job1 job2
    queuectl cancel --last
    queuectl cancel --state pending --queue ci
    """
    if last:
        if job_ids or states or queue is not None:
            raise click.UsageError("give --last alone, not with job IDs, --state or --queue")
        job_ids = (one_job(app, None, last),)
    ids = select_jobs(app, job_ids, states, queue, service.CANCELLABLE)
    done = service.cancel(app.jobs_store, ids) if ids else {}
    if as_json:
        output.echo_json({"states": {job_id: state.value for job_id, state in done.items()}})
    elif not done:
        click.echo("no jobs to cancel")
    for job_id, state in done.items() if not as_json else ():
        note = "cancelled" if state is JobState.CANCELLED else "running; its worker will kill it"
        click.echo(f"{job_id}: {note}")


@click.command(params=[state_option(service.PURGEABLE, "Delete")])
@click.option(
    "--finished",
    is_flag=True,
    help="Delete every finished job: completed, dead and cancelled (--state all three).",
)
@click.option(
    "--older-than", metavar="AGE", help="Only those last updated before AGE ago (30m, 12h, 7d)."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"deleted": N}.')
@pass_app
def purge(
    app: App, states: list[JobState], finished: bool, older_than: str | None, as_json: bool
) -> None:
    """Delete finished jobs and their attempt records."""
    if finished and states:
        raise click.UsageError("give --finished or --state, not both")
    if finished:
        states = list(service.PURGEABLE)
    if not states:
        raise click.UsageError(
            "give --state (completed, dead, cancelled; repeatable or a,b) or --finished"
        )
    age = parse_duration(older_than) if older_than is not None else None
    count = service.purge(app.store, states, age)
    if as_json:
        output.echo_json({"deleted": count})
    else:
        click.echo(f"purged {count} job{'s' if count != 1 else ''}")


@click.command()
@click.argument(
    "job_ids",
    nargs=-1,
    required=True,
    metavar="ID...",
    shell_complete=completer("complete_job_ids"),
)
@click.option("--json", "as_json", is_flag=True, help='Print {"deleted": N}.')
@pass_app
def delete(app: App, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete finished jobs (completed, dead, cancelled) and their attempts: all or none."""
    count = service.delete(app.jobs_store, job_ids)
    if as_json:
        output.echo_json({"deleted": count})
        return
    for job_id in dict.fromkeys(job_ids):
        click.echo(f"{job_id}: deleted")


@click.command(hidden=True)
@click.argument("spec")
@click.option("--run-at", type=RunAt(), help=RUN_AT_HELP)
@click.option("--delay", type=Duration(), help="Due this long from now (90s, 15m, 2h).")
@pass_app
def update(app: App, spec: str, run_at: str | None, delay: float | None) -> None:
    """Edit a job that is not running: SPEC is a JSON object with its id and new fields;
    --run-at and --delay set its `run_at`.

    \b
    queuectl update '{"id":"job1","priority":9}'
    queuectl update '{"id":"job1","state":"pending"}'    # requeue it
    queuectl update '{"id":"job1"}' --run-at 'tomorrow 09:00'
    """
    if run_at is not None and delay is not None:
        raise click.UsageError("give --run-at or --delay, not both")
    if delay is not None:
        import time

        run_at = iso(time.time() + delay)
    job = service.update(app.store, spec, {"run_at": run_at} if run_at is not None else None)
    click.echo(f"{job.id}: {job.state.value}")
