"""PostgreSQL going away: writes are refused with `unavailable`, never falsely acked,
and service resumes by itself when the database returns."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
