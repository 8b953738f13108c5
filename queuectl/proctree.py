"""Whole process trees: find and kill every process a job started, wherever it went.

A job's process group catches most of what it starts, but `setsid`, a new process group
and double-forked daemons leave it, and once their parent exits they are orphans. Two
things find them anyway:

- every command runs with a token of its own in its environment (`TOKEN_VAR`), which
  its descendants inherit and which /proc/PID/environ shows;
- the worker makes itself a child subreaper, so orphans re-parent to it instead of init:
  they stay inside the worker's process subtree (so a scan never has to look beyond
  it), their exits come to the worker to reap (no zombies), and one read of its
  children list tells it whether a finished job left anything behind at all.

The /proc scan is the slow part (milliseconds), so it runs only when there may be
something to find: a timeout, a cancel or a stop, or a worker child that is not a job
shell. An ordinary short job costs one read of /proc/self/task/PID/children. A process
that cleared its environment (`env -i`) and was orphaned cannot show a token: it is
suspected of every job running when it is first seen (see `Sweeper._sweep`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterable

TOKEN_VAR = "QUEUECTL_RUN"
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper(on: bool = True) -> bool:
    """Make orphaned descendants of this process re-parent to it (Linux 3.4+)."""
    import ctypes  # only the worker needs it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, start time in ticks, process group) of a process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[19]), int(fields[2])


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return needle in b"\0" + handle.read()
    except OSError:
        return False


def token_needle(token: str) -> bytes:
    return f"\0{TOKEN_VAR}={token}\0".encode()


CHILDREN_READ = 16 * 1024  # bytes: the pids of about 2,000 children a read


def own_children() -> set[int] | None:
    """Pids of this process's children, zombies included; None where the kernel does not
    say (CONFIG_PROC_CHILDREN missing). Only the main thread's: it spawns every job, and
    orphans re-parent to it (the kernel picks a subreaper's first live thread)."""
    try:
        fd = os.open(f"/proc/self/task/{os.getpid()}/children", os.O_RDONLY)
    except OSError:
        return None
    chunks = []
    try:
        # Read in small chunks: a read of 1 MiB at once made Python allocate (and the
        # kernel map) a megabyte each time, two thirds of the call, once a job.
        while chunk := os.read(fd, CHILDREN_READ):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return {int(pid) for pid in b"".join(chunks).split()}


class Snapshot:
    """Every live process (zombies left out) with its parent, read from /proc once."""

    def __init__(self) -> None:
        self.start: dict[int, int] = {}
        self.group: dict[int, int] = {}
        self.children: dict[int, list[int]] = defaultdict(list)
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            info = _stat(pid)
            if info is None or info[0] in ("Z", "X"):
                continue
            self.start[pid] = info[2]
            self.group[pid] = info[3]
            self.children[info[1]].append(pid)

    def subtree(self, roots: Iterable[int]) -> set[int]:
        """The roots that are alive and all their descendants."""
        found: set[int] = set()
        todo = [pid for pid in roots if pid in self.start]
        while todo:
            pid = todo.pop()
            if pid not in found:
                found.add(pid)
                todo.extend(self.children.get(pid, ()))
        return found

    def members(self, token: str, roots: Iterable[int], within: int | None) -> set[int]:
        """The processes of one command: descendants of `roots` (its shell, while alive) and
        of every process carrying its token, looked for under `within` (None: anywhere)."""
        found = self.subtree(roots)
        scope = self.subtree(self.children.get(within, ())) if within else set(self.start)
        needle = token_needle(token)
        for pid in scope - found:
            if pid not in found and _environ_has(pid, needle):
                found |= self.subtree([pid])
        return found


def send(snapshot: Snapshot, pids: Iterable[int], sig: signal.Signals) -> int:
    """Signal each pid that is still the process the snapshot saw (a pidfd pins it, the
    start time proves it was not reused); returns how many were signalled."""
    sent = 0
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            info = _stat(pid)
            if info is not None and info[2] == snapshot.start.get(pid):
                signal.pidfd_send_signal(fd, sig)
                sent += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return sent


class Sweeper:
    """Kills what each command leaves behind and, in a subreaper, reaps inherited orphans.

    The runner tells it about each command: `started` (its shell, which the runner reaps
    itself), `signal_tree` while it runs (timeouts, cancels), `ended` once its shell is
    reaped. Leftovers get SIGTERM at once and SIGKILL when their grace period is over;
    the owner calls `on_time` at `next_deadline`, and `reap` when a child may have exited.
    """

    def __init__(self, subreaper: bool) -> None:
        self.subreaper = subreaper
        self.pid = os.getpid()
        self.within = self.pid if subreaper else None
        self.shells: set[int] = set()  # the runner waits for these: never reap them
        self.running: set[str] = set()  # tokens of commands still running
        self.kept_tokens: set[str] = set()  # commands whose leftovers stay (keep_daemons)
        self.kept: dict[int, int] = {}  # orphans left alone: pid -> start time
        self.doomed: dict[int, float] = {}  # orphans sent SIGTERM: pid -> SIGKILL time
        self.doomed_tokens: dict[str, float] = {}  # the same, found by token (no subreaper)
        self.waiting: dict[int, frozenset[str]] = {}  # orphan -> the commands it may be of
        self.grace = 5.0
        self.child_exited = False  # set by the owner's SIGCHLD handler: call `reap`

    # -- the runner's calls -----------------------------------------------------------

    def started(self, pid: int, token: str) -> None:
        self.shells.add(pid)
        self.running.add(token)

    def reaped(self, pid: int) -> None:
        self.shells.discard(pid)

    def signal_tree(self, token: str, shell: int, sig: signal.Signals) -> None:
        """Signal every process of a running command outside its group (the runner signals
        the group itself, and a process should get each signal once)."""
        snapshot = Snapshot()
        send(
            snapshot, _outside(snapshot, snapshot.members(token, [shell], self.within), shell), sig
        )

    def ended(
        self,
        token: str,
        keep: bool,
        grace: float,
        signalled_group: int = 0,
        terminated: bool = False,
    ) -> None:
        """A command's shell is reaped: SIGTERM whatever it left (SIGKILL after `grace`),
        or, with `keep`, leave it alone. `signalled_group` got its SIGTERM already, and so
        did the whole tree if `terminated` (a timeout or an interrupt)."""
        self.running.discard(token)
        self.grace = grace
        if keep:
            self.kept_tokens.add(token)
        if not self.subreaper:
            if not keep:
                snapshot = Snapshot()
                members = _outside(snapshot, snapshot.members(token, (), None), signalled_group)
                if members and (terminated or send(snapshot, members, signal.SIGTERM)):
                    self.doomed_tokens[token] = time.monotonic() + grace
            return
        if self.reap(sweep=False) or any(token in s for s in self.waiting.values()):
            quiet = token if terminated else ""
            self._sweep(Snapshot(), time.monotonic(), signalled_group, token, quiet)

    # -- the owner's loop -------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [*self.doomed.values(), *self.doomed_tokens.values()]
        return min(times) if times else None

    def on_time(self, now: float) -> None:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return
        snapshot = Snapshot()
        for token, at in list(self.doomed_tokens.items()):
            if at <= now:
                # A process SIGKILLed is not gone yet: keep the token until a rescan finds
                # none of its processes (`settled`, or here), killing again meanwhile.
                if members := snapshot.members(token, (), None):
                    send(snapshot, members, signal.SIGKILL)
                    self.doomed_tokens[token] = now + 1.0
                else:
                    del self.doomed_tokens[token]
        if self.subreaper:
            self._sweep(snapshot, now)
            self.reap()

    def settled(self) -> bool:
        """Without a subreaper: True once every process of every ended command is gone
        (a rescan); the owner may stop waiting for their SIGKILL then."""
        if self.doomed_tokens:
            snapshot = Snapshot()
            for token in list(self.doomed_tokens):
                if not snapshot.members(token, (), None):
                    del self.doomed_tokens[token]
        return not self.doomed_tokens

    def reap(self, sweep: bool = True) -> bool:
        """Collect the exit status of every child that is not a job shell (orphans); True
        when a live orphan we know nothing about remains (a sweep would find it). With
        `sweep`, sweep for it at once if a reaped orphan may have left it."""
        self.child_exited = False
        if not self.subreaper:
            return False
        children = own_children()
        if children is None:
            return True  # cannot tell: look
        reaped = False
        for pid in children - self.shells:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped = True
                    children.discard(pid)
                    self.kept.pop(pid, None)
                    self.doomed.pop(pid, None)
                    self.waiting.pop(pid, None)
        known = self.shells | self.kept.keys() | self.doomed.keys() | self.waiting.keys()
        unknown = bool(children - known)
        if sweep and reaped and unknown:
            # What the reaped one left came to us in turn: decide about it now.
            self._sweep(Snapshot(), time.monotonic())
            return False
        return unknown

    def finish_all(self) -> None:
        """Shutting down, nothing runs: SIGKILL every leftover now (kept ones stay)."""
        self.running.clear()
        self.grace = 0.0
        now = time.monotonic()
        self.doomed = dict.fromkeys(self.doomed, now)
        self.doomed_tokens = dict.fromkeys(self.doomed_tokens, now)
        self.on_time(now)  # SIGKILL the doomed
        if self.subreaper:
            self._sweep(Snapshot(), now)  # what was waiting gets SIGTERM...
            self.on_time(now)  # ...and SIGKILL right after
            self.reap()

    @property
    def busy(self) -> bool:
        """Leftovers still waiting for their SIGKILL."""
        return bool(self.doomed or self.doomed_tokens)

    # -- inside -----------------------------------------------------------------------

    def _sweep(
        self,
        snapshot: Snapshot,
        now: float,
        signalled_group: int = 0,
        ending: str = "",
        quiet: str = "",
    ) -> None:
        """Decide about each orphan (a child of ours that is not a job shell) by the token it
        carries: its command still runs (wait), kept its daemons (keep it), or ended
        (SIGTERM now, SIGKILL after the grace period). One that dropped the token
        (`env -i`) cannot say whose it is: it is suspected of every command running (or
        `ending`) when it is first seen, and killed once none of them runs (kept if one of
        them keeps its daemons). Those of `quiet` had their SIGTERM already."""
        for pid in snapshot.children.get(self.pid, ()):
            if pid in self.shells or pid in self.kept:
                continue
            if pid in self.doomed:
                if self.doomed[pid] <= now:
                    send(snapshot, snapshot.subtree([pid]), signal.SIGKILL)
                    self.doomed[pid] = now + 1.0  # until reaped; again if it is still there
                continue
            if pid not in self.waiting:
                token = _token_of(pid)
                suspects = self.running | {ending} - {""} if token is None else {token}
                self.waiting[pid] = frozenset(suspects)
            owners = self.waiting[pid]
            if owners & self.running:
                continue  # its command still runs
            del self.waiting[pid]
            if owners & self.kept_tokens:
                self.kept[pid] = snapshot.start[pid]
            else:
                if not (quiet and owners == {quiet}):
                    subtree = _outside(snapshot, snapshot.subtree([pid]), signalled_group)
                    send(snapshot, subtree, signal.SIGTERM)
                self.doomed[pid] = now + self.grace


def _outside(snapshot: Snapshot, pids: set[int], group: int) -> set[int]:
    """The pids not in process group `group` (0: all of them)."""
    return {pid for pid in pids if snapshot.group[pid] != group} if group else pids


def _token_of(pid: int) -> str | None:
    prefix = f"{TOKEN_VAR}=".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return None
    for entry in entries:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None
