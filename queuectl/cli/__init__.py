"""The `queuectl` command line: parse, call a service function, print.

Every expected failure is a QueueError or a Click usage error; `main` turns either into
one line on stderr and a non-zero exit (1: the operation failed, 2: bad usage).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from queuectl.cli.app import cli, silence_stdout
from queuectl.errors import QueueError

__all__ = ["cli", "fail", "main", "one_line"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and `python -m queuectl`."""
    try:
        cli.main(args=argv, prog_name="queuectl", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:  # `queuectl`, `queuectl worker`
        click.echo(err.ctx.get_help() if err.ctx else cli.get_help(click.Context(cli)))
        sys.exit(0)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        message = " ".join(err.format_message().split())  # Click's may span lines
        fail(f"{message}{hint}", 2)
    except click.ClickException as err:
        fail(err.format_message(), err.exit_code)
    except QueueError as err:
        fail(str(err), 1)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach the database driver
        fail("arguments must be valid UTF-8 text", 1)
    except BrokenPipeError:  # `queuectl list | head`: the reader left, nothing to report
        silence_stdout()
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)


def fail(message: str, code: int) -> NoReturn:
    """Print `error: MESSAGE` as exactly one line on stderr and exit with `code`."""
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def one_line(text: str) -> str:
    """`text` with every character that could break or rewrite the line escaped: control
    characters (newline, CR, ESC...), line and paragraph separators, lone surrogates
    (undecodable bytes of an argument). The message may quote anything the user gave."""
    import unicodedata

    unsafe = ("Cc", "Cs", "Zl", "Zp")
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in unsafe
        else char
        for char in text
    )
