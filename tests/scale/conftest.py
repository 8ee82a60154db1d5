"""Real `hub serve` processes on their own PostgreSQL and Redis, which tests stop, kill
and restart. These servers are always the suite's own, never the ones named by
HUB_TEST_*_URL, since the tests take them down."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from hub.embedded import EmbeddedPostgres
from hub.store.migrate import apply_migrations
from tests.helpers import TEST_SECRET_KEY, HubClient
from tests.servers import RedisServer, claim, free_port

READY_TIMEOUT = 30.0


class HubProcess:
    """One `hub serve` process, started and waited for by the line it prints."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub.cli",
            "serve",
            "--port",
            str(self.port),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(ready))
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await ready
        except TimeoutError:
            raise AssertionError("hub did not start:\n" + "".join(self.output)) from None

    async def _read(self, ready: asyncio.Future[None]) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.output.append(line)
            if "hub: serving on" in line and not ready.done():
                ready.set_result(None)
        if not ready.done():
            ready.set_exception(AssertionError("hub exited:\n" + "".join(self.output)))

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye."""
        assert self.proc is not None
        self.proc.kill()

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        await self._reader
        return code

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.wait()


@pytest.fixture
def folder() -> Iterator[Path]:
    path = claim(Path(tempfile.mkdtemp(prefix="hub-scale-")))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def postgres(folder: Path) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(folder / "pg")
    url = await asyncio.to_thread(server.start)
    await apply_migrations(url)
    server.url = url  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.remove)


@pytest.fixture
async def hubs(postgres: Any, redis_server: RedisServer) -> AsyncIterator[Any]:
    """Start N hub processes sharing the PostgreSQL and Redis above."""
    started: list[HubProcess] = []
    env = {
        **os.environ,
        "HUB_DATABASE_URL": postgres.url,
        "HUB_SECRET_KEY": TEST_SECRET_KEY,
        "HUB_REDIS_URL": redis_server.url,
        "HUB_HEARTBEAT_INTERVAL": "1",
        "HUB_SHUTDOWN_TIMEOUT": "5",
        "HUB_RATE_PER_SECOND": "10000",
        "HUB_RATE_BURST": "10000",
        "HUB_LOG_LEVEL": "INFO",
    }

    async def start(n: int, **changes: str) -> list[HubProcess]:
        """`changes`: environment variables to set for these processes."""
        procs = [HubProcess({**env, **changes}) for _ in range(n)]
        await asyncio.gather(*(p.start() for p in procs))
        started.extend(procs)
        return procs

    try:
        yield start
    finally:
        await asyncio.gather(*(p.stop() for p in started))


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


def client_for(http: ClientSession, proc: HubProcess) -> HubClient:
    return HubClient(http, proc.base)
