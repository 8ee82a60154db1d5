"""REST routes of a session's pipeline runs: agents start and cancel them; every
participant lists and reads them."""

from __future__ import annotations

import re

from aiohttp import web

from hub.api.pipelines import NewRun, RunDetail, RunList, RunQuery
from hub.domain.pipelines import PipelineRun
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
RUN = SESSION + "/pipeline-runs/{run_id}"
_RUN_ID = re.compile(r"^run_[A-Za-z0-9_-]{21}$")


def run_of(request: web.Request) -> str:
    run_id = request.match_info["run_id"]
    if not _RUN_ID.match(run_id):
        raise HubError("not_found", f"no pipeline run {run_id[:64]!r}")
    return run_id


@routes.post(
    SESSION + "/pipeline-runs",
    "Run a pipeline artifact (agents): one job per node, the whole run's estimated cost"
    " reserved from the session's pool at once",
    response=PipelineRun,
    status=201,
    body=NewRun,
    errors=("not_found", "insufficient_credits", "session_completed"),
    also=((200, "a retry with the same client_run_id: the run made then", PipelineRun),),
)
async def start_run(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, NewRun)
    run, retry = await hub_of(request).pipelines.start(who, req)
    return json_response(run, 200 if retry else 201)


@routes.get(
    SESSION + "/pipeline-runs",
    "The session's pipeline runs, newest first",
    response=RunList,
    query=RunQuery,
)
async def list_runs(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, RunQuery)
    found = await hub_of(request).pipelines.list(
        who, status=q.status, before=q.before, limit=q.limit
    )
    return json_response(found)


@routes.get(
    RUN,
    "A pipeline run: its nodes' states, their jobs, and its execution log",
    response=RunDetail,
    errors=("not_found",),
)
async def get_run(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).pipelines.get(who, run_of(request)))


@routes.post(
    RUN + "/cancel",
    "Cancel a running pipeline run (agents): its queued and running jobs cancelled, its"
    " pending nodes skipped",
    response=PipelineRun,
    errors=("not_found", "invalid_transition"),
)
async def cancel_run(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).pipelines.cancel(who, run_of(request)))
