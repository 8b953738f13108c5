"""The README and docs/ stay true to the code in two ways a machine can check: every
`queuectl ...` line of a shell block parses with the real command tree, and every relative
link leads to a file (and a heading) that exists. Nothing here runs a command, starts a
process or opens a database: Click only parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest

from queuectl.cli.app import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
UNIT_LANGUAGES = {"ini"}  # systemd units: their ExecStart= lines are commands too

FENCE = re.compile(r"^(`{3,})([\w-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
SUBSTITUTION = re.compile(r"\$\([^()]*\)")  # $(openssl rand -hex 24): one word, unread
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PUNCTUATION = "();<>|&"  # what separates commands (and redirections) on a shell line


def shell_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each line of the fenced blocks in a shell language, and of
    the ExecStart= lines of each systemd unit, with `\\` continuations joined."""
    lines = []
    for found in FENCE.finditer(text):
        language = found.group(2).lower()
        if language not in SHELL_LANGUAGES | UNIT_LANGUAGES:
            continue
        first = text.count("\n", 0, found.start(3)) + 1
        pending = ""
        for number, raw in enumerate(found.group(3).splitlines(), start=first):
            if language in UNIT_LANGUAGES and not raw.startswith("ExecStart="):
                continue
            line = raw.removeprefix("ExecStart=")
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            lines.append((number, pending + line))
            pending = ""
    return lines


def queuectl_commands(line: str) -> list[list[str]]:
    """The argument lists of the `queuectl` commands of a shell line (split at `&&`, `|`,
    `;`, `>`...), after any `NAME=value` prefixes, without comments. A path ending in
    `/queuectl` counts as `queuectl`."""
    found = []
    line = SUBSTITUTION.sub("X", line.strip().removeprefix("$ "))
    lexer = shlex.shlex(line, posix=True, punctuation_chars=PUNCTUATION)
    lexer.whitespace_split = True
    words: list[str] = []
    for word in [*lexer, ";"]:
        if word.strip(PUNCTUATION):
            words.append(word)
            continue
        while words and ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words and (words[0] == "queuectl" or words[0].endswith("/queuectl")):
            found.append(words[1:])
        words = []
    return found


def documented_commands() -> list[Any]:
    params = []
    for path in DOCS:
        for number, line in shell_lines(path.read_text(encoding="utf-8")):
            for args in queuectl_commands(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                params.append(pytest.param(args, id=f"{where} {shlex.join(args)}"[:100]))
    return params


def parse(args: list[str]) -> None:
    """Parse `queuectl ARGS` as the real command tree does, down to the leaf command, and
    stop there: no callback runs, so nothing is opened or started."""
    command: click.Command = cli
    ctx = command.make_context("queuectl", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        name, sub, rest = command.resolve_command(ctx, unparsed(ctx))
        assert sub is not None and name is not None
        command = sub
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=False)


def unparsed(ctx: click.Context) -> list[str]:
    """What a group's parse left for its subcommand, its name first. Click keeps the name
    apart: in `_protected_args` since 8.2, in `protected_args` before (read from the
    instance, as 8.2's property of that name is deprecated)."""
    held = vars(ctx).get("_protected_args", vars(ctx).get("protected_args", []))
    return [*held, *ctx.args]


def test_the_docs_show_commands_at_all() -> None:
    assert len(documented_commands()) >= 40


@pytest.mark.parametrize("args", documented_commands())
def test_every_documented_command_line_parses(args: list[str]) -> None:
    try:
        parse(args)
    except click.exceptions.Exit as done:  # --help, --version
        assert done.exit_code == 0
    except click.ClickException as err:
        pytest.fail(f"queuectl {shlex.join(args)}: {err.format_message()}")


# -- links ---------------------------------------------------------------------------------

INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text outside fenced blocks and inline code, where links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file: lower case, punctuation
    dropped, spaces as hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def relative_links() -> list[Any]:
    params = []
    for path in DOCS:
        for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            params.append(pytest.param(path, target, id=f"{path.relative_to(ROOT)} {target}"))
    return params


def test_the_docs_link_to_each_other() -> None:
    assert len(relative_links()) >= 20


@pytest.mark.parametrize(("page", "target"), relative_links())
def test_every_relative_link_leads_somewhere(page: Path, target: str) -> None:
    file_part, _, anchor = target.partition("#")
    linked = (page.parent / file_part).resolve() if file_part else page
    assert linked.exists(), f"{target}: no such file {linked}"
    if anchor:
        assert linked.suffix == ".md", f"{target}: an anchor into a file that is not Markdown"
        assert anchor in anchors(linked), f"{target}: no heading with the anchor #{anchor}"
