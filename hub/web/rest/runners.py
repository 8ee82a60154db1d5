"""REST routes of runners: runner keys (a person's, or a space's owners', with a user
key), and what a runner does with its key (`Authorization: Bearer rnk_…`): claim a job,
heartbeat, report progress, log lines and the result, read the job's input files and
upload its output files."""

from __future__ import annotations

from aiohttp import web

from hub.api.jobs import (
    AttemptQuery,
    Claim,
    ClaimResult,
    CreatedRunnerKey,
    Heartbeat,
    Lease,
    LogCount,
    LogLines,
    NewRunnerKey,
    ProgressReport,
    ResultReport,
    RunnerKeyList,
    RunnerKeyQuery,
    RunnerUploadQuery,
)
from hub.domain import Attachment
from hub.domain.jobs import Job, RunnerKey, RunnerPrincipal
from hub.errors import ErrorCode, HubError
from hub.web.http import body, hub_of, json_response, query, user
from hub.web.rest.attachments import receive_upload, send_download
from hub.web.rest.jobs import job_of
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
RUNNER_JOB = "/api/runner/jobs/{job_id}"
_HELD: tuple[ErrorCode, ...] = ("not_found", "lease_lost")


async def runner(request: web.Request) -> RunnerPrincipal:
    """The runner calling: a runner key in the `Authorization: Bearer` header."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return await hub_of(request).runners.authenticate(
        token.strip() if scheme.lower() == "bearer" else None
    )


@routes.post(
    "/api/runner-keys",
    "Create a runner key for some job kinds (yours, or a space's you own); shown once",
    response=CreatedRunnerKey,
    status=201,
    body=NewRunnerKey,
    errors=("not_found",),
)
async def create_runner_key(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, NewRunnerKey)
    return json_response(await hub_of(request).runners.create_key(who, req), 201)


@routes.get(
    "/api/runner-keys",
    "Your runner keys (or a space's, for its owners), revoked ones too",
    response=RunnerKeyList,
    query=RunnerKeyQuery,
    errors=("not_found",),
)
async def list_runner_keys(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, RunnerKeyQuery)
    return json_response(RunnerKeyList(keys=await hub_of(request).runners.keys(who, q.space)))


@routes.delete(
    "/api/runner-keys/{key_id}",
    "Revoke a runner key: it is refused from now on",
    response=RunnerKey,
    errors=("not_found",),
)
async def revoke_runner_key(request: web.Request) -> web.Response:
    who = await user(request)
    key_id = request.match_info["key_id"]
    if len(key_id) > 64:
        raise HubError("not_found", "no such runner key")
    return json_response(await hub_of(request).runners.revoke_key(who, key_id))


@routes.post(
    "/api/runner/claim",
    "Claim the oldest queued job of your kinds (null when none waits); hold it by heartbeat",
    response=ClaimResult,
    body=Claim,
)
async def claim(request: web.Request) -> web.Response:
    who = await runner(request)
    req = await body(request, Claim)
    return json_response(ClaimResult(claimed=await hub_of(request).runners.claim(who, req.kinds)))


@routes.post(
    RUNNER_JOB + "/heartbeat",
    "Renew the lease on a job you hold",
    response=Lease,
    body=Heartbeat,
    errors=_HELD,
)
async def heartbeat(request: web.Request) -> web.Response:
    who = await runner(request)
    req = await body(request, Heartbeat)
    job = await hub_of(request).runners.heartbeat(who, job_of(request), req.attempt)
    assert job.lease_until is not None
    return json_response(Lease(lease_until=job.lease_until))


@routes.post(
    RUNNER_JOB + "/progress",
    "Report progress on a job you hold (renews the lease)",
    response=Job,
    body=ProgressReport,
    errors=_HELD,
)
async def progress(request: web.Request) -> web.Response:
    who = await runner(request)
    req = await body(request, ProgressReport)
    return json_response(await hub_of(request).runners.progress(who, job_of(request), req))


@routes.post(
    RUNNER_JOB + "/log",
    "Append log entries to a job you hold (renews the lease)",
    response=LogCount,
    body=LogLines,
    errors=(*_HELD, "quota_exceeded"),
)
async def log(request: web.Request) -> web.Response:
    who = await runner(request)
    req = await body(request, LogLines)
    count = await hub_of(request).runners.log(who, job_of(request), req)
    return json_response(LogCount(log_count=count))


@routes.post(
    RUNNER_JOB + "/result",
    "Finish a job you hold: succeeded or failed, its output and its cost",
    response=Job,
    body=ResultReport,
    errors=_HELD,
)
async def result(request: web.Request) -> web.Response:
    who = await runner(request)
    req = await body(request, ResultReport)
    return json_response(await hub_of(request).runners.result(who, job_of(request), req))


@routes.get(
    RUNNER_JOB + "/attachments/{attachment_id}/content",
    "Download one of the held job's input attachments (as the session's download does)",
    query=AttemptQuery,
    media=(("application/octet-stream", None),),
    errors=(*_HELD, "rate_limited"),
)
async def input_attachment(request: web.Request) -> web.StreamResponse:
    who = await runner(request)
    q = query(request, AttemptQuery)
    reader = await hub_of(request).runners.input_reader(
        who, job_of(request), q.attempt, request.match_info["attachment_id"]
    )
    with hub_of(request).attachments.downloading():
        return await send_download(request, reader)


@routes.post(
    RUNNER_JOB + "/attachments",
    "Upload an output file of a job you hold to its session, streamed, as a session"
    " upload is (raw body with its Content-Type and `name`, or multipart/form-data; the"
    " same size limit and quota); refused `lease_lost` unless you still hold the job when"
    " it is stored. Name it in your result's `attachments`",
    response=Attachment,
    status=201,
    query=RunnerUploadQuery,
    raw_body=True,
    errors=(*_HELD, "quota_exceeded", "session_completed", "rate_limited"),
)
async def upload_output(request: web.Request) -> web.Response:
    who = await runner(request)
    q = query(request, RunnerUploadQuery)
    uploader, guard = await hub_of(request).runners.uploader(who, job_of(request), q.attempt)
    return json_response(await receive_upload(request, uploader, q.name, guard), 201)
