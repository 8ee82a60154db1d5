"""The application: builds the aiohttp app and owns its resources' lifetimes.

The store pool, the bus and the hub's tasks are opened in a cleanup context and closed
in reverse order; on shutdown every live websocket is told to reconnect and resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from weakref import WeakSet

from aiohttp import web

from hub.bus import Bus, MemoryBus
from hub.config import Config
from hub.metrics import Metrics
from hub.protocol import CLOSE_SHUTTING_DOWN
from hub.services import Hub
from hub.store import Store
from hub.store.migrate import apply_migrations
from hub.web import add_routes, error_middleware, security_headers
from hub.web.keys import CONFIG, HUB, METRICS, SOCKETS
from hub.web.logs import quiet_http_parser_errors, request_context

__all__ = ["create_app", "make_bus"]

log = logging.getLogger("hub.app")


def make_bus(config: Config, metrics: Metrics | None = None) -> Bus:
    if config.redis_url:
        from hub.bus.redis import RedisBus

        return RedisBus(config.redis_url, metrics=metrics)
    return MemoryBus()


def create_app(config: Config, *, migrate: bool = True) -> web.Application:
    """The hub as an aiohttp application; `config.database_url` must be set, and
    `config.secret_key` (the vault's keyring: a hub never runs without one, rather than
    fail at the first secret or seal one with a key nobody keeps)."""
    if not config.database_url:
        raise ValueError("create_app needs config.database_url")
    if not config.secret_key:
        raise ValueError("create_app needs config.secret_key (HUB_SECRET_KEY)")
    quiet_http_parser_errors()
    app = web.Application(
        middlewares=[request_context, error_middleware],
        client_max_size=config.max_frame_bytes,
        handler_args={"keepalive_timeout": config.keepalive_timeout},
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[SOCKETS] = WeakSet()
    add_routes(app)
    if config.mcp_http:
        from hub.web.mcp import add_mcp

        add_mcp(app)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_resources(config, migrate))
    app.on_shutdown.append(_close_sockets)
    return app


def _resources(config: Config, migrate: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        assert config.database_url is not None
        if migrate:
            await apply_migrations(config.database_url)
        store = await Store.open(
            config.database_url, size=config.db_pool_size, wait_limit=config.db_timeout
        )
        bus = make_bus(config, app[METRICS])
        try:
            await bus.start()
            hub = Hub(config, store, bus, metrics=app[METRICS])
            await hub.start()
            app[HUB] = hub
            worker = None
            if config.deliver_webhooks:
                from hub.worker.webhooks import WebhookWorker

                worker = WebhookWorker(store, hub.keyring, config, metrics=app[METRICS])
                worker.start()
            yield
            if worker is not None:
                await worker.close()
            await hub.close()
        finally:
            await bus.close()
            await store.close()

    return ctx


async def _close_sockets(app: web.Application) -> None:
    """Tell every client to reconnect elsewhere and resume, within the shutdown bound."""
    sockets = [ws for ws in app[SOCKETS] if not ws.closed]
    if not sockets:
        return
    log.info("closing %d websockets for shutdown", len(sockets))
    for _ in sockets:
        app[METRICS].websocket_closed(CLOSE_SHUTTING_DOWN)
    closes = [
        ws.close(code=CLOSE_SHUTTING_DOWN, message=b"server shutting down: reconnect and resume")
        for ws in sockets
    ]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*closes, return_exceptions=True), app[CONFIG].shutdown_timeout
        )
