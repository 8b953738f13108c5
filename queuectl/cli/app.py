"""The root command group and the context every command gets: the database URL and a
store opened on first use (so `--help` and usage errors never touch the database)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from queuectl import __version__

if TYPE_CHECKING:
    from queuectl.store import Store

# Commands live in three modules, imported only when one of their commands runs (or for
# --help), so `queuectl enqueue` pays for nothing else. Hidden names are old spellings.
COMMANDS = {
    "enqueue": "jobs:enqueue",
    "list": "jobs:list_",
    "show": "jobs:show",
    "logs": "jobs:logs",
    "cancel": "jobs:cancel",
    "purge": "jobs:purge",
    "update": "jobs:update",
    "status": "admin:status",
    "dlq": "admin:dlq",
    "config": "admin:config",
    "db": "admin:db",
    "ping": "admin:ping",
    "worker": "workers:worker",
    "demo": "workers:demo",
    "init": "admin:init_alias",
    "dlq-list": "admin:dlq_list_alias",
    "dlq-retry": "admin:dlq_retry_alias",
    "config-set": "admin:config_set_alias",
    "config-get": "admin:config_get_alias",
    "config-show": "admin:config_show_alias",
    "config-reset": "admin:config_reset_alias",
    "worker-start": "workers:worker_start_alias",
    "worker-stop": "workers:worker_stop_alias",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"queuectl.cli.{module}"), attr)
        return command


class App:
    """Per-invocation state: which database, and its store once a command needs it."""

    def __init__(self, db: str | None) -> None:
        self.db = db
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from queuectl.store import open_store

            self._store = open_store(self.db)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    envvar="QUEUECTL_DB",
    metavar="URL",
    help="Database: a file path or sqlite:///path (SQLite), or postgresql://user@host/db. "
    "Env: QUEUECTL_DB. Default: queuectl.db in your user data directory.",
)
@click.version_option(__version__, prog_name="queuectl")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """queuectl: a durable background job queue for shell commands.

    Enqueue shell commands as JSON job specs, start workers, and every job runs: in
    parallel, retried with exponential backoff, dead-lettered when out of retries.
    """
    app = App(db)
    ctx.obj = app
    ctx.call_on_close(app.close)


pass_app = click.make_pass_decorator(App)

F = TypeVar("F", bound=Callable[..., Any])


def listing_options(command: F) -> F:
    """--limit and --json, the same on every command that lists jobs."""
    command = click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")(command)
    return click.option(
        "--limit",
        type=click.IntRange(0, 2**31),
        default=100,
        show_default=True,
        help="At most this many (0 = all).",
    )(command)


def hidden_alias(command: click.Command, name: str) -> click.Command:
    """A copy of `command` under an old spelling, kept out of --help."""
    alias = click.Command(
        name,
        callback=command.callback,
        params=command.params,
        help=command.help,
        hidden=True,
        context_settings=command.context_settings,
    )
    return alias
