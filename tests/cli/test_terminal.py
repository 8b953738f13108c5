"""queuectl on a real terminal: tmux, a terminal emulator, shows what a person would see.
`--watch` redraws in place (one table on the screen and none in its history however many
frames, cut to the screen's height) and Ctrl-C ends it with exit 0 and no traceback;
escapes in a job's command are shown escaped by `list` and `show`, never obeyed;
`queuectl --help | true` exits 0 quietly.

tmux is Debian's (`apt-get install tmux`, as .ci/run does); without it these tests skip,
and fail under CI=true."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Run

pytestmark = pytest.mark.not_fast  # a tmux server per test


class Terminal:
    """A tmux server of the test's own (its own socket), 100x30, running one shell line."""

    def __init__(self, socket: Path, tmux: str) -> None:
        self.socket = socket
        self.tmux = tmux

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        command = [self.tmux, "-S", str(self.socket), *args]
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, line: str, db: str, rows: int = 30) -> None:
        """Run the shell line, then print its exit status (`EXIT=N`) and keep the pane."""
        env = {**os.environ, "QUEUECTL_DB": db, "TERM": "xterm-256color"}
        for name in ("NO_COLOR", "COLUMNS", "LINES"):
            env.pop(name, None)
        script = f'{line}; echo "EXIT=$?"; exec sleep 600'
        size = ["-x", "100", "-y", str(rows)]
        self._tmux("new-session", "-d", "-s", "t", *size, "bash", "-c", script, env=env)

    def screen(self, colours: bool = False, history: bool = False) -> str:
        """The pane as shown; with `colours`, with the escape sequences of its attributes;
        with `history`, after the lines that scrolled off it (or that it cleared away)."""
        options = ["-e"] if colours else []
        options += ["-S", "-"] if history else []
        return self._tmux("capture-pane", "-p", *options, "-t", "t")

    def wait_for(self, done: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if done(shown):
                return shown
            assert time.monotonic() < deadline, f"no {what} on the screen:\n{shown}"
            time.sleep(0.05)

    def ctrl_c(self) -> None:
        self._tmux("send-keys", "-t", "t", "C-c")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    tmux = shutil.which("tmux")
    if tmux is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing (.ci/run installs it)")
        pytest.skip("tmux is not installed")
    shown = Terminal(tmp_path / "tmux.sock", tmux)
    try:
        yield shown
    finally:
        kill = [tmux, "-S", str(shown.socket), "kill-server"]
        subprocess.run(kill, capture_output=True, timeout=30, check=False)


QUEUECTL = shlex.join([sys.executable, "-m", "queuectl"])


def _ended_cleanly(terminal: Terminal) -> None:
    shown = terminal.wait_for(lambda text: "EXIT=" in text, "exit status")
    assert "EXIT=0" in shown, shown
    assert "Traceback" not in shown and "KeyboardInterrupt" not in shown, shown


def test_list_watch_redraws_in_place_and_ends_on_ctrl_c(
    run: Run, db: str, terminal: Terminal
) -> None:
    run("enqueue", "--id", "first-job", "--", "echo", "one").ok()
    terminal.start(f"{QUEUECTL} list --watch 0.1", db)
    terminal.wait_for(lambda text: "first-job" in text, "first frame")
    run("enqueue", "--id", "second-job", "--", "echo", "two").ok()
    shown = terminal.wait_for(lambda text: "second-job" in text, "a later frame")
    assert shown.count("COMMAND") == 1 and shown.count("first-job") == 1, shown
    history = terminal.screen(history=True)
    assert history.count("COMMAND") == 1, history  # no frame went into the history
    terminal.ctrl_c()
    _ended_cleanly(terminal)


def test_a_listing_taller_than_the_screen_is_cut_to_it(
    run: Run, db: str, terminal: Terminal
) -> None:
    """Forty jobs on twenty rows: the header stays at the top and the last line says
    what is left out, so the screen never scrolls."""
    specs = "".join(json.dumps({"command": f"echo {n}"}) + "\n" for n in range(40))
    run("enqueue", "--file", "-", input=specs).ok()
    terminal.start(f"{QUEUECTL} list --watch 0.1", db, rows=20)
    terminal.wait_for(lambda text: "more lines below" in text, "a frame cut to the screen")
    run("enqueue", "--id", "newest-job", "--", "true").ok()
    shown = terminal.wait_for(lambda text: "newest-job" in text, "a later frame")
    lines = shown.rstrip("\n").splitlines()
    assert lines[0].startswith("ID ") and "24 more lines below" in lines[-1], shown
    assert len(lines) == 19  # 18 of the 42 lines, the note; the last row keeps the cursor
    history = terminal.screen(history=True)
    assert history.count("COMMAND") == 1, history
    terminal.ctrl_c()
    _ended_cleanly(terminal)


def test_status_watch_redraws_in_place_and_ends_on_ctrl_c(
    run: Run, db: str, terminal: Terminal
) -> None:
    run("enqueue", "--", "true").ok()
    terminal.start(f"{QUEUECTL} status --watch 0.1", db)
    terminal.wait_for(lambda text: "pending     1" in text, "first frame")
    run("enqueue", "--", "true").ok()
    shown = terminal.wait_for(lambda text: "pending     2" in text, "a later frame")
    assert shown.count("STATE") == 1 and shown.count("Workers alive") == 1, shown
    assert terminal.screen(history=True).count("Workers alive") == 1
    terminal.ctrl_c()
    _ended_cleanly(terminal)


def test_escapes_in_a_command_are_shown_not_obeyed(run: Run, db: str, terminal: Terminal) -> None:
    run("enqueue", "--id", "red", "--", "echo \x1b[31mRED\x1b[0m \x1b]0;title\x07").ok()
    terminal.start(f"{QUEUECTL} list && {QUEUECTL} show red", db)
    shown = terminal.wait_for(lambda text: "EXIT=" in text, "exit status")
    assert "EXIT=0" in shown, shown
    literal = "echo \\x1b[31mRED\\x1b[0m \\x1b]0;title\\x07"
    assert shown.count(literal) == 2, shown  # the list row and show's command line
    coloured = terminal.screen(colours=True)
    assert "\x1b[31m" not in coloured, coloured  # no red: the pending state is cyan
    assert "\x1b[36m" in coloured  # ...which shows that colours do reach the screen


def test_help_into_a_reader_that_left_exits_0(db: str, terminal: Terminal) -> None:
    terminal.start(f"{QUEUECTL} --help | true; test ${{PIPESTATUS[0]}} = 0", db)
    _ended_cleanly(terminal)
