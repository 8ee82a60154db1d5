"""REST routes of webhook endpoints: a person's (user key) under `/api/webhooks`, a
session's own (agent A's token) under `/api/sessions/{id}/webhooks`; one endpoint is
then managed at `/api/webhooks/{id}` with the credential that registered it (another's
endpoint is `not_found`). A signing secret is answered once, with `Cache-Control:
no-store`."""

from __future__ import annotations

import re

from aiohttp import web

from hub import api
from hub.domain.webhooks import Delivery, Webhook
from hub.errors import HubError
from hub.services.webhooks import WebhookOwner
from hub.web.http import body, hub_of, json_response, principal, query, user
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
WEBHOOK = "/api/webhooks/{webhook_id}"
SESSION_WEBHOOKS = "/api/sessions/{session_id}/webhooks"
_ID = re.compile(r"^whk_[A-Za-z0-9_-]{16,64}$")


def _webhook_id(request: web.Request) -> str:
    found = request.match_info["webhook_id"]
    if not _ID.match(found):
        raise HubError("not_found", f"no webhook {found[:64]!r} among yours")
    return found


async def _owner(request: web.Request) -> WebhookOwner:
    """A person by their user key, or a session by agent A's token (in the
    `Authorization: Bearer` header)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(("agt_", "obs_")):
        return await hub_of(request).access.authenticate(token)
    return await user(request)


def _secret_response(payload: api.CreatedWebhook | api.RotatedSecret, status: int) -> web.Response:
    response = json_response(payload, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post(
    "/api/webhooks",
    "Register a webhook endpoint (user key), optionally scoped to a session or a space you"
    " may read; its signing secret is answered this once",
    response=api.CreatedWebhook,
    status=201,
    body=api.NewWebhook,
    errors=("session_not_found", "not_found", "conflict"),
)
async def create_webhook(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.NewWebhook)
    return _secret_response(await hub_of(request).webhooks.create(who, req), 201)


@routes.get("/api/webhooks", "Your webhook endpoints (user key)", response=api.WebhookList)
async def list_webhooks(request: web.Request) -> web.Response:
    found = await hub_of(request).webhooks.listing(await user(request))
    return json_response(api.WebhookList(webhooks=found))


@routes.post(
    SESSION_WEBHOOKS,
    "Register a webhook endpoint for this session (agent A's token); its signing secret"
    " is answered this once",
    response=api.CreatedWebhook,
    status=201,
    body=api.NewWebhook,
    errors=("conflict",),
)
async def create_session_webhook(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.NewWebhook)
    return _secret_response(await hub_of(request).webhooks.create(who, req), 201)


@routes.get(
    SESSION_WEBHOOKS,
    "This session's own webhook endpoints (agent A's token)",
    response=api.WebhookList,
)
async def list_session_webhooks(request: web.Request) -> web.Response:
    found = await hub_of(request).webhooks.listing(await principal(request))
    return json_response(api.WebhookList(webhooks=found))


@routes.get(
    WEBHOOK,
    "One of your webhook endpoints (the user key or agent A token that registered it)",
    response=Webhook,
    errors=("not_found",),
)
async def get_webhook(request: web.Request) -> web.Response:
    who = await _owner(request)
    return json_response(await hub_of(request).webhooks.get(who, _webhook_id(request)))


@routes.patch(
    WEBHOOK,
    "Change a webhook endpoint's URL, filter or description, or disable or enable it",
    response=Webhook,
    body=api.WebhookUpdate,
    errors=("not_found",),
)
async def update_webhook(request: web.Request) -> web.Response:
    who = await _owner(request)
    endpoint_id = _webhook_id(request)
    req = await body(request, api.WebhookUpdate)
    return json_response(await hub_of(request).webhooks.update(who, endpoint_id, req))


@routes.delete(
    WEBHOOK,
    "Delete a webhook endpoint (nothing more is delivered to it)",
    status=204,
    errors=("not_found",),
)
async def delete_webhook(request: web.Request) -> web.Response:
    who = await _owner(request)
    await hub_of(request).webhooks.delete(who, _webhook_id(request))
    return web.Response(status=204)


@routes.post(
    WEBHOOK + "/secret",
    "Rotate the signing secret: the new one is answered once; the previous one keeps"
    " signing beside it (two signatures) for the overlap",
    response=api.RotatedSecret,
    body=api.RotateSecret,
    errors=("not_found",),
)
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    who = await _owner(request)
    endpoint_id = _webhook_id(request)
    req = await body(request, api.RotateSecret)
    rotated = await hub_of(request).webhooks.rotate_secret(who, endpoint_id, req.overlap_seconds)
    return _secret_response(rotated, 200)


@routes.get(
    WEBHOOK + "/deliveries",
    "A webhook endpoint's delivery attempts, newest first (status, latency, the answer's"
    " first kilobyte, when it is tried again)",
    response=api.DeliveryPage,
    query=api.DeliveryQuery,
    errors=("not_found",),
)
async def list_deliveries(request: web.Request) -> web.Response:
    who = await _owner(request)
    endpoint_id = _webhook_id(request)
    q = query(request, api.DeliveryQuery)
    found = await hub_of(request).webhooks.deliveries(who, endpoint_id, q)
    return json_response(api.DeliveryPage(deliveries=found))


@routes.post(
    WEBHOOK + "/test",
    "Send a test event (`webhook.test`) to the endpoint now, signed like any delivery;"
    " answers the attempt (also in the delivery log, kind `test`)",
    response=Delivery,
    errors=("not_found",),
)
async def test_webhook(request: web.Request) -> web.Response:
    who = await _owner(request)
    endpoint_id = _webhook_id(request)
    return json_response(await hub_of(request).webhooks.send_test(who, endpoint_id))


@routes.post(
    WEBHOOK + "/redeliver",
    "Deliver again one event the endpoint may hear (`webhook_id`, of its delivery log or"
    " not: sent now, once, the attempt answered) or everything since a time (`since`:"
    " queued again, in order)",
    response=api.Redelivered,
    body=api.Redeliver,
    errors=("not_found", "forbidden", "conflict"),
)
async def redeliver_webhook(request: web.Request) -> web.Response:
    who = await _owner(request)
    endpoint_id = _webhook_id(request)
    req = await body(request, api.Redeliver)
    return json_response(await hub_of(request).webhooks.redeliver(who, endpoint_id, req))
