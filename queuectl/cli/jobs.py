"""Commands on jobs: enqueue, list, show, logs, cancel, purge, update."""

from __future__ import annotations

import math
import sys
from typing import Any

import click

from queuectl import service
from queuectl.cli import output
from queuectl.cli.app import App, listing_options, pass_app
from queuectl.errors import InvalidSpec
from queuectl.models import JobState
from queuectl.spec import load_json, parse_job_lines
from queuectl.timefmt import parse_duration, parse_time

STATE_NAMES = [s.value for s in JobState]


class NonNegative(click.ParamType):  # type: ignore[type-arg]
    """A number >= 0 (int or float); Click's own types allow negatives."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a valid {self.name}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite {self.name}", param, ctx)
        if number < 0:
            self.fail(f"{value!r} must not be negative", param, ctx)
        return number


def _read_spec(text: str) -> dict[str, Any]:
    data = load_json(text)
    if not isinstance(data, dict):
        raise InvalidSpec('a job spec must be a JSON object, e.g. \'{"command": "echo hi"}\'')
    return data


def _read_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as err:
        raise InvalidSpec(f"cannot read {path}: {err.strerror}") from None


@click.command()
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
@click.option("--run-at", help="Not before this ISO 8601 time (naive = UTC).")
@click.option("--delay", type=NonNegative(float), help="Not before this many seconds from now.")
@click.option("--timeout", type=NonNegative(float), help="Seconds per attempt (0 = none).")
@click.option("--max-retries", type=NonNegative(int), help="Retries after the first attempt.")
@click.option("--queue", help="Queue name (default 'default').")
@pass_app
def enqueue(
    app: App,
    /,
    spec: str | None,
    file: str | None,
    job_id: str | None,
    **options: Any,
) -> None:
    """Add a job (SPEC is a JSON object) or many (--file); prints the new job id(s).

    \b
    queuectl enqueue '{"id":"job1","command":"sleep 2 && echo done"}'
    queuectl enqueue '{"command":"make test"}' --priority 5 --delay 60
    queuectl enqueue --file jobs.jsonl

    A bulk enqueue is one transaction: one bad line and nothing is enqueued.
    """
    if options["run_at"] is not None and options["delay"] is not None:
        raise click.UsageError("give --run-at or --delay, not both")
    if options["run_at"] is not None:
        parse_time(options["run_at"])  # reject a bad time before reading any input
    if file is not None:
        if spec is not None or job_id is not None:
            raise click.UsageError("give a SPEC or --file, not both (and --id only with a SPEC)")
        located = parse_job_lines(_read_file(file))
        if any(v is not None for v in options.values()):
            located = [
                (w, service.spec_with_overrides(_job_as_spec(j), options)) for w, j in located
            ]
        count = len(service.enqueue_located(app.store, located))
        click.echo(f"enqueued {count} job{'s' if count != 1 else ''}")
        return
    if spec is None:
        raise click.UsageError("missing SPEC (a JSON job spec) or --file")
    job = service.spec_with_overrides(_read_spec(spec), {**options, "id": job_id})
    click.echo(service.enqueue(app.store, [job])[0])


def _job_as_spec(job: Any) -> dict[str, Any]:
    """A validated NewJob back as spec fields, so options can override them."""
    fields = {
        "id": job.id,
        "command": job.command,
        "queue": job.queue,
        "priority": job.priority,
        "max_retries": job.max_retries,
        "timeout": job.timeout,
        "delay": job.delay or None,
    }
    if job.run_at is not None:
        from queuectl.timefmt import iso

        fields["run_at"] = iso(job.run_at)
    return {k: v for k, v in fields.items() if v is not None}


@click.command("list")
@click.option(
    "--state", type=click.Choice(STATE_NAMES, case_sensitive=False), help="Only jobs in this state."
)
@click.option(
    "--status", "status_alias", type=click.Choice(STATE_NAMES, case_sensitive=False), hidden=True
)
@click.option("--queue", help="Only jobs of this queue.")
@listing_options
@pass_app
def list_(
    app: App,
    state: str | None,
    status_alias: str | None,
    queue: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List jobs, newest first."""
    chosen = state or status_alias
    wanted = JobState(chosen.lower()) if chosen else None
    # One more than asked tells whether the list was cut.
    jobs = app.store.list_jobs(state=wanted, queue=queue, limit=limit + 1 if limit else None)
    output.print_jobs(jobs[:limit] if limit else jobs, as_json)
    if not as_json and limit and len(jobs) > limit:
        output.warn(f"(showing the newest {limit}; use --limit 0 for all)")


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_app
def show(app: App, job_id: str, as_json: bool) -> None:
    """Every field of a job, and each attempt with its output tail."""
    job, attempts = service.job_details(app.store, job_id)
    output.print_job(job, attempts, as_json)


@click.command()
@click.argument("job_id")
@click.option("--attempt", type=NonNegative(int), help="This attempt instead of the last.")
@pass_app
def logs(app: App, job_id: str, attempt: int | None) -> None:
    """The captured output of a job's last attempt: its stdout here, its stderr on stderr."""
    record = service.last_attempt(app.store, job_id, attempt)
    sys.stdout.buffer.write(record.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(record.stderr)
    sys.stderr.flush()


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="ID...")
@pass_app
def cancel(app: App, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs: waiting ones at once; a running one is killed by its worker."""
    for job_id, state in service.cancel(app.store, job_ids).items():
        note = "cancelled" if state is JobState.CANCELLED else "running; its worker will kill it"
        click.echo(f"{job_id}: {note}")


@click.command()
@click.option(
    "--state",
    "states",
    multiple=True,
    required=True,
    type=click.Choice([s.value for s in service.PURGEABLE], case_sensitive=False),
    help="Delete jobs in this final state (repeatable).",
)
@click.option(
    "--older-than", metavar="AGE", help="Only those last updated before AGE ago (30m, 12h, 7d)."
)
@pass_app
def purge(app: App, states: tuple[str, ...], older_than: str | None) -> None:
    """Delete finished jobs and their attempt records."""
    age = parse_duration(older_than) if older_than is not None else None
    count = service.purge(app.store, [JobState(s.lower()) for s in states], age)
    click.echo(f"purged {count} job{'s' if count != 1 else ''}")


@click.command(hidden=True)
@click.argument("spec")
@pass_app
def update(app: App, spec: str) -> None:
    """Edit a job that is not running: SPEC is a JSON object with its id and new fields.

    \b
    queuectl update '{"id":"job1","priority":9}'
    queuectl update '{"id":"job1","state":"pending"}'    # requeue it
    """
    job = service.update(app.store, spec)
    click.echo(f"{job.id}: {job.state.value}")
