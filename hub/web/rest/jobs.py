"""REST routes of a session's jobs: agents create and cancel them; every participant
lists and reads them and their logs."""

from __future__ import annotations

import re

from aiohttp import web

from hub.api.jobs import JobList, JobLogPage, JobLogQuery, JobQuery, NewJob
from hub.domain.jobs import Job
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["job_of", "routes"]

routes = RouteTable()
JOB = SESSION + "/jobs/{job_id}"
_JOB_ID = re.compile(r"^job_[A-Za-z0-9_-]{21}$")


def job_of(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not _JOB_ID.match(job_id):
        raise HubError("not_found", f"no job {job_id[:64]!r}")
    return job_id


@routes.post(
    SESSION + "/jobs",
    "Queue a job (agents), reserving its estimated cost from the session's pool",
    response=Job,
    status=201,
    body=NewJob,
    errors=("insufficient_credits", "session_completed"),
    also=((200, "a retry with the same client_job_id: the job made then", Job),),
)
async def create_job(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, NewJob)
    job, retry = await hub_of(request).jobs.create(who, req)
    return json_response(job, 200 if retry else 201)


@routes.get(SESSION + "/jobs", "The session's jobs, newest first", response=JobList, query=JobQuery)
async def list_jobs(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, JobQuery)
    found = await hub_of(request).jobs.list(
        who, status=q.status, kind=q.kind, before=q.before, limit=q.limit
    )
    return json_response(found)


@routes.get(JOB, "Read a job", response=Job, errors=("not_found",))
async def get_job(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).jobs.get(who, job_of(request)))


@routes.post(
    JOB + "/cancel",
    "Cancel a queued or running job (agents): what was used is charged, the rest released",
    response=Job,
    errors=("not_found", "invalid_transition"),
)
async def cancel_job(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).jobs.cancel(who, job_of(request)))


@routes.get(
    JOB + "/log",
    "A job's log entries after a sequence number, oldest first",
    response=JobLogPage,
    query=JobLogQuery,
    errors=("not_found",),
)
async def job_log(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, JobLogQuery)
    entries = await hub_of(request).jobs.log(who, job_of(request), q.after, q.limit)
    return json_response(JobLogPage(entries=entries))
