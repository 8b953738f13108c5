"""`queuectl schedule`: recurring jobs on a cron expression or an interval, kept in the
database and run by whichever workers are running (queuectl/schedules.py has the rules)."""

from __future__ import annotations

from typing import Any

import click

from queuectl import serialize
from queuectl.cli import output
from queuectl.cli.context import App, pass_app
from queuectl.cli.jobs import EnqueueCommand, NonNegative
from queuectl.cli.params import Duration
from queuectl.cli.spec_arg import (
    caller_directory,
    job_from_argument,
    plain_command,
    read_spec_argument,
)
from queuectl.schedules import CatchUp


@click.group()
def schedule() -> None:
    """Recurring jobs: each run is an ordinary job (retries, timeouts, DLQ, logs).

    \b
    queuectl schedule add nightly --cron '0 2 * * *' --tz Europe/Paris -- ./backup.sh
    queuectl schedule add sync --every 15m -- ./sync.sh
    queuectl schedule list
    """


@schedule.command("add", cls=EnqueueCommand)
@click.argument("name")
@click.argument("spec", required=False)
@click.option("--cron", metavar="EXPR", help="Five crontab fields: '0 2 * * *' is 02:00 daily.")
@click.option("--every", type=Duration(), help="An interval instead (30s, 15m, 1h; at least 1s).")
@click.option("--tz", default="UTC", show_default=True, help="The zone of --cron's times.")
@click.option(
    "--catch-up",
    type=click.Choice([c.value for c in CatchUp]),
    default=CatchUp.LATEST.value,
    show_default=True,
    help="Runs missed while no worker ran: the latest only, all of them, or none.",
)
@click.option("--no-overlap", is_flag=True, help="Skip a run while the previous one waits or runs.")
@click.option("--queue", help="Queue of its runs.")
@click.option("--priority", type=int, help="Priority of its runs.")
@click.option("--timeout", type=Duration(), help="Per attempt of each run.")
@click.option("--max-retries", type=NonNegative(int), help="Retries of each run.")
@click.option("--cwd", metavar="DIR", help="Where its runs run (default: here).")
@click.option("--json", "as_json", is_flag=True, help="Print the schedule as JSON.")
@click.pass_context
def add(
    ctx: click.Context,
    /,
    name: str,
    spec: str | None,
    cron: str | None,
    every: float | None,
    tz: str,
    catch_up: str,
    no_overlap: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Add a schedule NAME for a plain command after -- (or a JSON job SPEC)."""
    from queuectl.service import schedules
    from queuectl.service.enqueue import spec_fields

    app: App = ctx.obj
    app.may_create = True
    argv: list[str] | None = ctx.meta.get("queuectl.argv")
    if (spec is None) == (argv is None or not argv):
        raise click.UsageError("give a command after -- or a JSON SPEC (one of them)")
    data = {"command": plain_command(argv)} if argv else read_spec_argument(spec or "")
    job = job_from_argument(data, {**options, "id": None}, caller_directory())
    fields = spec_fields(job)
    added = schedules.add(
        app.store,
        name,
        fields,
        cron=cron,
        every=every,
        tz=tz,
        catch_up=CatchUp(catch_up),
        no_overlap=no_overlap,
    )
    view = schedules.view(app.store, added)
    if as_json:
        output.echo_json(serialize.schedule_dict(view))
        return
    click.echo(f"schedule {name}: {view.words}; next run {output.when(view.upcoming[0])}")


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_app
def list_(app: App, as_json: bool) -> None:
    """Every schedule: its timing, next run, and latest run with its state."""
    from queuectl.service import schedules

    views = schedules.list_all(app.store)
    if as_json:
        output.echo_json([serialize.schedule_dict(view) for view in views])
        return
    if not views:
        click.echo("no schedules")
        return
    rows = []
    for view in views:
        s = view.schedule
        last = "-" if s.last_job is None else f"{s.last_job} ({view.last_state or 'deleted'})"
        next_run = "paused" if s.paused else output.when(view.upcoming[0])
        rows.append([s.name, s.cron or view.words, s.tz, next_run, last])
    output.print_table(None, ["NAME", "WHEN", "ZONE", "NEXT RUN", "LAST RUN"], rows)


@schedule.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_app
def show(app: App, name: str, as_json: bool) -> None:
    """A schedule: its timing in words, its next runs and its recent runs."""
    from queuectl.service import schedules

    view = schedules.view(app.store, schedules.get(app.store, name), upcoming=5)
    recent = schedules.runs(app.store, name)
    if as_json:
        found = serialize.schedule_dict(view)
        output.echo_json({**found, "runs": [serialize.job_dict(job) for job in recent]})
        return
    s = view.schedule
    click.echo(f"{'name:':<12}{s.name}")
    click.echo(f"{'when:':<12}{s.cron + ' = ' if s.cron else ''}{view.words}")
    click.echo(f"{'catch-up:':<12}{s.catch_up}{', no overlap' if s.no_overlap else ''}")
    click.echo(f"{'command:':<12}{output.plain_text(str(s.spec.get('command', '')))}")
    if s.paused:
        click.echo(f"{'paused:':<12}yes (queuectl schedule resume {s.name})")
    if s.skipped:
        click.echo(f"{'skipped:':<12}{s.skipped} run(s)")
    click.echo("next runs:  " + ", ".join(output.when(at) for at in view.upcoming))
    output.print_jobs(recent, False, title="Recent runs")


@schedule.command("pause")
@click.argument("name")
@pass_app
def pause(app: App, name: str) -> None:
    """Enqueue no more runs of NAME until it is resumed."""
    from queuectl.service import schedules

    schedules.set_paused(app.store, name, True)
    click.echo(f"schedule {name}: paused")


@schedule.command("resume")
@click.argument("name")
@pass_app
def resume(app: App, name: str) -> None:
    """Run NAME again; runs missed while it was paused follow its catch-up rule."""
    from queuectl.service import schedules

    schedules.set_paused(app.store, name, False)
    click.echo(f"schedule {name}: resumed")


@schedule.command("remove")
@click.argument("name")
@pass_app
def remove(app: App, name: str) -> None:
    """Forget NAME (its runs so far stay, as ordinary jobs)."""
    from queuectl.service import schedules

    schedules.remove(app.store, name)
    click.echo(f"schedule {name}: removed")


@schedule.command("run")
@click.argument("name")
@pass_app
def run(app: App, name: str) -> None:
    """Enqueue one run of NAME now, beside its own runs; prints its job id."""
    from queuectl.service import schedules

    click.echo(schedules.run_now(app.store, name))
