"""PostgreSQL going away, stopped or silent: writes are refused with `unavailable` within
the database timeout, never falsely acked, and service resumes by itself when the
database returns."""

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from hub.config import Config
from hub.embedded import EmbeddedPostgres
from hub.store.migrate import apply_migrations
from tests.helpers import HubClient
from tests.servers import claim


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, so stopping it disturbs no other test."""
    folder = claim(Path(tempfile.mkdtemp(prefix="hub-test-fault-")))
    server = EmbeddedPostgres(folder / "pg", delete_on_stop=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_database_outage_refuses_writes_and_recovers(
    own_postgres: EmbeddedPostgres, config: Config, make_client: Any
) -> None:
    """With PostgreSQL stopped, sends get `unavailable` and no ack, REST answers 503 and
    /readyz says so; after a restart the same client_msg_id commits exactly once."""
    url = await asyncio.to_thread(own_postgres.start)
    await apply_migrations(url)
    hub: HubClient = await make_client(database_url=url)
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    b = await hub.connect(s["b"])
    assert (await a.say("before"))["message"]["id"] == 1

    await asyncio.to_thread(own_postgres.stop)
    answer = await a.request({"type": "send", "client_msg_id": "during", "content": "x"})
    assert (answer["type"], answer["code"]) == ("error", "unavailable")
    status, body = await hub.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    assert (status, body["code"]) == (503, "unavailable")
    status, body = await hub.call("GET", "/readyz")
    assert status == 503 and body["database"] is False
    assert not [f for f in a.frames if f["type"] == "ack" and f["message"]["id"] > 1]

    await asyncio.to_thread(own_postgres.start)
    async with asyncio.timeout(20):
        while True:  # a client retries with the same client_msg_id until acked
            answer = await a.request({"type": "send", "client_msg_id": "during", "content": "x"})
            if answer["type"] == "ack":
                break
            assert answer["code"] == "unavailable"
            await asyncio.sleep(0.2)  # the client's retry backoff, not synchronisation
    assert answer["message"]["id"] == 2
    assert (await a.say("after"))["message"]["id"] == 3
    await b.wait(lambda: b.message_ids()[-1:] == [3])
    assert b.message_ids() == [1, 2, 3]
    status, body = await hub.call("GET", "/readyz")
    assert status == 200


class QuietProxy:
    """A TCP proxy to PostgreSQL that can go silent like a cut network: `blackhole`
    stops forwarding (in both directions, or only the server's replies) and holds every
    socket open, nothing reset or closed; `restore` resumes forwarding what waited."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        host = query.pop("host", parts.hostname or "127.0.0.1")
        port = parts.port or int(query.pop("port", "5432"))
        self._upstream = (host, port)
        self._parts = parts._replace(query=urlencode(query))
        self._user = parts.username or "postgres"
        self._password = parts.password
        self._up = asyncio.Event()  # client to server
        self._down = asyncio.Event()  # server to client
        self._up.set()
        self._down.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        auth = self._user + (f":{self._password}" if self._password else "")
        self.url = urlunsplit(self._parts._replace(netloc=f"{auth}@127.0.0.1:{port}"))

    def blackhole(self, *, replies_only: bool = False) -> None:
        self._down.clear()
        if not replies_only:
            self._up.clear()

    def restore(self) -> None:
        self._up.set()
        self._down.set()

    async def close(self) -> None:
        self.restore()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self._upstream
        if host.startswith("/"):
            up_reader, up_writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        else:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        for source, sink, gate in ((reader, up_writer, self._up), (up_reader, writer, self._down)):
            task = asyncio.create_task(self._pump(source, sink, gate))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, gate: asyncio.Event
    ) -> None:
        try:
            while True:
                await gate.wait()
                data = await source.read(65536)
                await gate.wait()  # what arrived while silent waits, like a retransmission
                if not data:
                    break
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


@pytest.fixture
async def quiet_proxy(database_url: str) -> AsyncIterator[QuietProxy]:
    proxy = QuietProxy(database_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


DB_TIMEOUT = 1.0
SLACK = 1.5  # for a loaded machine: the bound is DB_TIMEOUT, this is only headroom


async def timed(call: Any) -> tuple[float, Any]:
    started = time.monotonic()
    result = await call
    return time.monotonic() - started, result


async def test_silent_database_answers_unavailable_within_the_timeout(
    quiet_proxy: QuietProxy, make_client: Any
) -> None:
    """With PostgreSQL silent (no reset, no close), a send gets `unavailable` within the
    database timeout, REST and /readyz answer 503 as fast, and nothing is acked; when the
    network returns, the retried client_msg_id commits once and new sends work."""
    hub: HubClient = await make_client(database_url=quiet_proxy.url, db_timeout=DB_TIMEOUT)
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    b = await hub.connect(s["b"])
    assert (await a.say("before"))["message"]["id"] == 1

    quiet_proxy.blackhole()
    elapsed, answer = await timed(
        a.request({"type": "send", "client_msg_id": "during", "content": "x"})
    )
    assert (answer["type"], answer["code"]) == ("error", "unavailable")
    assert elapsed < DB_TIMEOUT + SLACK
    more = [
        a.request({"type": "send", "client_msg_id": f"burst-{i}", "content": "y"}) for i in range(5)
    ]
    elapsed, answers = await timed(asyncio.gather(*more))
    assert {x["code"] for x in answers} == {"unavailable"}
    assert elapsed < DB_TIMEOUT + SLACK
    elapsed, (status, body) = await timed(
        hub.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    )
    assert (status, body["code"]) == (503, "unavailable")
    assert elapsed < 2 * DB_TIMEOUT + SLACK  # authenticating, then reading
    elapsed, (status, body) = await timed(hub.call("GET", "/readyz"))
    assert status == 503 and body["database"] is False
    assert elapsed < DB_TIMEOUT + SLACK
    assert not [f for f in a.frames if f["type"] == "ack" and f["message"]["id"] > 1]

    quiet_proxy.restore()
    async with asyncio.timeout(20):
        while True:  # a client retries with the same client_msg_id until acked
            answer = await a.request({"type": "send", "client_msg_id": "during", "content": "x"})
            if answer["type"] == "ack":
                break
            assert answer["code"] == "unavailable"
            await asyncio.sleep(0.2)  # the client's retry backoff, not synchronisation
    during = answer["message"]["id"]
    after = (await a.say("after"))["message"]["id"]
    assert after == during + 1
    await b.wait(lambda: b.message_ids()[-1:] == [after])
    status, page = await hub.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    contents = [m["content"] for m in page["messages"] if m["client_msg_id"] == "during"]
    assert contents == ["x"]
    assert [m["id"] for m in page["messages"]] == list(range(1, after + 1))
    assert b.message_ids() == list(range(1, after + 1))
    status, body = await hub.call("GET", "/readyz")
    assert status == 200


async def test_commit_whose_reply_is_lost_is_not_acked_and_its_retry_is_delivered(
    quiet_proxy: QuietProxy, make_client: Any
) -> None:
    """A commit that reaches PostgreSQL while its answer is lost gets `unavailable`, not
    an ack; the retry is acked with that one message, which then reaches the others."""
    hub: HubClient = await make_client(
        database_url=quiet_proxy.url, db_timeout=DB_TIMEOUT, heartbeat_interval=60.0
    )
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    b = await hub.connect(s["b"])
    assert (await a.say("before"))["message"]["id"] == 1

    quiet_proxy.blackhole(replies_only=True)
    elapsed, answer = await timed(
        a.request({"type": "send", "client_msg_id": "lost", "content": "x"})
    )
    assert (answer["type"], answer["code"]) == ("error", "unavailable")
    assert elapsed < DB_TIMEOUT + SLACK
    quiet_proxy.restore()
    async with asyncio.timeout(20):
        while True:
            answer = await a.request({"type": "send", "client_msg_id": "lost", "content": "x"})
            if answer["type"] == "ack":
                break
            assert answer["code"] == "unavailable"
            await asyncio.sleep(0.2)  # the client's retry backoff, not synchronisation
    assert (answer["message"]["id"], answer["duplicate"]) == (2, True)
    await b.wait(lambda: b.message_ids() == [1, 2])
    assert not [
        f
        for f in a.frames
        if f["type"] == "ack"
        and f.get("duplicate") is False
        and f["message"]["client_msg_id"] == "lost"
    ]
