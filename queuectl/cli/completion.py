"""`queuectl completion bash|zsh|fish`: the shell's completion script, from Click's own
completion support, plus what queuectl itself knows (config keys)."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem, get_completion_class

from queuectl.config import KEYS

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
def completion(shell: str) -> None:
    """Print the completion script for SHELL (commands, options, choices, config keys)."""
    from queuectl.cli.app import cli

    script_class = get_completion_class(shell)
    if script_class is None:  # pragma: no cover - every shell above is Click's
        raise click.UsageError(f"no completion for {shell}")
    click.echo(script_class(cli, {}, "queuectl", "_QUEUECTL_COMPLETE").source())


def complete_config_keys(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [
        CompletionItem(key.name, help=key.help)
        for key in KEYS.values()
        if key.name.startswith(incomplete)
    ]
