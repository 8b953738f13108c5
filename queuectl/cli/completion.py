"""`queuectl completion bash|zsh|fish`: the shell's completion script, from Click's own
completion support, plus what queuectl itself knows: config keys and states, and from the
database job ids and queue names (one indexed query each; nothing when it cannot answer)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from queuectl.store import Store

# Imported by the commands that use these completers, `enqueue` among them: everything
# beyond click loads when a completion or the script is asked for, not at start-up.

COMPLETED_IDS = 50  # a shell shows at most a screenful anyway

_SHELLS = ("bash", "zsh", "fish")
_INSTALL = {
    "bash": 'eval "$(queuectl completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(queuectl completion zsh)"    # in ~/.zshrc',
    "fish": "queuectl completion fish > ~/.config/fish/completions/queuectl.fish",
}


@click.command(
    epilog="\b\nInstall:\n" + "\n".join(f"  {line}" for line in _INSTALL.values()),
)
@click.argument("shell", type=click.Choice(_SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (commands, options, job ids, queues, states,
    config keys)."""
    from click.shell_completion import get_completion_class

    script_class = get_completion_class(shell)
    if script_class is None:  # pragma: no cover - every shell above is Click's
        raise click.UsageError(f"no completion for {shell}")
    root = ctx.find_root().command  # the `queuectl` group
    click.echo(script_class(root, {}, "queuectl", "_QUEUECTL_COMPLETE").source())


def complete_config_keys(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    from queuectl.config import KEYS

    return [
        CompletionItem(key.name, help=key.help)
        for key in KEYS.values()
        if key.name.startswith(incomplete)
    ]


def complete_states(names: list[str]) -> Callable[..., list[CompletionItem]]:
    """A completer for --state: these state names, after the last comma."""

    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [CompletionItem(prefix + n) for n in names if n.startswith(last)]

    return complete


def complete_job_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    from queuectl.models import JobQuery

    query = JobQuery(id_prefix=incomplete or None, limit=COMPLETED_IDS)
    with _store(ctx) as store:
        if store is None:
            return []
        jobs = store.query_jobs(query, None, COMPLETED_IDS)
        return [CompletionItem(job.id, help=f"{job.state.value}: {job.command}") for job in jobs]


def complete_queues(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    with _store(ctx) as store:
        if store is None:
            return []
        names = sorted({stats.queue for stats in store.queue_stats()} | {"default"})
        return [CompletionItem(name) for name in names if name.startswith(incomplete)]


@contextlib.contextmanager
def _store(ctx: click.Context) -> Iterator[Store | None]:
    """The database the command line names (--db before or after the command, or
    QUEUECTL_DB), if it exists and answers; never created or migrated for a completion."""
    from queuectl.cli.context import App
    from queuectl.store import open_store, resolve_url

    app = ctx.find_object(App)
    db = app.db if app is not None else None
    for level in _contexts(ctx):
        db = db or level.params.get("db")
    store = None
    try:
        url = resolve_url(db or os.environ.get("QUEUECTL_DB"))
        store = open_store(url, migrate=False, create=False)
    except Exception:  # a completion never shows an error
        yield None
        return
    try:
        yield store
    except Exception:
        return
    finally:
        store.close()


def _contexts(ctx: click.Context) -> list[click.Context]:
    chain = []
    level: click.Context | None = ctx
    while level is not None:
        chain.append(level)
        level = level.parent
    return chain[::-1]
