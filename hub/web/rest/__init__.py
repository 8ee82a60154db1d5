"""The REST API: one route table per area, each route with its documentation beside it."""

from __future__ import annotations

from aiohttp import web

from hub.web.rest import (
    accounts,
    activity,
    approvals,
    artifacts,
    attachments,
    directory,
    exports,
    files,
    forks,
    jobs,
    messages,
    notes,
    ops,
    pools,
    presence,
    profiles,
    ratings,
    runners,
    search,
    secrets,
    sessions,
    spaces,
    templates,
    webhooks,
)
from hub.web.rest.table import Operation, RouteTable

__all__ = ["TABLES", "Operation", "RouteTable", "add_routes", "operations"]

TABLES: tuple[RouteTable, ...] = (
    sessions.routes,
    messages.routes,
    approvals.routes,
    notes.routes,
    files.routes,
    attachments.routes,
    artifacts.routes,
    presence.routes,
    activity.routes,
    exports.routes,
    accounts.routes,
    profiles.routes,
    ratings.routes,
    directory.routes,
    secrets.routes,
    spaces.routes,
    search.routes,
    webhooks.routes,
    templates.routes,
    forks.routes,
    pools.routes,
    jobs.routes,
    runners.routes,
    ops.routes,
)


def operations() -> list[Operation]:
    """Every documented route, in the order of the tables."""
    return [op for table in TABLES for op in table.operations]


def add_routes(app: web.Application) -> None:
    for table in TABLES:
        table.add_to(app)
    app.router.add_get("/metrics", ops.metrics)
