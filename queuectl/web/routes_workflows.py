"""/api/jobs/{id}/graph: the workflow a job belongs to, for the dashboard's diagram."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import FromPath, QueryParameter

from queuectl.service import workflows
from queuectl.web import shapes
from queuectl.web.context import HttpRequest, in_thread, store
from queuectl.web.paths import job_id_from_path


@get(
    "/api/jobs/{job_id:str}/graph",
    summary="The jobs linked to a job by `after`, both ways: nodes and edges, or counts",
    description="Walks the job's `after` links both ways. With at most `limit` jobs the "
    "answer lists them all (`complete`: nodes with id, state, blocked and command cut to "
    f"{workflows.COMMAND_CHARS} characters; edges from a job to one that runs after it); "
    "with more, only `counts` per state (blocked and deleted apart) of the first "
    f"{workflows.COUNT_LIMIT} found (`exact` false when there were more).",
    responses=shapes.errors(404, 422),
)
@in_thread
def job_graph(
    request: HttpRequest,
    job_id: FromPath[str],
    limit: Annotated[
        int, QueryParameter(ge=1, le=workflows.MAX_GRAPH_LIMIT)
    ] = workflows.GRAPH_LIMIT,
) -> workflows.Graph:
    return workflows.job_graph(store(request), job_id_from_path(job_id), limit)


HANDLERS = [job_graph]
