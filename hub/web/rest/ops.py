"""Routes for operators: liveness, readiness and metrics."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.web.http import hub_of, json_response
from hub.web.keys import STATS
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
    hub = hub_of(request)
    database = await hub.store.ping()
    bus = hub.bus.healthy()
    ready = database and bus
    status = "ready" if ready else "unavailable"
    return json_response(
        api.Health(status=status, database=database, bus=bus), 200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (not in the API document: it is not JSON)."""
    hub = hub_of(request)
    stats = request.app[STATS]
    rooms = hub.rooms.all()
    committer = hub.messages.committer
    lines = [
        "# TYPE hub_connections gauge",
        f"hub_connections {sum(len(r.outboxes) for r in rooms)}",
        "# TYPE hub_rooms gauge",
        f"hub_rooms {len(rooms)}",
        "# TYPE hub_messages_committed_total counter",
        f"hub_messages_committed_total {committer.committed}",
        "# TYPE hub_commit_batches_total counter",
        f"hub_commit_batches_total {committer.batches}",
    ]
    lines += [f"# TYPE hub_{name}_total counter\nhub_{name}_total {v}" for name, v in stats.items()]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
