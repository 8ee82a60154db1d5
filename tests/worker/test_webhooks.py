"""Webhooks: endpoints registered by a person or a session's agent A hear the session's
messages over HTTP, signed per Standard Webhooks (checked with the `standardwebhooks`
package), in order per endpoint and session, retried on the schedule (Retry-After
honoured), disabled by 410; workers share streams under SKIP LOCKED, a killed worker
loses nothing; internal addresses and redirects are refused; nobody registers for what
they may not read; the secret is never logged."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import ClientSession, web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook as Verifier

from hub.app import create_app
from hub.config import Config, load_config
from hub.domain.webhooks import (
    address_refusal,
    check_url,
    parse_allowance,
    parse_retry_after,
    retry_delay,
)
from hub.errors import HubError
from hub.metrics import Metrics
from hub.store import Store
from hub.store import webhooks as webhook_store
from hub.vault import Keyring
from hub.worker.egress import http_client, refusal_of
from hub.worker.webhooks import WebhookWorker
from tests.compute_helpers import setup
from tests.helpers import TEST_SECRET_KEY, HubClient, HubTestServer
from tests.web.test_profiles import agent_key, new_agent, person
from tests.web.test_spaces import new_space

TIMEOUT = 15.0
Answer = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records each request and answers it with
    `answer(request, n)` (n: how many requests came before)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, dict[str, str], bytes]] = []
        self.answer: Answer = self._ok
        self._changed = asyncio.Condition()
        self.server: TestServer | None = None

    @staticmethod
    async def _ok(request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(text="ok")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        n = len(self.got)
        self.got.append(
            (
                time.monotonic(),
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                raw,
            )
        )
        async with self._changed:
            self._changed.notify_all()
        return await self.answer(request, n)

    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host=host)
        await self.server.start_server()

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def wait(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [msgspec.json.decode(b) for _, p, _, b in self.got if p == path]

    def ids(self, path: str = "/hook") -> list[str]:
        return [h["webhook-id"] for _, p, h, _ in self.got if p == path]


@pytest.fixture
def wh_config(database_url: str) -> Config:
    return load_config(
        {},
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        deliver_webhooks=False,
        webhook_allow_private=True,
        webhook_poll_interval=0.05,
        webhook_retry_schedule="0.05,0.1",
        webhook_timeout=2.0,
        webhook_lease=3.0,
        approval_sweep_interval=0.2,
        session_creations_per_minute=100_000,
        signups_per_minute=100_000,
        login_attempts_per_minute=100_000,
        invite_attempts_per_minute=100_000,
    )


@pytest.fixture
async def hub(wh_config: Config) -> AsyncIterator[HubClient]:
    server = HubTestServer(create_app(wh_config, migrate=False), host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as http:
        client = HubClient(http, str(server.make_url("")))
        try:
            yield client
        finally:
            await client.close()
            await server.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    try:
        yield found
    finally:
        assert found.server is not None
        await found.server.close()


@pytest.fixture
async def workers(wh_config: Config) -> AsyncIterator[Callable[..., Awaitable[WebhookWorker]]]:
    """Start webhook workers (each with its own pool), with settings changed."""
    started: list[tuple[WebhookWorker, Store]] = []

    async def start(metrics: Metrics | None = None, **overrides: Any) -> WebhookWorker:
        config = msgspec.structs.replace(wh_config, **overrides)
        assert config.database_url is not None
        store = await Store.open(config.database_url, size=4)
        worker = WebhookWorker(store, Keyring.parse(TEST_SECRET_KEY), config, metrics=metrics)
        worker.start()
        started.append((worker, store))
        return worker

    try:
        yield start
    finally:
        for worker, store in started:
            await worker.close()
            await store.close()


async def own_session(hub: HubClient) -> tuple[str, str]:
    """A person's user key and a session whose agent A is one of their agents; returns
    (user key, session id), the session's agent A token in `own_session.tokens`."""
    key = await person(hub)
    agent = await new_agent(hub, key)
    akey = (await agent_key(hub, key, agent["slug"]))["token"]
    status, created = await hub.call("POST", "/api/sessions", token=akey, json={})
    assert status == 201, created
    own_session.tokens[created["session"]["id"]] = created["agent_token"]
    return key, created["session"]["id"]


own_session.tokens = {}  # type: ignore[attr-defined]


async def say(hub: HubClient, session_id: str, *contents: str) -> list[int]:
    token = own_session.tokens[session_id]  # type: ignore[attr-defined]
    ids = []
    for content in contents:
        status, sent = await hub.call(
            "POST",
            f"/api/sessions/{session_id}/messages",
            token=token,
            json={"client_msg_id": os.urandom(8).hex(), "content": content},
        )
        assert status in (200, 201), sent
        ids.append(sent["message"]["id"])
    return ids


async def register(hub: HubClient, token: str, url: str, **more: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["message.*"], **more}
    status, made = await hub.call("POST", "/api/webhooks", token=token, json=body)
    assert status == 201, made
    return made  # type: ignore[no-any-return]


async def deliveries(hub: HubClient, token: str, webhook_id: str) -> list[dict[str, Any]]:
    status, page = await hub.call("GET", f"/api/webhooks/{webhook_id}/deliveries", token=token)
    assert status == 200, page
    return page["deliveries"]  # type: ignore[no-any-return]


async def until(*watched: WebhookWorker, check: Callable[[], bool]) -> None:
    """Wait until `check()` holds, looked at after each attempt a worker records."""
    async with asyncio.timeout(TIMEOUT):
        waits = [asyncio.ensure_future(w.until(check)) for w in watched]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
    assert check()


# --- delivery --------------------------------------------------------------------------


async def test_messages_arrive_signed_in_order_with_stable_ids(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """Each message arrives once, in id order, with a Standard Webhooks signature that
    `standardwebhooks` verifies, its webhook-id naming the session and message, its
    body the websocket's message event; the delivery log shows each attempt."""
    key, sid = await own_session(hub)
    made = await register(hub, key, receiver.url(), session_id=sid, description="ci")
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 6 + 32
    hook = made["webhook"]
    assert (hook["session_id"], hook["owner"], hook["enabled"]) == (sid, "user", True)
    status, shown = await hub.call("GET", f"/api/webhooks/{hook['id']}", token=key)
    assert status == 200 and secret not in str(shown)

    ids = await say(hub, sid, "one", "two", "three")
    worker = await workers()
    await receiver.wait(lambda: len(receiver.got) >= 3)
    assert receiver.ids() == [f"msg_{sid}_{i}" for i in ids]
    for _, _, headers, raw in receiver.got:
        payload = Verifier(secret).verify(raw, headers)
        assert payload["type"] == "message.created"
        assert payload["data"]["type"] == "message"
    assert [b["data"]["message"]["content"] for b in receiver.bodies()] == ["one", "two", "three"]
    with pytest.raises(Exception, match="signature"):
        Verifier("whsec_" + "A" * 44).verify(receiver.got[0][3], receiver.got[0][2])

    await until(worker, check=lambda: worker.tried[hook["id"]] == 3)
    log = await deliveries(hub, key, hook["id"])
    assert [(d["status"], d["attempt"], d["next_attempt_at"]) for d in log] == [(200, 1, None)] * 3
    assert [d["webhook_id"] for d in reversed(log)] == receiver.ids()


async def test_a_fork_is_heard_from_its_own_first_message(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """A person's endpoint hears a fork of their agent's session (it is in scope) from
    the fork's own first message: the history copied into it is not delivered again."""
    key, sid = await own_session(hub)
    await register(hub, key, receiver.url())
    await say(hub, sid, "one", "two")
    token = own_session.tokens[sid]  # type: ignore[attr-defined]
    status, forked = await hub.call("POST", f"/api/sessions/{sid}/fork", token=token, json={})
    assert status == 201, forked
    fid = forked["session"]["id"]
    own_session.tokens[fid] = forked["agent_token"]  # type: ignore[attr-defined]
    assert await say(hub, fid, "three") == [3]
    await workers()
    await receiver.wait(lambda: f"msg_{fid}_3" in receiver.ids())
    assert {i for i in receiver.ids() if fid in i} == {f"msg_{fid}_3"}
    await receiver.wait(lambda: len(receiver.ids()) >= 3)
    assert sorted(i for i in receiver.ids() if fid not in i) == [f"msg_{sid}_1", f"msg_{sid}_2"]


async def test_failures_are_retried_in_order_and_retry_after_is_honoured(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """500s are retried (same webhook-id) until one succeeds, and the next message
    waits for it; a 503 with Retry-After: 1 is not retried before a second has passed
    although the schedule says 0.05 s."""

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        if n in (0, 1):
            return web.Response(status=500, text="boom")
        if n == 2:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(text="ok")

    receiver.answer = answer
    key, sid = await own_session(hub)
    hook = (await register(hub, key, receiver.url(), session_id=sid))["webhook"]
    ids = await say(hub, sid, "first", "second")
    worker = await workers()
    await receiver.wait(lambda: len(receiver.got) >= 5)
    first = f"msg_{sid}_{ids[0]}"
    assert receiver.ids() == [first] * 4 + [f"msg_{sid}_{ids[1]}"]
    times = [t for t, *_ in receiver.got]
    assert times[3] - times[2] >= 1.0  # Retry-After
    assert times[2] - times[1] < 1.0  # the schedule alone

    await until(worker, check=lambda: worker.tried[hook["id"]] == 5)
    log = list(reversed(await deliveries(hub, key, hook["id"])))
    assert [(d["attempt"], d["status"]) for d in log] == [
        (1, 500),
        (2, 500),
        (3, 503),
        (4, 200),
        (1, 200),
    ]
    assert log[0]["response_excerpt"] == "boom" and log[0]["next_attempt_at"] is not None
    _, shown = await hub.call("GET", f"/api/webhooks/{hook['id']}", token=key)
    assert shown["failing_since"] is None


async def test_gone_disables_the_endpoint_and_enabling_resumes(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """A 410 disables the endpoint (its owner sees why) and nothing more is tried;
    enabling it again delivers what waited, from the event that got the 410."""
    receiver.answer = lambda request, n: _status(410 if n == 0 else 200)
    key, sid = await own_session(hub)
    hook = (await register(hub, key, receiver.url(), session_id=sid))["webhook"]
    ids = await say(hub, sid, "a", "b")
    worker = await workers()

    await until(worker, check=lambda: worker.tried[hook["id"]] == 1)
    status, shown = await hub.call("GET", f"/api/webhooks/{hook['id']}", token=key)
    assert not shown["enabled"] and "410" in shown["disabled_reason"]
    assert await worker.round() == 0  # nothing is due for a disabled endpoint
    assert len(receiver.got) == 1

    status, shown = await hub.call(
        "PATCH", f"/api/webhooks/{hook['id']}", token=key, json={"enabled": True}
    )
    assert (status, shown["enabled"], shown["disabled_reason"]) == (200, True, None)
    await receiver.wait(lambda: len(receiver.got) >= 3)
    assert receiver.ids() == [f"msg_{sid}_{i}" for i in (ids[0], ids[0], ids[1])]


async def _status(code: int) -> web.StreamResponse:
    return web.Response(status=code)


async def test_a_failing_endpoint_does_not_hold_up_another(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """Two endpoints on one session: one answers 500 to everything, the other gets
    every message, in order."""

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=500 if request.path == "/bad" else 204)

    receiver.answer = answer
    key, sid = await own_session(hub)
    await register(hub, key, receiver.url("/bad"), session_id=sid)
    await register(hub, key, receiver.url("/good"), session_id=sid)
    ids = await say(hub, sid, *[f"m{i}" for i in range(6)])
    await workers()
    await receiver.wait(lambda: len(receiver.ids("/good")) >= 6)
    assert receiver.ids("/good") == [f"msg_{sid}_{i}" for i in ids]
    assert set(receiver.ids("/bad")) == {f"msg_{sid}_{ids[0]}"}


async def test_a_slow_endpoint_does_not_take_every_delivery_slot(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """A person's endpoint hears five sessions and answers nothing until the test lets
    it (a receiver slower than any timeout here); a worker with four delivery slots
    gives it at most `webhook_endpoint_concurrency` (two) of them, so messages sent
    afterwards to another endpoint arrive at once, while the slow one still holds its
    two requests open; once it answers, it gets everything, in order."""
    gate = asyncio.Event()

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        if request.path == "/slow":
            await gate.wait()
        return web.Response(status=204)

    receiver.answer = answer
    key = await person(hub)
    agent = await new_agent(hub, key)
    akey = (await agent_key(hub, key, agent["slug"]))["token"]
    sessions = []
    for _ in range(6):
        status, created = await hub.call("POST", "/api/sessions", token=akey, json={})
        assert status == 201
        own_session.tokens[created["session"]["id"]] = created["agent_token"]  # type: ignore[attr-defined]
        sessions.append(created["session"]["id"])
    *slow_sessions, fast = sessions
    await register(hub, key, receiver.url("/slow"))  # every session: the fast one too
    await register(hub, key, receiver.url("/fast"), session_id=fast)
    sent = {sid: await say(hub, sid, "a", "b") for sid in slow_sessions}
    worker = await workers(
        webhook_concurrency=4,
        webhook_endpoint_concurrency=2,
        webhook_timeout=30.0,
        webhook_lease=60.0,
    )
    await receiver.wait(lambda: len(receiver.ids("/slow")) >= 2)
    ids = await say(hub, fast, "x", "y", "z")
    await receiver.wait(lambda: len(receiver.ids("/fast")) >= 3)
    assert receiver.ids("/fast") == [f"msg_{fast}_{i}" for i in ids]
    assert len(receiver.ids("/slow")) == 2 and not gate.is_set()

    gate.set()
    await receiver.wait(lambda: len(receiver.ids("/slow")) >= 13)
    await until(worker, check=lambda: worker.delivered == 16)
    got = receiver.ids("/slow")
    assert len(got) == len(set(got)) == 13
    for sid, message_ids in [*sent.items(), (fast, ids)]:
        assert [i for i in got if i.startswith(f"msg_{sid}_")] == [
            f"msg_{sid}_{m}" for m in message_ids
        ]


async def test_two_workers_share_the_streams_without_delivering_twice(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """Two workers deliver a person's endpoint over six sessions: every message
    arrives exactly once, each session's in order, and both workers took part."""

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        await asyncio.sleep(0.01)  # a receiver that takes a moment: the work overlaps
        return web.Response(text="ok")

    receiver.answer = answer
    key = await person(hub)
    agent = await new_agent(hub, key)
    akey = (await agent_key(hub, key, agent["slug"]))["token"]
    sessions = []
    for _ in range(6):
        status, created = await hub.call("POST", "/api/sessions", token=akey, json={})
        assert status == 201
        own_session.tokens[created["session"]["id"]] = created["agent_token"]  # type: ignore[attr-defined]
        sessions.append(created["session"]["id"])
    await register(hub, key, receiver.url())  # every session the person may read
    sent = {sid: await say(hub, sid, *[f"m{i}" for i in range(8)]) for sid in sessions}
    one, two = await workers(webhook_concurrency=3), await workers(webhook_concurrency=3)
    await receiver.wait(lambda: len(receiver.got) >= 48)
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 48
    for sid, message_ids in sent.items():
        assert [i for i in ids if i.startswith(f"msg_{sid}_")] == [
            f"msg_{sid}_{m}" for m in message_ids
        ]
    await until(one, two, check=lambda: one.delivered + two.delivered == 48)
    assert one.delivered > 0 and two.delivered > 0


async def test_a_worker_killed_mid_delivery_loses_nothing(
    hub: HubClient, receiver: Receiver, wh_config: Config
) -> None:
    """Two `hub worker` processes deliver a person's endpoint over four sessions
    (messages and outbox events); the one whose request waits for an answer is killed
    with SIGKILL. It moved nothing: once its lease runs out (3 s), the other delivers
    the interrupted event again and everything after it. Every event arrives at least
    once, each session's in order; an event that arrives twice carries the same
    webhook-id and body."""
    import psutil

    first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    killed = asyncio.Event()

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        if n == 0:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            assert peer is not None
            first.set_result(peer[1])
            await killed.wait()  # held until the worker that sent it is dead
        return web.Response(text="ok")

    receiver.answer = answer
    key = await person(hub)
    agent = await new_agent(hub, key)
    akey = (await agent_key(hub, key, agent["slug"]))["token"]
    await register(hub, key, receiver.url(), event_types=["message.*", "note.*"])
    expected: dict[str, list[str]] = {}
    for _ in range(4):
        status, created = await hub.call("POST", "/api/sessions", token=akey, json={})
        assert status == 201
        sid, token = created["session"]["id"], created["agent_token"]
        own_session.tokens[sid] = token  # type: ignore[attr-defined]
        (one,) = await say(hub, sid, "one")
        await _put_note(hub, sid, token, title="N", content="-", expected_version=0)
        (two,) = await say(hub, sid, "two")
        expected[sid] = [f"msg_{sid}_{one}", f"evt_{sid}_1", f"msg_{sid}_{two}"]
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    env = {
        **os.environ,
        "HUB_DATABASE_URL": wh_config.database_url or "",
        "HUB_SECRET_KEY": TEST_SECRET_KEY,
        "HUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "HUB_WEBHOOK_POLL_INTERVAL": "0.05",
        "HUB_WEBHOOK_RETRY_SCHEDULE": "0.05",
        "HUB_WEBHOOK_TIMEOUT": "2",
        "HUB_WEBHOOK_LEASE": "3",
    }
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub.cli",
            "worker",
            env={**env, "HUB_WEBHOOK_METRICS_PORT": str(ports[i])},
            stdout=asyncio.subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    try:
        async with asyncio.timeout(TIMEOUT):
            port = await first
        sender = [
            p
            for p in processes
            if any(c.laddr and c.laddr[1] == port for c in psutil.Process(p.pid).net_connections())
        ]
        assert len(sender) == 1
        (dead,) = sender
        metrics_port = ports[processes.index(dead)]
        async with ClientSession() as http:  # the worker's own /metrics
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as scraped:
                assert scraped.status == 200
                assert "hub_webhook_attempts_total" in await scraped.text()
        dead.send_signal(signal.SIGKILL)
        assert await dead.wait() == -signal.SIGKILL
        killed.set()
        everything = {i for ids in expected.values() for i in ids}
        await receiver.wait(lambda: everything <= set(receiver.ids()))
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
    (interrupted,) = {i for i in receiver.ids() if i == receiver.got[0][2]["webhook-id"]}
    assert receiver.ids().count(interrupted) >= 2
    for sid, ids in expected.items():
        got = [i for i in receiver.ids() if sid in i]
        assert list(dict.fromkeys(got)) == ids  # each at least once, in order
    bodies: dict[str, bytes] = {}
    for _, _, headers, raw in receiver.got:
        assert bodies.setdefault(headers["webhook-id"], raw) == raw


async def test_a_lease_that_runs_out_is_taken_over(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """A worker stopped while its request hangs (cancelled, its lease left as a crash
    leaves it) holds the stream only until the lease runs out (3 s here); then another
    worker delivers everything."""
    hang = asyncio.Event()

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        if n == 0:
            await hang.wait()
        return web.Response(text="ok")

    receiver.answer = answer
    key, sid = await own_session(hub)
    await register(hub, key, receiver.url(), session_id=sid)
    ids = await say(hub, sid, "p", "q")
    first = await workers()
    await receiver.wait(lambda: len(receiver.got) >= 1)
    started = time.monotonic()
    await first.close()
    hang.set()
    await workers()
    await receiver.wait(lambda: len(receiver.got) >= 3)
    assert time.monotonic() - started >= 2.0  # not before the lease ran out
    assert receiver.ids() == [f"msg_{sid}_{i}" for i in (ids[0], ids[0], ids[1])]


class _conn:
    """A connection of its own to the test database."""

    def __init__(self, config: Config) -> None:
        self._url = config.database_url or ""

    async def __aenter__(self) -> Any:
        import asyncpg

        self._conn = await asyncpg.connect(self._url)
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        await self._conn.close()


async def test_each_scope_hears_its_sessions_only(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """A space's endpoint hears the sessions of that space (not its owner's others), a
    person's unscoped one every session of their agents, a session's own (agent A's)
    that session, its outbox events too, signed with its own secret. A member removed
    from the space hears its sessions no more: what follows is not delivered to them,
    nor redelivered on request, and no stream is opened for them again."""
    from tests.web.test_spaces import add, username, verified_agent

    ada, bob, cy = await person(hub), await person(hub), await person(hub)
    space = await new_space(hub, ada)
    slug = space["slug"]
    for who, role in ((bob, "member"), (cy, "viewer")):
        assert (await add(hub, ada, slug, await username(hub, who), role))[0] == 201
    bob_key = await verified_agent(hub, bob)
    sessions = []
    for where in ({"workspace_id": slug}, {}):
        status, created = await hub.call("POST", "/api/sessions", token=bob_key, json=where)
        assert status == 201, created
        own_session.tokens[created["session"]["id"]] = created["agent_token"]  # type: ignore[attr-defined]
        sessions.append(created["session"]["id"])
    inside, outside = sessions
    token = own_session.tokens[inside]  # type: ignore[attr-defined]
    await register(hub, ada, receiver.url("/space"), space=slug)
    cy_hook = (await register(hub, cy, receiver.url("/cy"), space=slug))["webhook"]
    await register(hub, bob, receiver.url("/bob"))
    status, own = await hub.call(
        "POST",
        f"/api/sessions/{inside}/webhooks",
        token=token,
        json={"url": receiver.url("/own"), "event_types": ["*"]},
    )
    assert status == 201, own
    await say(hub, inside, "x")
    await say(hub, outside, "y")
    await _put_note(hub, inside, token, title="N", content="-", expected_version=0)
    worker = await workers()
    everywhere = {"/space": 1, "/cy": 1, "/bob": 2, "/own": 2}
    await receiver.wait(lambda: all(len(receiver.ids(p)) >= n for p, n in everywhere.items()))
    assert receiver.ids("/space") == receiver.ids("/cy") == [f"msg_{inside}_1"]
    assert sorted(receiver.ids("/bob")) == sorted([f"msg_{inside}_1", f"msg_{outside}_1"])
    assert receiver.ids("/own") == [f"msg_{inside}_1", f"evt_{inside}_1"]
    for _, path, headers, raw in receiver.got:
        if path == "/own":
            Verifier(own["secret"]).verify(raw, headers)

    status, _ = await hub.call(
        "DELETE", f"/api/spaces/{slug}/members/{await username(hub, cy)}", token=ada
    )
    assert status == 204
    await say(hub, inside, "z")
    await receiver.wait(
        lambda: all(f"msg_{inside}_2" in receiver.ids(p) for p in ("/space", "/bob", "/own"))
    )
    assert receiver.ids("/cy") == [f"msg_{inside}_1"]
    status, error = await hub.call(
        "POST",
        f"/api/webhooks/{cy_hook['id']}/redeliver",
        token=cy,
        json={"webhook_id": f"msg_{inside}_2"},
    )
    assert (status, error["code"]) == (404, "not_found")
    await worker.close()
    async with _conn(wh_config) as conn:  # the stream its first delivery since dropped
        await conn.execute("DELETE FROM webhook_streams WHERE endpoint_id = $1", cy_hook["id"])
        assert await webhook_store.discover_streams(conn, [cy_hook["id"]]) == 0  # not again


# --- the SSRF guard ---------------------------------------------------------------------


def test_internal_addresses_are_refused() -> None:
    """Loopback, private, link-local (cloud metadata), shared, multicast, reserved and
    unspecified addresses are refused, also inside IPv6; public ones are not."""
    for text in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
    ):
        assert address_refusal(ipaddress.ip_address(text)) is not None, text
    for text in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert address_refusal(ipaddress.ip_address(text)) is None, text


def test_the_retry_schedule_backs_off_with_jitter() -> None:
    """Each failure waits the schedule's next step (then its last), stretched by at
    most 10%; a longer Retry-After wins, capped at a day."""
    schedule = (5.0, 300.0, 1800.0)
    for attempts, base in ((1, 5.0), (2, 300.0), (3, 1800.0), (9, 1800.0)):
        delay = retry_delay(attempts, schedule)
        assert base <= delay <= base * 1.1
    assert retry_delay(1, schedule, retry_after=60) == 60
    assert retry_delay(2, schedule, retry_after=1) >= 300
    assert retry_delay(1, schedule, retry_after=10**9) == 86_400


def test_the_default_schedule_is_the_standards_and_retry_after_is_read() -> None:
    """By default the first attempt is immediate, then 5 s, 5 min, 30 min, 2 h, 5 h,
    10 h and every 10 h after (Standard Webhooks), 15 s per attempt; `Retry-After` is
    read as seconds or as an HTTP date (a past one: now), anything else ignored."""
    config = load_config({})
    hours = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
    assert config.retry_schedule() == hours and config.webhook_timeout == 15.0
    assert retry_delay(0, hours) == 0.0
    assert 36000.0 <= retry_delay(12, hours) <= 39600.0
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Fri, 01 May 2026 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now) == 0.0
    for unreadable in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(unreadable, now) is None, unreadable


async def test_internal_addresses_and_redirects_are_refused_at_delivery(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """Without HUB_WEBHOOK_ALLOW_PRIVATE a worker refuses http:// and a name that
    resolves to 127.0.0.1, and sends nothing; a redirect is a failed attempt, never
    followed."""
    key, sid = await own_session(hub)
    assert receiver.server is not None
    port = receiver.server.port
    plain = (await register(hub, key, receiver.url("/plain"), session_id=sid))["webhook"]
    named = (await register(hub, key, f"https://localhost:{port}/named", session_id=sid))["webhook"]
    await say(hub, sid, "secret plans")
    worker = await workers(webhook_allow_private=False, webhook_retry_schedule="60")
    await until(worker, check=lambda: worker.tried[plain["id"]] + worker.tried[named["id"]] == 2)
    plain_log = (await deliveries(hub, key, plain["id"]))[0]
    named_log = (await deliveries(hub, key, named["id"]))[0]
    assert plain_log["status"] is None and "https" in plain_log["error"]
    assert named_log["status"] is None and "loopback" in named_log["error"], named_log
    assert receiver.got == []


async def test_a_redirect_is_not_followed(hub: HubClient, receiver: Receiver, workers: Any) -> None:
    """A 302 is recorded as a failed attempt and its Location is never requested."""

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": receiver.url("/elsewhere")})

    receiver.answer = answer
    key, sid = await own_session(hub)
    hook = (await register(hub, key, receiver.url(), session_id=sid))["webhook"]
    await say(hub, sid, "go")
    worker = await workers()
    await until(worker, check=lambda: worker.tried[hook["id"]] >= 2)  # retried, not followed
    log = await deliveries(hub, key, hook["id"])
    assert {(d["status"], d["error"]) for d in log} == {(302, "redirects are not followed")}
    assert receiver.ids("/elsewhere") == []
    status, _ = await hub.call("DELETE", f"/api/webhooks/{hook['id']}", token=key)
    assert status == 204  # no retries every 0.1 s for the tests after this one


async def test_registration_refuses_what_it_must(
    database_url: str, wh_config: Config, receiver: Receiver
) -> None:
    """Without the allowance, http:// and internal IP literals are bad requests; a name
    is checked when it is reached: a test event (sent by the web process) to one that
    resolves to loopback is refused before anything is sent."""
    config = msgspec.structs.replace(wh_config, webhook_allow_private=False)
    server = HubTestServer(create_app(config, migrate=False), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            hub = HubClient(http, str(server.make_url("")))
            key = await person(hub)
            for url in (
                "http://example.com/hook",
                "https://127.0.0.1/hook",
                "https://[::ffff:127.0.0.1]/hook",
                "https://169.254.169.254/latest",
                "https://user:pw@example.com/",
                "ftp://example.com/",
            ):
                status, error = await hub.call(
                    "POST",
                    "/api/webhooks",
                    token=key,
                    json={"url": url, "event_types": ["*"]},
                )
                assert (status, error["code"]) == (400, "bad_request"), url
            await register(hub, key, "https://example.com/hook")
            assert receiver.server is not None
            named = await register(hub, key, f"https://localhost:{receiver.server.port}/hook")
            status, attempt = await hub.call(
                "POST", f"/api/webhooks/{named['webhook']['id']}/test", token=key
            )
            assert (status, attempt["status"]) == (200, None), attempt
            assert "refused" in attempt["error"] and "loopback" in attempt["error"]
            assert receiver.got == []
    finally:
        await server.close()


# --- who may register what ------------------------------------------------------------


async def test_nobody_registers_for_what_they_may_not_read(hub: HubClient) -> None:
    """Another person's session is not found, a space one is not a member of is not
    found, another's endpoint is not found; agent B and other sessions' tokens are
    refused; a session's own endpoint hears only that session; nasty input is a bad
    request."""
    ada, sid = await own_session(hub)
    bob = await person(hub)
    url = "http://127.0.0.1:9/hook"
    status, error = await hub.call(
        "POST",
        "/api/webhooks",
        token=bob,
        json={"url": url, "event_types": ["*"], "session_id": sid},
    )
    assert (status, error["code"]) == (404, "session_not_found")
    space = await new_space(hub, ada)
    status, error = await hub.call(
        "POST",
        "/api/webhooks",
        token=bob,
        json={"url": url, "event_types": ["*"], "space": space["slug"]},
    )
    assert (status, error["code"]) == (404, "not_found")
    scoped = await register(hub, ada, url, space=space["slug"])
    assert scoped["webhook"]["space_id"] == space["id"]
    for path in ("", "/deliveries"):
        status, error = await hub.call(
            "GET", f"/api/webhooks/{scoped['webhook']['id']}{path}", token=bob
        )
        assert (status, error["code"]) == (404, "not_found")
    status, _ = await hub.call("DELETE", f"/api/webhooks/{scoped['webhook']['id']}", token=bob)
    assert status == 404

    a_token = own_session.tokens[sid]  # type: ignore[attr-defined]
    status, made = await hub.call(
        "POST",
        f"/api/sessions/{sid}/webhooks",
        token=a_token,
        json={"url": url, "event_types": ["message.created"]},
    )
    assert status == 201 and made["webhook"]["owner"] == "session"
    own_id = made["webhook"]["id"]
    status, listed = await hub.call("GET", f"/api/sessions/{sid}/webhooks", token=a_token)
    assert [w["id"] for w in listed["webhooks"]] == [own_id]
    status, _ = await hub.call("GET", f"/api/webhooks/{own_id}", token=ada)
    assert status == 404  # the person's key does not reach the session's endpoint
    status, rotated = await hub.call(
        "POST", f"/api/webhooks/{own_id}/secret", token=a_token, json={"overlap_seconds": 0}
    )
    assert status == 200 and rotated["secret"].startswith("whsec_")

    created = await hub.session_with_b()
    status, error = await hub.call(
        "POST",
        f"/api/sessions/{created['id']}/webhooks",
        token=created["b"],
        json={"url": url, "event_types": ["*"]},
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await hub.call(
        "POST",
        f"/api/sessions/{sid}/webhooks",
        token=created["a"],
        json={"url": url, "event_types": ["*"]},
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, _ = await hub.call("GET", f"/api/webhooks/{own_id}", token=created["a"])
    assert status == 404
    status, error = await hub.call(
        "POST",
        f"/api/sessions/{sid}/webhooks",
        token=a_token,
        json={"url": url, "event_types": ["*"], "session_id": created["id"]},
    )
    assert (status, error["code"]) == (400, "bad_request")

    for body in (
        {"url": url + "\u0000", "event_types": ["*"]},
        {"url": "http://" + "a" * 3000 + ".com/", "event_types": ["*"]},
        {"url": url, "event_types": []},
        {"url": url, "event_types": ["nothing.*"]},
        {"url": url, "event_types": ["message.created", "MESSAGE"]},
        {"url": url, "event_types": ["*"], "secret": "mine"},
        {"url": url, "event_types": ["*"], "session_id": "ses_\u0000"},
        {"url": "http://exa mple.com/", "event_types": ["*"]},
    ):
        data = msgspec.json.encode(body).replace(b"\\\\u0000", b"\\u0000")
        status, error = await hub.call("POST", "/api/webhooks", token=ada, data=data)
        assert status in (400, 404) and error["code"] in ("bad_request", "session_not_found"), body
    status, error = await hub.call("GET", "/api/webhooks/whk_nope", token=ada)
    assert (status, error["code"]) == (404, "not_found")
    status, error = await hub.call("GET", "/api/webhooks")
    assert (status, error["code"]) == (401, "unauthorized")


async def test_rotation_signs_with_both_secrets_and_no_secret_is_logged(
    hub: HubClient, receiver: Receiver, workers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """After a rotation with an overlap, deliveries carry two signatures, each of which
    verifies with its secret; with no overlap only the new one signs. No log line at
    any level holds a secret."""
    caplog.set_level(logging.DEBUG)
    key, sid = await own_session(hub)
    made = await register(hub, key, receiver.url(), session_id=sid)
    old, hook = made["secret"], made["webhook"]
    status, rotated = await hub.call(
        "POST", f"/api/webhooks/{hook['id']}/secret", token=key, json={"overlap_seconds": 3600}
    )
    assert status == 200
    new = rotated["secret"]
    status, shown = await hub.call("GET", f"/api/webhooks/{hook['id']}", token=key)
    assert shown["secret_rotates_at"] == rotated["previous_expires_at"]
    await say(hub, sid, "both")
    await workers()
    await receiver.wait(lambda: len(receiver.got) >= 1)
    _, _, headers, raw = receiver.got[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Verifier(secret).verify(raw, headers)

    status, again = await hub.call(
        "POST", f"/api/webhooks/{hook['id']}/secret", token=key, json={"overlap_seconds": 0}
    )
    newest = again["secret"]
    await say(hub, sid, "one")
    await receiver.wait(lambda: len(receiver.got) >= 2)
    _, _, headers, raw = receiver.got[1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Verifier(newest).verify(raw, headers)
    with pytest.raises(Exception, match="signature"):
        Verifier(new).verify(raw, headers)
    text = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    for secret in (old, new, newest):
        assert secret not in text and secret[6:] not in text


async def test_a_slow_endpoint_times_out_and_is_retried(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """An answer that does not come within the attempt timeout is a failed attempt
    (no status, the reason logged), retried with the same webhook-id."""
    never = asyncio.Event()

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        if n == 0:
            await never.wait()
        return web.Response(text="ok")

    receiver.answer = answer
    key, sid = await own_session(hub)
    hook = (await register(hub, key, receiver.url(), session_id=sid))["webhook"]
    ids = await say(hub, sid, "slow")
    worker = await workers(webhook_timeout=0.3)
    await until(worker, check=lambda: worker.delivered == 1)
    never.set()
    assert receiver.ids() == [f"msg_{sid}_{ids[0]}"] * 2
    log = list(reversed(await deliveries(hub, key, hook["id"])))
    assert [(d["status"], d["error"]) for d in log] == [
        (None, "no answer within 0.3 s"),
        (200, None),
    ]


# --- every event type -------------------------------------------------------------------


async def _put_note(hub: HubClient, sid: str, token: str, **body: Any) -> dict[str, Any]:
    if "note_id" in body:
        note_id = body.pop("note_id")
        status, saved = await hub.call(
            "PUT", f"/api/sessions/{sid}/notes/{note_id}", token=token, json=body
        )
    else:
        status, saved = await hub.call("POST", f"/api/sessions/{sid}/notes", token=token, json=body)
    assert status in (200, 201), saved
    return saved  # type: ignore[no-any-return]


async def test_every_event_type_arrives_signed_in_order_from_the_outbox(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """An endpoint for `*` hears, in the order they happened and each signed: the
    session starting when agent B joins, a message, a note created and edited, a file
    written, the session completed, both agents' ratings (not a changed one) and the
    deletion. Each body is `{type, timestamp, data}` with the websocket's payload (a
    `rating` for ratings); an outbox event's webhook-id is `evt_<session>_<n>`, n
    gap-free, the same on its retry after a 500."""
    from tests.web.test_ratings import rate, shared_session

    receiver.answer = lambda request, n: _status(500 if n == 0 else 200)
    ada, bob = await person(hub), await person(hub)
    a, b = await new_agent(hub, ada), await new_agent(hub, bob, visibility="public")
    a_key = (await agent_key(hub, ada, a["slug"]))["token"]
    b_key = (await agent_key(hub, bob, b["slug"]))["token"]
    made = await register(hub, ada, receiver.url(), event_types=["*"])
    sid, token = await shared_session(hub, a, a_key, b_key, complete=False)
    own_session.tokens[sid] = token  # type: ignore[attr-defined]
    await say(hub, sid, "hello")
    note = await _put_note(hub, sid, token, title="Plan", content="v1", expected_version=0)
    await _put_note(hub, sid, token, note_id=note["id"], content="v2", expected_version=1)
    status, _ = await hub.call(
        "PUT", f"/api/sessions/{sid}/files/src/a.py", token=token, json={"content": "x = 1\n"}
    )
    assert status in (200, 201)
    status, _ = await hub.call(
        "PATCH", f"/api/sessions/{sid}", token=token, json={"status": "completed"}
    )
    assert status == 200
    for key, score in ((a_key, 5), (b_key, 4), (a_key, 3)):
        status, rated = await rate(hub, sid, key, score)
        assert status in (200, 201), rated
    status, _ = await hub.call("DELETE", f"/api/sessions/{sid}", token=token)
    assert status == 204

    await workers()
    await receiver.wait(lambda: len(receiver.got) >= 10)
    types = [b["type"] for b in receiver.bodies()]
    assert types == [
        "session.status_changed",
        "session.status_changed",  # its retry, after the 500
        "message.created",
        "note.created",
        "note.updated",
        "file.written",
        "session.status_changed",
        "rating.created",
        "rating.created",
        "session.deleted",
    ]
    assert receiver.ids() == [
        f"evt_{sid}_1",
        f"evt_{sid}_1",
        f"msg_{sid}_1",
        *[f"evt_{sid}_{n}" for n in range(2, 9)],
    ]
    for _, _, headers, raw in receiver.got:
        Verifier(made["secret"]).verify(raw, headers)
    data = [b["data"] for b in receiver.bodies()[1:]]
    assert data[0]["type"] == "session" and data[0]["session"]["status"] == "active"
    assert data[1]["type"] == "message"
    assert (data[2]["type"], data[2]["note"]["content"], data[2]["note"]["version"]) == (
        "note",
        "v1",
        1,
    )
    assert (data[3]["note"]["content"], data[3]["note"]["version"]) == ("v2", 2)
    assert (data[4]["type"], data[4]["file"]["path"]) == ("file", "src/a.py")
    assert data[5]["session"]["status"] == "completed"
    assert [(d["type"], d["rating"]["score"]) for d in data[6:8]] == [("rating", 5), ("rating", 4)]
    assert data[8]["type"] == "session" and data[8]["deleted"] is True
    for body in receiver.bodies():
        assert body["timestamp"].endswith("Z") or "+" in body["timestamp"]
    async with _conn(wh_config) as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM webhook_events WHERE session_id = $1", sid)
            == 8
        )


async def _post(hub: HubClient, path: str, token: str, body: dict[str, Any]) -> Any:
    status, answer = await hub.call("POST", path, token=token, json=body)
    assert status in (200, 201), answer
    return answer


async def test_the_newer_areas_arrive_as_their_own_types(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """An upload, an artifact made and updated, an approval decided and one expired, and
    an interrupt arrive as `attachment.uploaded`, `artifact.created`, `artifact.updated`,
    `approval.decided` and `session.interrupted`, signed, in the order they happened,
    each with its websocket payload and a gap-free `evt_` id; the system message of a
    decision or an interrupt arrives as `message.created` too, just before. An
    `artifact.*` filter hears the two artifact types only."""
    ada, bob = await person(hub), await person(hub)
    a, b = await new_agent(hub, ada), await new_agent(hub, bob, visibility="public")
    a_key = (await agent_key(hub, ada, a["slug"]))["token"]
    b_key = (await agent_key(hub, bob, b["slug"]))["token"]
    made = await register(hub, ada, receiver.url(), event_types=["*"])
    arts = await register(hub, ada, receiver.url("/artifacts"), event_types=["artifact.*"])
    created = await _post(hub, "/api/sessions", a_key, {})
    sid, token = created["session"]["id"], created["agent_token"]
    own_session.tokens[sid] = token  # type: ignore[attr-defined]
    b_token = (await _post(hub, "/api/join", b_key, {"invite_code": created["invite_code"]}))[
        "token"
    ]
    base = f"/api/sessions/{sid}"
    async with hub.http.post(
        f"{hub.base}{base}/attachments",
        data=b"hello",
        params={"name": "hello.txt"},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    ) as resp:
        upload = await resp.json()
        assert resp.status == 201, upload
    (plan,) = await say(hub, sid, "plan")
    artifact = await _post(
        hub,
        f"{base}/artifacts",
        token,
        {"title": "T", "message_id": plan, "data": {"kind": "table", "columns": ["x"], "rows": []}},
    )
    status, updated = await hub.call(
        "PUT",
        f"{base}/artifacts/{artifact['id']}",
        token=token,
        json={"expected_version": 1, "title": "T2", "data": artifact["data"]},
    )
    assert status == 200, updated

    async def ask(expires_in: float) -> int:
        approval = {"description": "deploy", "expires_in": expires_in}
        sent = await _post(
            hub,
            f"{base}/messages",
            b_token,
            {
                "client_msg_id": os.urandom(8).hex(),
                "content": "deploy?",
                "msg_type": "action",
                "metadata": {"approval": approval},
            },
        )
        return int(sent["message"]["id"])

    asked = await ask(600)
    decided = await _post(
        hub, f"{base}/approvals/{asked}/decision", token, {"decision": "approved"}
    )
    stopped = await _post(hub, f"{base}/interrupts", token, {"target": "agent_b", "reason": "stop"})
    await ask(1)  # nobody decides: the sweeper decides it `expired`

    await workers()
    await receiver.wait(lambda: len(receiver.bodies()) >= 13, timeout=TIMEOUT)
    bodies = receiver.bodies()
    assert [b["type"] for b in bodies] == [
        "session.status_changed",
        "attachment.uploaded",
        "message.created",
        "artifact.created",
        "artifact.updated",
        "message.created",  # the request
        "message.created",  # its decision's system message
        "approval.decided",
        "message.created",  # the interrupt's system message
        "session.interrupted",
        "message.created",  # the request nobody decides
        "message.created",  # its expiry's system message
        "approval.decided",
    ]
    assert [i for i in receiver.ids() if i.startswith("evt_")] == [
        f"evt_{sid}_{n}" for n in range(1, 8)
    ]
    for _, path, headers, raw in receiver.got:
        Verifier((made if path == "/hook" else arts)["secret"]).verify(raw, headers)
    data = [b["data"] for b in bodies]
    assert data[1] == {"type": "attachment", "attachment": upload}
    assert data[3] == {"type": "artifact", "artifact": artifact}
    assert data[4] == {"type": "artifact", "artifact": updated}
    assert data[6]["message"]["id"] == decided["decision_message_id"]
    assert data[7] == {"type": "approval", "approval": decided}
    assert data[8]["message"] == stopped["message"]
    assert data[9] == {
        "type": "interrupt",
        "session_id": sid,
        "message_id": stopped["message"]["id"],
        "interrupt": stopped["interrupt"],
    }
    assert (data[12]["approval"]["status"], data[12]["approval"]["decided_by"]) == ("expired", None)
    assert data[12]["approval"]["decision_message_id"] == data[11]["message"]["id"]
    await receiver.wait(lambda: len(receiver.bodies("/artifacts")) >= 2)
    assert [b["type"] for b in receiver.bodies("/artifacts")] == [
        "artifact.created",
        "artifact.updated",
    ]
    assert receiver.ids("/artifacts") == [f"evt_{sid}_3", f"evt_{sid}_4"]
    async with _conn(wh_config) as conn:
        rows = await conn.fetch(
            "SELECT event_type FROM webhook_events WHERE session_id = $1 ORDER BY id", sid
        )
    assert [r["event_type"] for r in rows] == [
        b["type"] for b in bodies if b["type"] != "message.created"
    ]


async def test_jobs_arrive_when_created_and_when_their_status_changes(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """A `job.*` endpoint hears a job created, claimed, succeeded and refunded, and
    another created and cancelled, as `job.created` and `job.updated` with the job as
    the hub answered it, signed, in order, with gap-free `evt_` ids; progress reports
    and log lines write no outbox row."""
    s = await setup(hub, credits=100)
    sid, a, rkey = s.session["id"], s.session["a"], s.runners["main"]
    made = await register(hub, s.user, receiver.url(), event_types=["job.*"])
    first = await _post(hub, f"/api/sessions/{sid}/jobs", a, {"kind": "echo", "estimated_cost": 9})
    claimed = (await _post(hub, "/api/runner/claim", rkey, {}))["claimed"]
    run = f"/api/runner/jobs/{first['id']}"
    await _post(hub, run + "/progress", rkey, {"attempt": 1, "progress": 50, "used": 2})
    await _post(hub, run + "/log", rkey, {"attempt": 1, "entries": [{"text": "half"}]})
    ended = await _post(hub, run + "/result", rkey, {"attempt": 1, "status": "succeeded"})
    await _post(hub, f"/api/pools/{s.pool}/refunds", s.user, {"job_id": first["id"], "amount": 4})
    status, refunded = await hub.call("GET", f"/api/sessions/{sid}/jobs/{first['id']}", token=a)
    assert status == 200, refunded
    second = await _post(hub, f"/api/sessions/{sid}/jobs", a, {"kind": "echo", "estimated_cost": 1})
    cancelled = await _post(hub, f"/api/sessions/{sid}/jobs/{second['id']}/cancel", a, {})
    async with _conn(wh_config) as conn:
        rows = await conn.fetch(
            "SELECT event_type FROM webhook_events WHERE session_id = $1 ORDER BY id", sid
        )
    assert [r["event_type"] for r in rows] == [
        "job.created",
        "job.updated",
        "job.updated",
        "job.updated",
        "job.created",
        "job.updated",
    ]
    await workers()
    await receiver.wait(lambda: len(receiver.bodies()) >= 6)
    bodies = receiver.bodies()
    assert [b["type"] for b in bodies] == [r["event_type"] for r in rows]
    assert receiver.ids() == [f"evt_{sid}_{n}" for n in range(1, 7)]
    for _, _, headers, raw in receiver.got:
        Verifier(made["secret"]).verify(raw, headers)
    jobs = [b["data"]["job"] for b in bodies]
    assert all(b["data"]["type"] == "job" for b in bodies)
    assert jobs == [first, claimed["job"], ended, refunded, second, cancelled]
    assert [j["status"] for j in jobs] == [
        "queued",
        "running",
        "succeeded",
        "succeeded",
        "queued",
        "cancelled",
    ]
    assert (jobs[2]["progress"], jobs[2]["cost_used"], jobs[3]["cost_refunded"]) == (100, 2, 4)


async def test_filters_take_prefixes_and_nothing_is_written_that_no_filter_wants(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """`note.*` hears notes only, `session.deleted` the deletion only, `message.*` no
    outbox event. With no endpoint wanting a type, its change writes no outbox row (the
    message path writes none ever); a refused change (a stale note edit) writes none:
    every row is a committed change and every wanted committed change has its row."""
    key, sid = await own_session(hub)
    token = own_session.tokens[sid]  # type: ignore[attr-defined]
    await _put_note(hub, sid, token, title="Before", content="-", expected_version=0)
    await register(hub, key, receiver.url("/messages"), session_id=sid)
    await _put_note(hub, sid, token, title="Unwanted", content="-", expected_version=0)
    async with _conn(wh_config) as conn:
        count = "SELECT count(*) FROM webhook_events WHERE session_id = $1"
        assert await conn.fetchval(count, sid) == 0
        await register(hub, key, receiver.url("/notes"), event_types=["note.*"])
        await register(hub, key, receiver.url("/gone"), event_types=["session.deleted"])
        note = await _put_note(hub, sid, token, title="N", content="1", expected_version=0)
        status, stale = await hub.call(
            "PUT",
            f"/api/sessions/{sid}/notes/{note['id']}",
            token=token,
            json={"content": "lost", "expected_version": 7},
        )
        assert (status, stale["code"]) == (409, "conflict")
        await _put_note(hub, sid, token, note_id=note["id"], content="2", expected_version=1)
        ids = await say(hub, sid, "m")
        status, _ = await hub.call("DELETE", f"/api/sessions/{sid}", token=token)
        assert status == 204
        rows = await conn.fetch(
            "SELECT id, event_type FROM webhook_events WHERE session_id = $1 ORDER BY id", sid
        )
        assert [(r["id"], r["event_type"]) for r in rows] == [
            (1, "note.created"),
            (2, "note.updated"),
            (3, "session.deleted"),
        ]
    await workers()
    await receiver.wait(lambda: len(receiver.got) >= 4 and len(receiver.ids("/messages")) >= 1)
    assert receiver.ids("/notes") == [f"evt_{sid}_1", f"evt_{sid}_2"]
    assert receiver.ids("/gone") == [f"evt_{sid}_3"]
    assert receiver.ids("/messages") == [f"msg_{sid}_{ids[0]}"]


# --- test events, redelivery, the delivery log from the SDK and the terminal ------------


async def test_a_test_event_is_signed_logged_and_changes_nothing(
    hub: HubClient, receiver: Receiver
) -> None:
    """`POST /test` sends `webhook.test` now (no worker needed), to a disabled endpoint
    too, signed with the endpoint's secret; the answer is the attempt, also in the
    delivery log as kind `test`; the endpoint stays as it was (no failure recorded for
    a 500)."""
    receiver.answer = lambda request, n: _status(204 if n == 0 else 500)
    key, sid = await own_session(hub)
    made = await register(hub, key, receiver.url(), session_id=sid, enabled=False)
    hook = made["webhook"]
    status, attempt = await hub.call("POST", f"/api/webhooks/{hook['id']}/test", token=key)
    assert status == 200, attempt
    assert (attempt["status"], attempt["kind"], attempt["event_type"]) == (
        204,
        "test",
        "webhook.test",
    )
    assert attempt["session_id"] is None and attempt["webhook_id"].startswith("test_")
    _, _, headers, raw = receiver.got[0]
    body = Verifier(made["secret"]).verify(raw, headers)
    assert body["data"] == {
        "type": "test",
        "webhook": hook["id"],
        "message": "a test event from Hub",
    }
    status, failed = await hub.call("POST", f"/api/webhooks/{hook['id']}/test", token=key)
    assert (status, failed["status"], failed["next_attempt_at"]) == (200, 500, None)
    assert [d["id"] for d in await deliveries(hub, key, hook["id"])] == [
        failed["id"],
        attempt["id"],
    ]
    _, shown = await hub.call("GET", f"/api/webhooks/{hook['id']}", token=key)
    assert (shown["enabled"], shown["failing_since"]) == (False, None)
    bob = await person(hub)
    status, _ = await hub.call("POST", f"/api/webhooks/{hook['id']}/test", token=bob)
    assert status == 404


async def test_one_event_or_everything_since_a_time_is_delivered_again(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """Redelivering one event of the log sends it now with its webhook-id and body
    (attempt n+1, kind `redelivery`); an id not in this endpoint's log is not found.
    Redelivering since a time sends every event from then again, in order, while the
    ones before stay delivered once."""
    key, sid = await own_session(hub)
    token = own_session.tokens[sid]  # type: ignore[attr-defined]
    made = await register(hub, key, receiver.url(), session_id=sid, event_types=["*"])
    hook = made["webhook"]
    await say(hub, sid, "early")
    worker = await workers()
    await until(worker, check=lambda: worker.delivered == 1)  # its log row is in: `between`
    await _put_note(hub, sid, token, title="later", content="1", expected_version=0)
    await receiver.wait(lambda: len(receiver.got) >= 2)
    await until(worker, check=lambda: worker.delivered == 2)
    between = (await deliveries(hub, key, hook["id"]))[-1]["created_at"]  # the first's log time
    await say(hub, sid, "last")
    await receiver.wait(lambda: len(receiver.got) >= 3)
    first = receiver.got[1]
    path = f"/api/webhooks/{hook['id']}/redeliver"

    status, again = await hub.call("POST", path, token=key, json={"webhook_id": f"evt_{sid}_1"})
    assert status == 200, again
    one = again["delivery"]
    assert (one["kind"], one["attempt"], one["status"], one["event_type"]) == (
        "redelivery",
        2,
        200,
        "note.created",
    )
    assert receiver.got[3][2]["webhook-id"] == f"evt_{sid}_1" and receiver.got[3][3] == first[3]
    Verifier(made["secret"]).verify(receiver.got[3][3], receiver.got[3][2])
    for body in (
        {"webhook_id": f"evt_{sid}_99"},
        {"webhook_id": "msg_ses_other_1"},
        {"webhook_id": "nonsense"},
    ):
        status, error = await hub.call("POST", path, token=key, json=body)
        assert (status, error["code"]) == (404, "not_found"), body
    for body in ({}, {"webhook_id": f"evt_{sid}_1", "since": between}):
        status, error = await hub.call("POST", path, token=key, json=body)
        assert (status, error["code"]) == (400, "bad_request"), body

    status, again = await hub.call("POST", path, token=key, json={"since": between})
    assert (status, again["streams"], again["delivery"]) == (200, 1, None)
    await receiver.wait(lambda: len(receiver.got) >= 6)
    assert receiver.ids()[4:] == [f"evt_{sid}_1", f"msg_{sid}_2"]
    assert receiver.ids().count(f"msg_{sid}_1") == 1


async def test_any_event_the_endpoint_may_hear_is_delivered_again_on_request(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """An event never delivered to this endpoint (no worker ran yet; a message from
    before its registration too) is sent on request with its webhook-id and the body
    the worker sends later (attempt 1, kind `redelivery`). One its filter does not take
    is `conflict`; one of a session it may not hear, or one that does not exist, is
    `not_found`, the same answer."""
    key, sid = await own_session(hub)
    token = own_session.tokens[sid]  # type: ignore[attr-defined]
    (before,) = await say(hub, sid, "before the endpoint")
    made = await register(hub, key, receiver.url(), session_id=sid, event_types=["*"])
    notes_only = await register(hub, key, receiver.url("/notes"), event_types=["note.*"])
    await _put_note(hub, sid, token, title="N", content="1", expected_version=0)
    (after,) = await say(hub, sid, "after")
    path = f"/api/webhooks/{made['webhook']['id']}/redeliver"
    sent = {}
    for webhook_id in (f"msg_{sid}_{before}", f"evt_{sid}_1", f"msg_{sid}_{after}"):
        status, again = await hub.call("POST", path, token=key, json={"webhook_id": webhook_id})
        assert status == 200, again
        one = again["delivery"]
        assert (one["kind"], one["attempt"], one["status"], one["webhook_id"]) == (
            "redelivery",
            1,
            200,
            webhook_id,
        )
        sent[webhook_id] = receiver.got[-1][3]
        Verifier(made["secret"]).verify(receiver.got[-1][3], receiver.got[-1][2])
    assert [b["type"] for b in receiver.bodies()] == [
        "message.created",
        "note.created",
        "message.created",
    ]

    other_key, other_sid = await own_session(hub)
    (elsewhere,) = await say(hub, other_sid, "not for that endpoint")
    messages = set()
    for body in (
        {"webhook_id": f"msg_{other_sid}_{elsewhere}"},  # a session it may not hear
        {"webhook_id": f"msg_{sid}_{after + 5}"},
        {"webhook_id": f"evt_{sid}_2"},
        {"webhook_id": "whatever"},
    ):
        status, error = await hub.call("POST", path, token=key, json=body)
        assert (status, error["code"]) == (404, "not_found"), body
        messages.add(error["message"])
    assert len(messages) == 1  # nothing tells a session it may not hear from no event
    notes_path = f"/api/webhooks/{notes_only['webhook']['id']}/redeliver"
    status, error = await hub.call(
        "POST", notes_path, token=key, json={"webhook_id": f"msg_{sid}_{after}"}
    )
    assert (status, error["code"]) == (409, "conflict") and "message.created" in error["message"]
    status, _ = await hub.call(
        "POST", path, token=other_key, json={"webhook_id": f"msg_{sid}_{after}"}
    )
    assert status == 404  # not their endpoint

    worker = await workers()
    await receiver.wait(lambda: len(receiver.ids()) >= 5)
    await until(worker, check=lambda: worker.delivered >= 3)
    by_worker = dict(
        zip(
            receiver.ids()[3:],
            [raw for _, p, _, raw in receiver.got if p == "/hook"][3:],
            strict=True,
        )
    )
    assert by_worker == {k: v for k, v in sent.items() if k != f"msg_{sid}_{before}"}


async def test_the_sdk_and_the_terminal_manage_endpoints(
    hub: HubClient, receiver: Receiver, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK registers, tests, lists deliveries and redelivers; `hub webhook` does the
    same from the terminal with the user key (HUB_USER_KEY)."""
    from hub.client import HubAPI
    from tests.cli_helpers import hub as run_hub

    key, sid = await own_session(hub)
    async with HubAPI(hub.base) as rest:
        made = await rest.create_webhook(key, receiver.url(), ["message.*"], session_id=sid)
        hook_id = made.webhook.id
        assert (await rest.test_webhook(hook_id, key)).status == 200
        ids = await say(hub, sid, "sdk")
        worker = await workers()
        await until(worker, check=lambda: worker.delivered == 1)
        log = await rest.webhook_deliveries(hook_id, key)
        assert [(d.kind, d.status) for d in log] == [("event", 200), ("test", 200)]
        again = await rest.redeliver(hook_id, key, event=f"msg_{sid}_{ids[0]}")
        assert again.delivery is not None and again.delivery.kind == "redelivery"
        assert [w.id for w in await rest.webhooks(key)] == [hook_id]

    env = {"HUB_USER_KEY": key}
    monkeypatch.delenv("HUB_TOKEN", raising=False)
    code, out, err = await run_hub("webhook", "test", hook_id, "--url", hub.base, env=env)
    assert code == 0 and "200 in" in out, err
    code, out, err = await run_hub(
        "webhook", "deliveries", hook_id, "--url", hub.base, "--limit", "3", env=env
    )
    assert code == 0, err
    assert "WEBHOOK-ID" in out and "redelivery #2" in out and "test #1" in out
    code, out, err = await run_hub(
        "webhook", "redeliver", hook_id, "--since", "2000-01-01T00:00Z", "--url", hub.base, env=env
    )
    assert code == 0 and "1 stream(s)" in out, err
    code, out, err = await run_hub("webhook", "list", "--url", hub.base, env=env)
    assert code == 0 and hook_id in out, err
    code, out, err = await run_hub("webhook", "disable", hook_id, "--url", hub.base, env=env)
    assert code == 0 and "disabled by its owner" in out, err


async def test_the_sdk_follows_the_deliveries_as_they_are_made(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """`watch_deliveries` yields each attempt once, oldest first, as it is made (the
    worker's, a failed one and its retry too, and a test event sent elsewhere), and
    none made before it began; with `recent`, those first."""
    from hub.client import HubAPI

    receiver.answer = lambda request, n: _status(500 if n == 1 else 200)
    key, sid = await own_session(hub)
    read = asyncio.Event()

    async def on_request_end(*args: Any) -> None:
        read.set()

    tracing = aiohttp.TraceConfig()
    tracing.on_request_end.append(on_request_end)
    async with ClientSession(trace_configs=[tracing]) as http, HubAPI(hub.base, http=http) as rest:
        made = await rest.create_webhook(key, receiver.url(), ["message.*"], session_id=sid)
        hook_id = made.webhook.id
        before = await rest.test_webhook(hook_id, key)
        read.clear()
        watch = rest.watch_deliveries(hook_id, key, interval=0.05)
        coming = asyncio.ensure_future(anext(watch))
        async with asyncio.timeout(TIMEOUT):
            await read.wait()  # its first read of the log, with `before` in it
        ids = await say(hub, sid, "one", "two")
        await workers()
        seen = []
        async with asyncio.timeout(TIMEOUT):
            seen.append(await coming)
            while len(seen) < 3:
                seen.append(await anext(watch))
            elsewhere = await rest.test_webhook(hook_id, key)
            seen.append(await anext(watch))
        await watch.aclose()
        first = f"msg_{sid}_{ids[0]}"
        assert [(d.webhook_id, d.attempt, d.status) for d in seen] == [
            (first, 1, 500),
            (first, 2, 200),
            (f"msg_{sid}_{ids[1]}", 1, 200),
            (elsewhere.webhook_id, 1, 200),
        ]
        assert before.id not in {d.id for d in seen} and len({d.id for d in seen}) == 4
        recent = rest.watch_deliveries(hook_id, key, interval=0.05, recent=True)
        async with asyncio.timeout(TIMEOUT):
            again = [await anext(recent) for _ in range(5)]
        await recent.aclose()
        assert [d.id for d in again] == [before.id, *[d.id for d in seen]]


# --- the allow-list and DNS rebinding ---------------------------------------------------


class Names(AbstractResolver):
    """A name service of the test's own, like a hosts file it rewrites between lookups:
    `table` maps a name to its address; every lookup is counted."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"no such name: {host}")
        return [
            ResolveResult(
                hostname=host,
                host=self.table[host],
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


def test_the_allow_list_is_parsed_and_checked() -> None:
    """Networks and host names (exact, or `*.` for subdomains) lift the address check for
    what they name only; an allowed name or an allowed address literal may be `http://`;
    nonsense is a configuration error."""
    allow = parse_allowance("10.1.0.0/16, 127.0.0.2 hooks.internal *.corp.example")
    assert allow.refusal(ipaddress.ip_address("10.1.2.3")) is None
    assert allow.refusal(ipaddress.ip_address("::ffff:10.1.2.3")) is None
    assert "private" in (allow.refusal(ipaddress.ip_address("10.2.0.1")) or "")
    assert "loopback" in (allow.refusal(ipaddress.ip_address("127.0.0.1")) or "")
    assert allow.host_allowed("a.corp.example") and allow.host_allowed("HOOKS.internal.")
    assert not allow.host_allowed("corp.example") and not allow.host_allowed("evilcorp.example")
    for url in ("http://hooks.internal/x", "http://10.1.0.5:8000/x", "https://a.corp.example/"):
        assert check_url(url, allow) == url
    for url in ("http://example.com/", "https://10.2.0.1/", "https://127.0.0.1/"):
        with pytest.raises(HubError):
            check_url(url, allow)
    for bad in ("*", "a..b", "-x.example", "10.0.0.0/33"):
        with pytest.raises(ValueError):
            parse_allowance(bad)
    with pytest.raises(ValueError, match="HUB_WEBHOOK_ALLOW"):
        load_config({"HUB_WEBHOOK_ALLOW": "not a host!"})


async def test_a_name_rebound_to_an_internal_address_is_refused_at_connection() -> None:
    """The delivery client resolves a name when it connects, checks every address, and
    connects to the address it checked: while `rebind.test` resolves to 127.0.0.2 (an
    allowed network, standing in for a public address) the request arrives there; once
    the name answers 127.0.0.1, the connection is refused before anything is sent, and
    the internal server hears nothing. One lookup per connection, none after the check."""
    outside, inside = Receiver(), Receiver()
    await outside.start("127.0.0.2")
    await inside.start("127.0.0.1")
    assert outside.server is not None and inside.server is not None
    names = Names()
    allow = parse_allowance("127.0.0.2/32")
    client = http_client(allow, connections=4, resolver=names)
    try:
        names.table["rebind.test"] = "127.0.0.2"
        async with client.post(
            f"http://rebind.test:{outside.server.port}/hook", data=b"{}"
        ) as response:
            assert response.status == 200
        assert len(outside.got) == 1 and names.lookups == ["rebind.test"]

        names.table["rebind.test"] = "127.0.0.1"
        # the kept-alive connection goes on to the address checked, with no new lookup
        async with client.post(f"http://rebind.test:{outside.server.port}/hook") as response:
            assert response.status == 200
        assert len(outside.got) == 2 and names.lookups == ["rebind.test"]
        await client.close()
        client = http_client(allow, connections=4, resolver=names)
        for port in (inside.server.port, outside.server.port):
            with pytest.raises(aiohttp.ClientError) as raised:
                async with client.post(f"http://rebind.test:{port}/other", data=b"{}"):
                    pass
            refused = refusal_of(raised.value)
            assert refused is not None and "loopback" in str(refused), raised.value
        assert inside.got == [] and len(outside.got) == 2
        assert names.lookups == ["rebind.test"] * 3
    finally:
        await client.close()
        await outside.server.close()
        await inside.server.close()


async def test_the_allow_list_lets_a_worker_reach_what_it_names_only(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """With HUB_WEBHOOK_ALLOW=127.0.0.1/32 (and no ALLOW_PRIVATE) a worker delivers to
    `http://127.0.0.1:PORT` but not to `http://localhost:PORT` (a name it does not list:
    https required); listing the name `localhost` lets that one through too."""
    key, sid = await own_session(hub)
    assert receiver.server is not None
    port = receiver.server.port
    literal = (await register(hub, key, receiver.url("/literal"), session_id=sid))["webhook"]
    named = (await register(hub, key, f"http://localhost:{port}/named", session_id=sid))["webhook"]
    await say(hub, sid, "hello")
    worker = await workers(
        webhook_allow_private=False, webhook_allow="127.0.0.1/32", webhook_retry_schedule="60"
    )
    await until(worker, check=lambda: worker.tried[literal["id"]] + worker.tried[named["id"]] == 2)
    assert receiver.ids("/literal") == [f"msg_{sid}_1"] and receiver.ids("/named") == []
    refused = (await deliveries(hub, key, named["id"]))[0]
    assert "https" in refused["error"]
    assert (await deliveries(hub, key, literal["id"]))[0]["status"] == 200
    await worker.close()
    second = await workers(webhook_allow_private=False, webhook_allow="localhost")
    status, _ = await hub.call(
        "POST",
        f"/api/webhooks/{named['id']}/redeliver",
        token=key,
        json={"since": "2000-01-01T00:00:00Z"},  # the failed one waits 60 s: not that long
    )
    assert status == 200
    await until(second, check=lambda: second.delivered == 1)
    assert receiver.ids("/named") == [f"msg_{sid}_1"]


# --- metrics, and an endpoint failing too long ----------------------------------------


async def test_metrics_count_attempts_their_latency_and_the_queue(
    hub: HubClient, receiver: Receiver, workers: Any
) -> None:
    """Attempts are counted by outcome (a 500 `failed`, a 2xx `delivered`) with their
    latency; the queue gauge counts the events waiting, and drops by what was delivered."""
    release = asyncio.Event()

    async def answer(request: web.Request, n: int) -> web.StreamResponse:
        if n == 0:
            await release.wait()
            return web.Response(status=500)
        return web.Response(text="ok")

    receiver.answer = answer
    key, sid = await own_session(hub)
    hook = (await register(hub, key, receiver.url(), session_id=sid))["webhook"]
    await say(hub, sid, "a", "b")
    metrics = Metrics(process=False)
    worker = await workers(metrics=metrics)
    await receiver.wait(lambda: len(receiver.got) >= 1)  # the stream is open, held

    def sample(name: str, **labels: str) -> float:
        value = metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    waiting, _ = await worker.count_queue()
    assert waiting >= 2 and sample("hub_webhook_events_waiting") == waiting
    release.set()
    await until(worker, check=lambda: worker.delivered >= 2 and worker.tried[hook["id"]] == 3)
    after, _ = await worker.count_queue()
    assert waiting - after == 2 and sample("hub_webhook_events_waiting") == after
    assert sample("hub_webhook_attempts_total", outcome="delivered") == 2
    assert sample("hub_webhook_attempts_total", outcome="failed") >= 1
    assert sample("hub_webhook_delivery_seconds_count") >= 3
    assert "hub_webhook_streams_due" in metrics.exposition().decode()


async def test_an_endpoint_failing_too_long_is_disabled_and_says_why(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """An endpoint whose deliveries have failed for longer than HUB_WEBHOOK_DISABLE_AFTER
    (5 days by default; here it has failed for 6) is disabled at its next failure; its
    owner reads why, and nothing more is tried."""
    receiver.answer = lambda request, n: _status(500)
    key, sid = await own_session(hub)
    hook = (await register(hub, key, receiver.url(), session_id=sid))["webhook"]
    async with _conn(wh_config) as conn:
        await conn.execute(
            "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = $1",
            hook["id"],
        )
    await say(hub, sid, "anyone?")
    worker = await workers()
    assert wh_config.webhook_disable_after == 5 * 86400
    await until(worker, check=lambda: worker.tried[hook["id"]] == 1)
    _, shown = await hub.call("GET", f"/api/webhooks/{hook['id']}", token=key)
    assert shown["enabled"] is False
    assert shown["disabled_reason"].startswith("deliveries failed without a success since ")
    (attempt,) = await deliveries(hub, key, hook["id"])
    assert (attempt["status"], attempt["next_attempt_at"]) == (500, None)
    await worker.round()
    assert worker.tried[hook["id"]] == 1 and len(receiver.got) == 1


async def test_the_delivery_log_and_the_outbox_are_kept_for_the_retention_only(
    hub: HubClient, receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """A worker deletes delivery attempts and outbox events older than
    HUB_WEBHOOK_RETENTION_DAYS (30 by default); younger ones stay."""
    key, sid = await own_session(hub)
    token = own_session.tokens[sid]  # type: ignore[attr-defined]
    hook = (await register(hub, key, receiver.url(), session_id=sid, event_types=["*"]))["webhook"]
    await say(hub, sid, "old")
    await _put_note(hub, sid, token, title="old", content="-", expected_version=0)
    worker = await workers()
    await until(worker, check=lambda: worker.tried[hook["id"]] == 2)
    async with _conn(wh_config) as conn:
        await conn.execute(
            "UPDATE webhook_attempts SET created_at = now() - interval '31 days'"
            " WHERE endpoint_id = $1",
            hook["id"],
        )
        await conn.execute(
            "UPDATE webhook_events SET occurred_at = now() - interval '31 days'"
            " WHERE session_id = $1",
            sid,
        )
        status, recent = await hub.call("POST", f"/api/webhooks/{hook['id']}/test", token=key)
        assert status == 200
        attempts, events = await worker.prune()
        assert attempts >= 2 and events >= 1
        assert [d["id"] for d in await deliveries(hub, key, hook["id"])] == [recent["id"]]
        left = await conn.fetchval("SELECT count(*) FROM webhook_events WHERE session_id = $1", sid)
        assert left == 0
    assert wh_config.webhook_retention_days == 30


# --- the embedded default ---------------------------------------------------------------


async def test_hub_serve_delivers_in_process_unless_told_not_to(
    receiver: Receiver, workers: Any, wh_config: Config
) -> None:
    """A `hub serve` process with no worker beside it delivers webhooks itself (its own
    /metrics counts the attempt); one started with HUB_DELIVER_WEBHOOKS=false delivers
    nothing: the message it took waits for a worker, which delivers it."""
    from tests.scale.conftest import HubProcess

    env = {
        **os.environ,
        "HUB_DATABASE_URL": wh_config.database_url or "",
        "HUB_SECRET_KEY": TEST_SECRET_KEY,
        "HUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "HUB_WEBHOOK_POLL_INTERVAL": "0.05",
        "HUB_WEBHOOK_RETRY_SCHEDULE": "0.05",
        "HUB_LOG_LEVEL": "WARNING",
    }
    env.pop("HUB_REDIS_URL", None)
    for deliver in (True, False):
        process = HubProcess({**env, "HUB_DELIVER_WEBHOOKS": "true" if deliver else "false"})
        await process.start()
        try:
            async with ClientSession() as http:
                hub = HubClient(http, process.base)
                key, sid = await own_session(hub)
                path = f"/{'embedded' if deliver else 'web'}"
                made = await register(hub, key, receiver.url(path), session_id=sid)
                (sent,) = await say(hub, sid, "who delivers?")
                if deliver:
                    await receiver.wait(lambda: len(receiver.ids("/embedded")) >= 1)
                    attempts = await hub.metric("hub_webhook_attempts_total", outcome="delivered")
                    assert attempts == "1"
                else:
                    worker = await workers()
                    await until(worker, check=lambda w=worker: w.delivered == 1)
                    assert await hub.metric("hub_webhook_attempts_total") in ("", "0")
                assert receiver.ids(path) == [f"msg_{sid}_{sent}"]
                _, _, headers, raw = receiver.got[-1]
                Verifier(made["secret"]).verify(raw, headers)
                await hub.close()
        finally:
            process.terminate()
            assert await process.wait() == 0
