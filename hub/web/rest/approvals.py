"""REST routes of approvals and interrupts: list and read requests, decide one,
interrupt an agent. (A request is sent as an ordinary `action` message.)"""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.domain.approvals import Approval
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, parse_id, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


def _message_id(request: web.Request) -> int:
    raw = request.match_info["message_id"]
    message_id = parse_id(raw)
    if message_id is None or message_id < 1:
        raise HubError("not_found", f"no approval request {raw[:32]!r}")
    return message_id


@routes.get(
    SESSION + "/approvals",
    "Approval requests in message id order (undecided ones unless status=all); those"
    " past their time are decided expired first",
    response=api.ApprovalList,
    query=api.ApprovalQuery,
)
async def list_approvals(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.ApprovalQuery)
    found = await hub_of(request).approvals.list(
        who, pending_only=q.status == "pending", after=q.after, limit=q.limit
    )
    return json_response(api.ApprovalList(approvals=found))


@routes.get(
    SESSION + "/approvals/{message_id}",
    "Read an approval request and its decision",
    response=Approval,
    errors=("not_found",),
)
async def get_approval(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).approvals.get(who, _message_id(request)))


@routes.post(
    SESSION + "/approvals/{message_id}/decision",
    "Decide an approval request (the first decision wins; conflict carries it)",
    response=Approval,
    body=api.DecisionBody,
    errors=("not_found", "conflict", "session_completed"),
)
async def decide(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.DecisionBody)
    approval = await hub_of(request).approvals.decide(
        who, _message_id(request), req.decision, req.comment
    )
    return json_response(approval)


@routes.post(
    SESSION + "/interrupts",
    "Interrupt a working agent (agent A and approvers)",
    response=api.Interrupted,
    status=201,
    body=api.InterruptBody,
    errors=("session_completed",),
)
async def interrupt(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.InterruptBody)
    message, interrupt = await hub_of(request).approvals.interrupt(who, req.target, req.reason)
    return json_response(api.Interrupted(message=message, interrupt=interrupt), 201)
