"""Workflows as the front ends show them: the jobs a job runs after and those after it."""

from __future__ import annotations

import msgspec

from queuectl.models import Job, JobLinks
from queuectl.store import Store


class Linked(msgspec.Struct, frozen=True):
    """A job linked to another, with its state (None: deleted since)."""

    id: str
    state: str | None


class Links(msgspec.Struct, frozen=True):
    after: list[Linked]
    dependents: list[Linked]


def job_links(store: Store, job_id: str) -> Links:
    """The jobs `job_id` runs after and those that run after it, each with its state."""
    found = store.job_links([job_id]).get(job_id)
    if found is None:
        return Links([], [])
    ids = [*found.after, *found.dependents]
    jobs = store.get_jobs(ids)  # one read

    def linked(job_id: str) -> Linked:
        job = jobs.get(job_id)
        return Linked(job_id, None if job is None else job.state.value)

    return Links([linked(i) for i in found.after], [linked(i) for i in found.dependents])


# -- a job's whole workflow --------------------------------------------------------------

GRAPH_LIMIT = 300  # jobs drawn by default; past the limit a graph is counted, not listed
MAX_GRAPH_LIMIT = 1000  # the largest limit a client may ask for
COUNT_LIMIT = 5000  # jobs counted at most when a graph is too large to list
COMMAND_CHARS = 200  # a node's command is cut to this many characters ("…" added)
LINKS_BATCH = 500  # ids per store.job_links call while walking


class GraphNode(msgspec.Struct, frozen=True):
    """A job of the graph: `state` is None for a job deleted since (its links remain)."""

    id: str
    state: str | None
    blocked: bool  # pending, waiting for jobs it runs after
    command: str | None  # cut to COMMAND_CHARS


class GraphEdge(msgspec.Struct, frozen=True):
    """`child` runs after `parent`."""

    parent: str
    child: str


class Graph(msgspec.Struct, frozen=True):
    """The jobs connected to `job` through `after` links, both ways. With at most `limit`
    of them, `nodes` and `edges` are the whole graph (`complete`); with more, both are
    empty and `counts` says how many of each state were found (`total` jobs; `exact`
    false when counting stopped at COUNT_LIMIT). `counts` keys are states, plus "blocked"
    (pending jobs waiting, not counted as pending) and "deleted"."""

    job: str
    complete: bool
    total: int
    exact: bool
    counts: dict[str, int]
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def job_graph(store: Store, job_id: str, limit: int = GRAPH_LIMIT) -> Graph:
    """The workflow `job_id` belongs to, walked level by level from it (one job_links
    call per batch of a level). NotFound for an unknown job; InvalidSpec for a bad limit."""
    from queuectl.errors import InvalidSpec
    from queuectl.service.jobs import get_job

    if not 1 <= limit <= MAX_GRAPH_LIMIT:
        raise InvalidSpec(f"limit must be 1 to {MAX_GRAPH_LIMIT}, not {limit}", field="limit")
    get_job(store, job_id)
    found, links, whole = _walk(store, job_id, max(limit, COUNT_LIMIT))
    nodes = _nodes(store, found[:COUNT_LIMIT])
    counts: dict[str, int] = {}
    for node in nodes:
        shown = "deleted" if node.state is None else "blocked" if node.blocked else node.state
        counts[shown] = counts.get(shown, 0) + 1
    if not whole or len(nodes) > limit:  # too many to draw: their counts only
        return Graph(job_id, False, len(nodes), whole, counts, [], [])
    return Graph(job_id, True, len(nodes), True, counts, nodes, _edges(links))


def _edges(links: dict[str, JobLinks]) -> list[GraphEdge]:
    """Every link between jobs walked, read from both ends: a deleted job's own links are
    gone (or kept) depending on the store, the jobs that stay still name it."""
    pairs: dict[tuple[str, str], None] = {}
    for node_id, node_links in links.items():
        for child in node_links.dependents:
            if child in links:
                pairs[(node_id, child)] = None
        for parent in node_links.after:
            if parent in links:
                pairs[(parent, node_id)] = None
    return [GraphEdge(parent, child) for parent, child in pairs]


def _walk(store: Store, start: str, stop_at: int) -> tuple[list[str], dict[str, JobLinks], bool]:
    """The ids of the jobs connected to `start`, nearest first, the links of those walked,
    and whether that is all of them (False: the walk stopped once over `stop_at`)."""
    links: dict[str, JobLinks] = {}
    found = [start]
    seen = {start}
    level = [start]
    while level:
        following: list[str] = []
        for at in range(0, len(level), LINKS_BATCH):
            batch = level[at : at + LINKS_BATCH]
            answer = store.job_links(batch)
            for node_id in batch:
                node_links = links[node_id] = answer.get(node_id, JobLinks())
                for other in (*node_links.after, *node_links.dependents):
                    if other not in seen:
                        seen.add(other)
                        found.append(other)
                        following.append(other)
            if len(found) > stop_at:
                return found, links, False
        level = following
    return found, links, True


def _nodes(store: Store, ids: list[str]) -> list[GraphNode]:
    """The jobs `ids` as nodes, read a batch at a time (one read each)."""
    jobs: dict[str, Job] = {}
    for at in range(0, len(ids), LINKS_BATCH):
        jobs.update(store.get_jobs(ids[at : at + LINKS_BATCH]))
    nodes = []
    for job_id in ids:
        job = jobs.get(job_id)
        if job is None:  # deleted since: its links remain
            nodes.append(GraphNode(job_id, None, False, None))
            continue
        command = job.command
        if len(command) > COMMAND_CHARS:
            command = command[:COMMAND_CHARS] + "…"
        nodes.append(GraphNode(job_id, job.state.value, job.blocked, command))
    return nodes
