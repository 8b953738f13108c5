"""The `queuectl` command line: parse, call a service function, print.

Every expected failure is a QueueError or a Click usage error; `main` turns either into
one line on stderr and a non-zero exit (1: the operation failed, 2: bad usage).
"""

from __future__ import annotations

import sys

import click

from queuectl.cli.app import cli
from queuectl.errors import QueueError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and `python -m queuectl`."""
    try:
        cli.main(args=argv, prog_name="queuectl", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        message = " ".join(err.format_message().split())  # Click's may span lines
        click.echo(f"error: {message}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as err:
        click.echo(f"error: {err.format_message()}", err=True)
        sys.exit(err.exit_code)
    except QueueError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach the database driver
        click.echo("error: arguments must be valid UTF-8 text", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.stderr.close()  # `queuectl list | head`: the reader left, nothing to report
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
