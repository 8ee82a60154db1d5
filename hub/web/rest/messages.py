"""REST routes of messages: history (keyset pagination) and sending."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.protocol import SendMessage
from hub.web.http import body, hub_of, json_response, principal, query, send
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.get(
    SESSION + "/messages",
    "Message history in id order (keyset pagination; a page holds at most 1 MiB)",
    response=api.MessagePage,
    query=api.MessageQuery,
)
async def list_messages(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.MessageQuery)
    page = await hub_of(request).messages.history(
        who, after=q.after, before=q.before, limit=q.limit
    )
    return json_response(page)


@routes.post(
    SESSION + "/messages",
    "Send a message (idempotent on client_msg_id; 200 for a retry)",
    response=api.SentMessage,
    status=201,
    body=SendMessage,
    errors=("session_completed",),
    also=((200, "a retry: the original message", api.SentMessage),),
)
async def post_message(request: web.Request) -> web.Response:
    who = await principal(request)
    m = await body(request, SendMessage)
    message, duplicate = await send(hub_of(request), who, m)
    return json_response(
        api.SentMessage(message=message, duplicate=duplicate), 200 if duplicate else 201
    )
