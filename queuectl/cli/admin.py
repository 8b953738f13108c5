"""Commands around the jobs: status, the DLQ, config, the database, and old spellings."""

from __future__ import annotations

import click

from queuectl import service
from queuectl.cli import output, reading
from queuectl.cli.app import completer, hidden_alias, listing_options
from queuectl.cli.completion import complete_config_keys
from queuectl.cli.context import App, pass_app
from queuectl.cli.observe import dlq_groups
from queuectl.cli.watching import watch, watch_option
from queuectl.config import KEYS
from queuectl.service.leases import reap_expired
from queuectl.timefmt import parse_duration


@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"jobs": {state: n}, "workers": [...]}.'
)
@click.option(
    "--queue",
    help="Only this queue: its jobs, and the workers serving it.",
    shell_complete=completer("complete_queues"),
)
@watch_option
@pass_app
def status(app: App, as_json: bool, queue: str | None, interval: float | None) -> None:
    """Jobs per state, jobs scheduled for later, paused queues and the workers alive
    (--watch: redrawn until Ctrl-C)."""
    if interval is not None and as_json:
        raise click.UsageError("--watch draws a table: not with --json")
    if interval is None:
        reading.print_status(app, queue, as_json)
        return
    app.warn_if_not_durable()

    def fetch() -> service.Status:
        reap_expired(app.store)  # each frame, as one `status` would
        return service.status(app.store, queue)

    watch(fetch, lambda report: output.print_status(report, as_json=False), interval)


# -- dlq ----------------------------------------------------------------------------------


@click.group()
def dlq() -> None:
    """The dead letter queue: jobs that used up their retries."""


@dlq.command("list")
@listing_options
@pass_app
def dlq_list(app: App, limit: int, as_json: bool, wide: bool) -> None:
    """List dead jobs, newest first."""
    page = service.list_dead(app.store, limit=limit, max_limit=None)
    output.print_jobs(page.jobs, as_json, wide=wide)
    if not as_json and page.next_cursor is not None:
        output.warn(f"(showing the newest {limit}; use --limit 0 for all)")


@dlq.command("retry")
@click.argument("job_ids", nargs=-1, metavar="ID...")
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead job.")
@click.option("--group", metavar="KEY", help="Retry one group of `dlq groups`.")
@click.option("--json", "as_json", is_flag=True, help='Print {"ids": [...]}.')
@pass_app
def dlq_retry(
    app: App, job_ids: tuple[str, ...], retry_all: bool, group: str | None, as_json: bool
) -> None:
    """Send dead jobs back to pending with their attempts reset (all or none)."""
    if sum((bool(job_ids), retry_all, group is not None)) != 1:
        raise click.UsageError("give job ids, --all or --group KEY (one of them)")
    if group is not None:
        from queuectl.service.dlq_groups import dlq_group_ids

        job_ids = tuple(dlq_group_ids(app.store, group))
    moved = service.retry_dead(app.store, None if retry_all else job_ids)
    if as_json:
        output.echo_json({"ids": list(moved), "brought_back": moved.brought_back})
        return
    for job_id in moved if not retry_all else ():
        click.echo(f"{job_id}: pending")
    if retry_all:
        click.echo(f"{len(moved)} job{'s' if len(moved) != 1 else ''} back to pending")
    output.say_brought_back(moved.brought_back)


@dlq.command("purge")
@click.option(
    "--older-than", metavar="AGE", help="Only those dead for longer than AGE (30m, 12h, 7d)."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"deleted": N}.')
@pass_app
def dlq_purge(app: App, older_than: str | None, as_json: bool) -> None:
    """Delete dead jobs for good."""
    age = parse_duration(older_than) if older_than is not None else None
    count = service.purge_dead(app.store, age)
    if as_json:
        output.echo_json({"deleted": count})
        return
    click.echo(f"purged {count} job{'s' if count != 1 else ''}")


dlq.add_command(dlq_groups)  # in cli/observe.py, with the other watching commands


# -- config -------------------------------------------------------------------------------

_KEY_HELP = "\n".join(f"  {k.name:<15} {k.help} (default {k.default:g})" for k in KEYS.values())


@click.group(
    help=f"Settings stored in the database, seen by every worker.\n\n\b\nKeys:\n{_KEY_HELP}"
)
def config() -> None:
    pass


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object of typed values.")
@pass_app
def config_list(app: App, as_json: bool) -> None:
    """Every key with its value; those not set say "(default)"."""
    items = service.config_items(app.store)
    if as_json:
        output.echo_json({item.key: KEYS[item.key].kind(item.value) for item in items})
        return
    for item in items:
        click.echo(f"{item.key} = {item.value}" + ("  (default)" if item.is_default else ""))


@config.command("get")
@click.argument("key", required=False, shell_complete=complete_config_keys)
@pass_app
def config_get(app: App, key: str | None) -> None:
    """Print one value (no KEY: all of them)."""
    if key is None:
        config_list.callback(as_json=False)  # type: ignore[misc]
        return
    click.echo(service.config_get(app.store, key))


@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key", shell_complete=complete_config_keys)
@click.argument("value")
@pass_app
def config_set(app: App, key: str, value: str) -> None:
    """Set KEY to VALUE (validated; hyphens or underscores)."""
    name, stored = service.config_set(app.store, key, value)
    click.echo(f"{name} = {stored}")


@config.command("reset")
@click.argument("key", required=False, shell_complete=complete_config_keys)
@click.option("--json", "as_json", is_flag=True, help='Print {"reset": [keys]}.')
@pass_app
def config_reset(app: App, key: str | None, as_json: bool) -> None:
    """Back to the default: one KEY, or every key."""
    name = service.config_reset(app.store, key)
    if as_json:
        output.echo_json({"reset": [name] if name else list(KEYS)})
        return
    click.echo(f"{name or 'all keys'} reset to default")


# -- database -----------------------------------------------------------------------------


@click.group()
def db() -> None:
    """The database itself."""


@db.command("migrate")
@click.option("--json", "as_json", is_flag=True, help='Print {"version": N, "applied": [...]}.')
@pass_app
def db_migrate(app: App, as_json: bool) -> None:
    """Create or upgrade the schema (also done when a command first opens the database;
    `enqueue`, `worker start`, `demo` and `db migrate` create one)."""
    report = service.migrate(app.db)  # not app.store: opening would apply them unreported
    applied = report.applied
    if as_json:
        output.echo_json({"version": report.version, "applied": list(applied)})
        return
    done = f"applied {', '.join(map(str, applied))}" if applied else "nothing to apply"
    click.echo(f"schema version {report.version} ({done})")


@click.command(hidden=True)
@pass_app
def ping(app: App) -> None:
    """Check that the database answers."""
    click.echo(f"ok: {service.ping(app.store)}")
    app.warn_if_not_durable()


# Spellings of the earlier QueueCTL tools (see docs/coming-from-earlier-tools.md).
init_alias = hidden_alias(db_migrate, "init")
dlq_list_alias = hidden_alias(dlq_list, "dlq-list")
dlq_retry_alias = hidden_alias(dlq_retry, "dlq-retry")
config_set_alias = hidden_alias(config_set, "config-set")
config_get_alias = hidden_alias(config_get, "config-get")
config_show_alias = hidden_alias(config_list, "config-show")
config_reset_alias = hidden_alias(config_reset, "config-reset")
config.add_command(hidden_alias(config_list, "show"))  # `queuectl config show`
