"""The root command group: commands imported on first use, `--db` before or after a
command's name, and the options and helpers the command modules share. The context every
command gets (the database URL, a store opened on first use) is cli/context.py."""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from queuectl import __version__
from queuectl.cli.context import App
from queuectl.cli.errors import silence_stdout
from queuectl.cli.values import DEFAULT_LIMIT

# Commands live in a few modules, imported only when one of their commands runs (or for
# --help), so `queuectl enqueue` pays for nothing else. Hidden names are old spellings.
COMMANDS = {
    "enqueue": "jobs:enqueue",
    "list": "jobs:list_",
    "show": "jobs:show",
    "logs": "observe:logs",
    "metrics": "observe:metrics",
    "cancel": "jobs:cancel",
    "retry": "control:retry",
    "wait": "control:wait",
    "pause": "control:pause",
    "resume": "control:resume",
    "queue": "queues:queue",
    "purge": "jobs:purge",
    "delete": "jobs:delete",
    "update": "jobs:update",
    "status": "admin:status",
    "dlq": "admin:dlq",
    "config": "admin:config",
    "db": "admin:db",
    "ping": "admin:ping",
    "worker": "workers:worker",
    "schedule": "schedule:schedule",
    "completion": "completion:completion",
    "forkserver": "forkserver:forkserver",
    "demo": "workers:demo",
    "serve": "serve:serve",
    "dashboard": "serve:dashboard_alias",
    "webui": "serve:webui_alias",
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


# Words other queues use for what queuectl spells otherwise (pueue's `kill` and `remove`,
# shell habits): pointed at the right command.
OTHER_TOOLS_WORDS = {
    "kill": "cancel",
    "rm": "delete",
    "remove": "delete",
    "del": "delete",
    "stop": "worker stop",
    "start": "worker start",
    "add": "enqueue",
    "ls": "list",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, from COMMANDS.

    Every command it hands out also takes `--db` after its own name (`queuectl list --db f`),
    and a mistyped command name gets a did-you-mean suggestion."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"queuectl.cli.{module}"), attr)
        _accept_db_option(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """A reader that left (`queuectl status | head -1`) is not an error: exit 0 quietly,
        as `git log | head` does (Click's own handling would exit 1)."""
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()
            return result
        except BrokenPipeError:
            silence_stdout()
            raise click.exceptions.Exit(0) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in OTHER_TOOLS_WORDS:
            ctx.fail(f"No such command {name!r}. Did you mean {OTHER_TOOLS_WORDS[name]!r}?")
        if name and not name.startswith("-") and name not in COMMANDS:
            visible = [n for n in COMMANDS if not _is_hidden_name(n)]
            close = difflib.get_close_matches(name, visible, n=1, cutoff=0.6)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list with whole first sentences (Click cuts them at 45 characters)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _is_hidden_name(name: str) -> bool:
    """Old spellings (`dlq-list`, `init`) are never suggested."""
    return "-" in name or name == "init"


_DB_HELP = (
    "Database: a file path or sqlite:///path (SQLite), or postgresql://user@host/db. "
    "Env: QUEUECTL_DB. Default: queuectl.db in your user data directory."
)


def _set_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.ensure_object(App)
        app.db, app.db_from_env = value, False


def _accept_db_option(command: click.Command) -> None:
    """Give `command` (and, for a group, every subcommand) a `--db` option of its own."""
    if not any(p.name == "db_after" for p in command.params):
        command.params.append(
            click.Option(
                ["--db", "db_after"],
                metavar="URL",
                expose_value=False,
                is_eager=True,
                callback=_set_db,
                help=_DB_HELP,
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_db_option(sub)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--db", envvar="QUEUECTL_DB", metavar="URL", help=_DB_HELP)
@click.version_option(__version__, "-V", "--version", prog_name="queuectl")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """queuectl: a durable background job queue for shell commands.

    Enqueue shell commands as JSON job specs, start workers, and every job runs: in
    parallel, retried with exponential backoff, dead-lettered when out of retries.
    """
    from_env = ctx.get_parameter_source("db") is click.core.ParameterSource.ENVIRONMENT
    app = App(db, from_env)
    ctx.obj = app
    ctx.call_on_close(app.close)


F = TypeVar("F", bound=Callable[..., Any])


def listing_options(command: F) -> F:
    """--limit, --json and --wide, the same on every command that lists jobs."""
    command = wide_option(command)
    command = click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")(command)
    return click.option(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        show_default=True,
        metavar="N",
        callback=_check_limit,
        help="At most this many (0 = all).",
    )(command)


def wide_option(command: F) -> F:
    """--wide: every column, dates in full, nothing cut to fit the terminal."""
    return click.option(
        "--wide",
        "-w",
        is_flag=True,
        help="Every column, dates in full, nothing cut to fit the terminal.",
    )(command)


def _check_limit(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """A count, shown in --help as N rather than Click's `0<=x<=2147483648`."""
    from queuectl.cli.values import limit

    try:
        return limit(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def completer(name: str, *args: Any) -> Callable[..., Any]:
    """A shell completer of cli/completion.py, imported only when a shell asks, so the
    commands that offer one (`enqueue` among them) start no slower."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
        from queuectl.cli import completion

        found = getattr(completion, name)
        return (found(*args) if args else found)(ctx, param, incomplete)

    return complete


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
