"""Routes for operators: liveness, readiness and metrics."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.metrics import CONTENT_TYPE_LATEST
from hub.web.http import hub_of, json_response
from hub.web.keys import METRICS
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.get("/healthz", "The process is up", response=api.Health, auth=False)
async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return json_response(api.Health(status="ok"))


@routes.get(
    "/readyz",
    "PostgreSQL and the bus answer (503 otherwise)",
    response=api.Health,
    auth=False,
    errors=("unavailable",),
    also=((503, "not ready", api.Health),),
)
async def readyz(request: web.Request) -> web.Response:
    """Ready when PostgreSQL answers and the bus is connected."""
    database, bus = await hub_of(request).readiness()
    ready = database and bus
    status = "ready" if ready else "unavailable"
    return json_response(
        api.Health(status=status, database=database, bus=bus), 200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: every metric of `hub.metrics` (not in the API document: it
    is not JSON)."""
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
