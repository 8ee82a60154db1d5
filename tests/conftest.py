"""Real servers for the suite: PostgreSQL and Redis, started here unless given.

`HUB_TEST_DATABASE_URL` names a PostgreSQL server to use (a fresh database is created in
it and dropped afterwards); otherwise an embedded PostgreSQL is started in a temporary
directory. `HUB_TEST_REDIS_URL` likewise, otherwise a throwaway `redis-server`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
import pytest
import redis
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from hub.app import create_app
from hub.bus import keys
from hub.config import Config, load_config
from hub.embedded import EmbeddedPostgres
from hub.store.migrate import apply_migrations
from tests.helpers import TEST_SECRET_KEY, HubClient, HubTestServer
from tests.servers import RedisServer, claim, reap_orphans

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Run the tests on uvloop, the loop `hub serve` uses."""
    return {"uvloop": uvloop.new_event_loop} if uvloop else {"asyncio": asyncio.new_event_loop}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, empty database for this test run."""
    given = os.environ.get("HUB_TEST_DATABASE_URL")
    if given:
        name = "hub_test_" + secrets.token_hex(4)

        async def create() -> None:
            conn = await asyncpg.connect(given)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        async def drop() -> None:
            conn = await asyncpg.connect(given)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(create())
        url = _with_database(given, name)
        asyncio.run(apply_migrations(url))
        yield url
        asyncio.run(drop())
        return
    reap_orphans()
    folder = claim(Path(tempfile.mkdtemp(prefix="hub-test-pg-")))
    server = EmbeddedPostgres(folder / "pg", delete_on_stop=True)
    url = server.start()
    try:
        asyncio.run(apply_migrations(url))
        yield url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server for this test run."""
    given = os.environ.get("HUB_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


def forget_rate_limits(redis_url: str) -> None:
    """Empty the rate-limit buckets in Redis: every test's clients share 127.0.0.1, and
    a test that spent a small limit must not leave the next one without tokens."""
    server = redis.Redis.from_url(redis_url)
    try:
        stale = list(server.scan_iter(keys.rate_bucket("*", "*")))
        if stale:
            server.delete(*stale)
    finally:
        server.close()


@pytest.fixture(params=["memory-bus", "redis-bus"])
def config(request: pytest.FixtureRequest, database_url: str) -> Config:
    """Settings for a hub under test, once on each bus: short heartbeats, small limits
    that tests reach."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis-bus" else None
    if redis_url is not None:
        forget_rate_limits(redis_url)
    return load_config(
        {},
        database_url=database_url,
        redis_url=redis_url,
        heartbeat_interval=5.0,
        send_queue_frames=256,
        commit_batch_max=64,
        rate_per_second=200.0,
        rate_burst=400,
        invite_attempts_per_minute=1000,
        invite_failures_per_minute=100_000,
        session_creations_per_minute=100_000,
        signups_per_minute=100_000,
        login_attempts_per_minute=100_000,
        anonymous_searches_per_minute=100_000,
        max_frame_bytes=256 * 1024,
        db_pool_size=8,
        secret_key=TEST_SECRET_KEY,
    )


@pytest.fixture
async def hub_server(config: Config) -> AsyncIterator[TestServer]:
    """A hub serving on a real localhost port."""
    server = HubTestServer(create_app(config, migrate=False), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def client(hub_server: TestServer) -> AsyncIterator[HubClient]:
    async with ClientSession() as http:
        hub = HubClient(http, str(hub_server.make_url("")))
        try:
            yield hub
        finally:
            await hub.close()


@pytest.fixture
async def make_client(config: Config) -> AsyncIterator[Any]:
    """Start a hub with some settings changed; returns a client for it."""
    servers: list[TestServer] = []
    clients: list[HubClient] = []
    http = ClientSession()

    async def make(**overrides: Any) -> HubClient:
        changed = msgspec.structs.replace(config, **overrides)
        server = HubTestServer(create_app(changed, migrate=False), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        hub = HubClient(http, str(server.make_url("")))
        hub.server = server
        clients.append(hub)
        return hub

    try:
        yield make
    finally:
        for hub in clients:
            await hub.close()
        for server in servers:
            await server.close()
        await http.close()
