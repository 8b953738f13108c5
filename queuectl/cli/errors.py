"""How the command line fails: one `error: ...` line on stderr and an exit code. No Click
here, so the fast path (queuectl.cli.fast) fails exactly like the Click app."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def fail(message: str, code: int) -> NoReturn:
    """Print `error: MESSAGE` as exactly one line on stderr and exit with `code`."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    sys.exit(code)


def one_line(text: str, keep: str = "") -> str:
    """`text` with every character that could break or rewrite the line escaped: control
    characters (newline, CR, ESC...), line and paragraph separators, lone surrogates
    (undecodable bytes of an argument), except those in `keep`. Whatever a message,
    table cell or `show` prints may come from anyone who can enqueue (over HTTP too):
    none of it may drive the reader's terminal."""
    if text.isprintable():  # the common case: nothing to escape
        return text
    import unicodedata

    unsafe = ("Cc", "Cs", "Zl", "Zp")
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in unsafe and char not in keep
        else char
        for char in text
    )


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
