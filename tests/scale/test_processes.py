"""Several real hub processes behind no load balancer at all: clients pick a process,
and every participant still sees one gap-free order, through crashes and outages."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp import ClientSession

from hub.bus import keys
from hub.embedded import EmbeddedPostgres
from tests.helpers import Peer
from tests.scale.conftest import HubProcess, client_for
from tests.servers import RedisServer

TIMEOUT = 30.0


class Viewer:
    """A participant's whole view across reconnects (each with since=<last seen>)."""

    def __init__(self, http: ClientSession, token: str) -> None:
        self.http = http
        self.token = token
        self.earlier: list[dict[str, Any]] = []
        self.peer: Peer | None = None

    def messages(self) -> list[dict[str, Any]]:
        now = (
            [f["message"] for f in self.peer.frames if f["type"] == "message"] if self.peer else []
        )
        return self.earlier + now

    def ids(self) -> list[int]:
        return [m["id"] for m in self.messages()]

    async def attach(self, proc: HubProcess) -> Peer:
        if self.peer is not None:
            await self.peer.close()
            self.earlier = self.messages()
        ids = [m["id"] for m in self.earlier]
        self.peer = await client_for(self.http, proc).connect(
            self.token, since=ids[-1] if ids else 0
        )
        return self.peer

    async def until_count(self, total: int) -> None:
        assert self.peer is not None
        await self.peer.wait(lambda: len(self.messages()) >= total, timeout=TIMEOUT)


class Sender:
    """An agent sending numbered messages, each acked before the next; on a lost
    connection it moves to another process and re-sends what was not acked."""

    def __init__(self, http: ClientSession, token: str, name: str) -> None:
        self.viewer = Viewer(http, token)
        self.name = name
        self.acked: dict[str, int] = {}

    async def send(self, i: int, procs: list[HubProcess]) -> dict[str, Any]:
        cid = f"{self.name}-{i}"
        for _attempt in range(10):
            assert self.viewer.peer is not None
            try:
                answer = await self.viewer.peer.request(
                    {"type": "send", "client_msg_id": cid, "content": cid}, timeout=5
                )
            except (AssertionError, ConnectionError, TimeoutError):
                await self.viewer.attach(next(p for p in procs if p.proc.returncode is None))
                continue
            if answer["type"] == "ack":
                self.acked[cid] = answer["message"]["id"]
                return answer
            assert answer["code"] == "unavailable", answer
            await asyncio.sleep(0.2)  # the client's retry backoff
        raise AssertionError(f"{cid} was never acked")

    async def run(
        self, n: int, procs: list[HubProcess], after: dict[int, Any] | None = None
    ) -> None:
        for i in range(n):
            await self.send(i, procs)
            if after and i in after:
                await after[i]()


async def until_ready(http: ClientSession, proc: HubProcess) -> None:
    """Poll /readyz (there is nothing to subscribe to) until the process reports ready."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while (await client_for(http, proc).call("GET", "/readyz"))[0] != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        body = (await client_for(http, proc).call("GET", "/readyz"))[1]
        raise AssertionError(
            f"not ready: {body}\n"
            + "".join(x for x in proc.output if "hub.access" not in x)[-3000:]
        ) from None


def assert_complete(viewer: Viewer, total: int, senders: list[Sender]) -> None:
    """Ids 1..total in order, once each, and exactly the acked messages."""
    messages = viewer.messages()
    assert [m["id"] for m in messages] == list(range(1, total + 1))
    acked = {cid: mid for s in senders for cid, mid in s.acked.items()}
    assert {m["content"]: m["id"] for m in messages} == acked


async def test_three_processes_agree_on_one_order(hubs: Any, http: ClientSession) -> None:
    """A on process 1, B on 2, observers on 3, all sending at once: identical sequences."""
    p1, p2, p3 = await hubs(3)
    s = await client_for(http, p1).session_with_b()
    a, b = Sender(http, s["a"], "a"), Sender(http, s["b"], "b")
    await a.viewer.attach(p1)
    await b.viewer.attach(p2)
    obs = Viewer(http, s["obs"])
    await obs.attach(p3)
    humans = [Viewer(http, s["obs"]) for _ in range(2)]
    for h in humans:
        await h.attach(p3)

    async def chat(viewer: Viewer, name: str) -> None:
        assert viewer.peer is not None
        for i in range(20):
            await viewer.peer.say(f"{name}-{i}")

    n = 120
    await asyncio.gather(
        a.run(n, [p1]), b.run(n, [p2]), chat(humans[0], "h0"), chat(humans[1], "h1")
    )
    total = 2 * n + 40
    for v in (a.viewer, b.viewer, obs, *humans):
        await v.until_count(total)
        assert v.ids() == list(range(1, total + 1))
    sequences = {
        tuple(m["content"] for m in v.messages()) for v in (a.viewer, b.viewer, obs, *humans)
    }
    assert len(sequences) == 1


async def test_killed_process_clients_resume_elsewhere(hubs: Any, http: ClientSession) -> None:
    """kill -9 of a process mid-stream: its clients reconnect to another with since and
    end with the complete sequence; the unacked message is re-sent, not duplicated."""
    p1, p2, p3 = await hubs(3)
    s = await client_for(http, p1).session_with_b()
    a, b = Sender(http, s["a"], "a"), Sender(http, s["b"], "b")
    await a.viewer.attach(p1)
    await b.viewer.attach(p2)
    watchers = [Viewer(http, s["obs"]), Viewer(http, s["obs"])]
    await watchers[0].attach(p1)
    await watchers[1].attach(p3)

    async def crash() -> None:
        p1.kill()
        await p1.wait()
        peer = watchers[0].peer
        assert peer is not None
        await peer.closed()
        await watchers[0].attach(p3)

    n = 150
    await asyncio.gather(a.run(n, [p1, p2, p3], after={50: crash}), b.run(n, [p2]))
    for v in (a.viewer, b.viewer, *watchers):
        await v.until_count(2 * n)
        assert_complete(v, 2 * n, [a, b])


async def test_redis_restart_keeps_writes_and_converges(
    hubs: Any, http: ClientSession, redis_server: RedisServer
) -> None:
    """Redis stopped mid-stream: writes still commit and local delivery goes on; when
    Redis is back, every client converges to the complete sequence."""
    p1, p2 = await hubs(2)
    s = await client_for(http, p1).session_with_b()
    a, b = Sender(http, s["a"], "a"), Sender(http, s["b"], "b")
    await a.viewer.attach(p1)
    await b.viewer.attach(p2)
    watchers = [Viewer(http, s["obs"]), Viewer(http, s["obs"])]
    await watchers[0].attach(p1)
    await watchers[1].attach(p2)
    outage_acks: list[int] = []

    async def redis_down() -> None:
        await asyncio.to_thread(redis_server.stop)

    async def redis_up() -> None:
        outage_acks.extend(a.acked.values())
        local = watchers[0]  # on A's process: local delivery went on without Redis
        assert local.peer is not None
        await local.peer.wait(lambda: "a-80" in [m["content"] for m in local.messages()])
        await asyncio.to_thread(redis_server.start)

    n = 120
    await asyncio.gather(
        a.run(n, [p1], after={30: redis_down, 80: redis_up}),
        b.run(n, [p2]),
    )
    # during the outage A's messages kept committing (acked) and reached A's neighbour
    assert len(outage_acks) == 81
    for v in (a.viewer, b.viewer, *watchers):
        await v.until_count(2 * n)
        assert_complete(v, 2 * n, [a, b])
    for proc in (p1, p2):
        await until_ready(http, proc)
    more = await asyncio.gather(a.send(n, [p1]), b.send(n, [p2]))
    for v in (a.viewer, b.viewer, *watchers):
        await v.until_count(2 * n + 2)
        assert v.ids()[-2:] == sorted(m["message"]["id"] for m in more)


class SteadyAgents:
    """Agent A on one process and B on another, each sending 40 messages a second
    without waiting for acks (as a busy agent does), an observer on each process; every
    frame's arrival time kept, to measure how long after its ack each message arrives."""

    RATE = 40.0

    def __init__(self, session: dict[str, Any], a: Peer, b: Peer, watchers: list[Peer]) -> None:
        self.session = session
        self.agents = {"a": a, "b": b}
        self.peers = [a, b, *watchers]
        self.sent: dict[str, list[str]] = {"a": [], "b": []}
        self.sent_at: dict[str, float] = {}
        self.window: dict[str, tuple[int, int]] = {}

    @classmethod
    async def on(cls, http: ClientSession, p1: HubProcess, p2: HubProcess) -> SteadyAgents:
        s = await client_for(http, p1).session_with_b()
        a = await client_for(http, p1).connect(s["a"])
        b = await client_for(http, p2).connect(s["b"])
        watchers = [await client_for(http, p).connect(s["obs"]) for p in (p1, p2)]
        return cls(s, a, b, watchers)

    async def send(self, seconds: float, names: str = "ab") -> None:
        await asyncio.gather(*(self._send(name, seconds) for name in names))

    async def _send(self, name: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(int(seconds * self.RATE)):
            cid = f"{name}-{len(self.sent[name])}"
            self.sent[name].append(cid)
            self.sent_at[cid] = time.monotonic()
            await self.agents[name].send(
                {"type": "send", "client_msg_id": cid, "content": cid, "ref": cid}
            )
            await asyncio.sleep(max(0.0, start + (i + 1) / self.RATE - loop.time()))  # pacing

    def mark(self, edge: int) -> None:
        """Mark the start (0) or end (1) of the fault window."""
        for name, cids in self.sent.items():
            lo, hi = self.window.get(name, (0, 0))
            self.window[name] = (len(cids), hi) if edge == 0 else (lo, len(cids))

    def acks(self) -> dict[str, tuple[int, float]]:
        """client_msg_id: (message id, when its sender got the ack)."""
        return {
            f["ref"]: (f["message"]["id"], t)
            for peer in self.agents.values()
            for f, t in zip(peer.frames, peer.arrived, strict=True)
            if f["type"] == "ack"
        }

    async def check(self) -> tuple[float, float]:
        """Everything acked once and delivered to everyone once, in order. Returns, for
        the messages sent in the fault window, the longest wait for an ack and the
        longest a message took to reach a client after its ack."""
        total = sum(map(len, self.sent.values()))
        await self.peers[0].wait(lambda: len(self.acks()) == total, timeout=TIMEOUT)
        acked = self.acks()
        assert sorted(mid for mid, _ in acked.values()) == list(range(1, total + 1))
        during = [cid for name, (lo, hi) in self.window.items() for cid in self.sent[name][lo:hi]]
        ack_wait = max(acked[cid][1] - self.sent_at[cid] for cid in during)
        acked_at = {acked[cid][0]: acked[cid][1] for cid in during}
        lag = 0.0
        for peer in self.peers:
            await peer.wait(lambda peer=peer: len(peer.message_ids()) >= total, timeout=TIMEOUT)
            assert peer.message_ids() == list(range(1, total + 1))
            got = {
                f["message"]["id"]: f["message"]["content"]
                for f in peer.frames
                if f["type"] == "message"
            }
            assert got == {mid: cid for cid, (mid, _) in acked.items()}
            for f, t in zip(peer.frames, peer.arrived, strict=True):
                if f["type"] == "message" and f["message"]["id"] in acked_at:
                    lag = max(lag, t - acked_at[f["message"]["id"]])
        print(f"during the fault: acks within {ack_wait:.3f} s, delivery within {lag:.3f} s")
        return ack_wait, lag


async def test_redis_outage_keeps_delivery_within_a_second(
    hubs: Any, http: ClientSession, redis_server: RedisServer
) -> None:
    """With Redis down, two agents on two processes sending 40 messages a second each:
    every client gets every message within about a second of its ack (its own process's
    at once, the other's from PostgreSQL, even when nothing is sent on its own), and
    when Redis returns nothing is lost, doubled or out of order."""
    # the default heartbeat: the periodic upkeep must not be what delivers
    p1, p2 = await hubs(2, HUB_HEARTBEAT_INTERVAL="20")
    agents = await SteadyAgents.on(http, p1, p2)
    await agents.send(1.0)
    await asyncio.to_thread(redis_server.stop)
    agents.mark(0)
    await agents.send(2.0)
    await agents.send(3.0, "b")  # A's process now hears nothing of its own: B's only
    agents.mark(1)
    await asyncio.to_thread(redis_server.start)
    await agents.send(1.0)
    _, lag = await agents.check()
    assert lag < 2.0, f"a message reached a client {lag:.2f} s after its ack"


async def test_silent_redis_holds_up_neither_acks_nor_delivery(
    hubs: Any, http: ClientSession, redis_server: RedisServer
) -> None:
    """With Redis silent (stopped by SIGSTOP: sockets open, nothing answered), acks and
    delivery go on: no send waits on Redis for its ack; the other process, which
    publishes nothing, notices the silence and reads PostgreSQL, so every client gets
    every message within a few seconds; and when Redis resumes all converge."""
    p1, p2 = await hubs(2, HUB_HEARTBEAT_INTERVAL="20")
    agents = await SteadyAgents.on(http, p1, p2)
    await agents.send(1.0)
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        agents.mark(0)
        presence = client_for(http, p2).call(
            "GET", f"/api/sessions/{agents.session['id']}/presence", token=agents.session["obs"]
        )
        _, (status, _) = await asyncio.gather(
            agents.send(4.5, "a"),  # B's process publishes nothing: it must notice
            presence,  # the last known state, though Redis does not answer
        )
        agents.mark(1)
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    assert status == 200
    await agents.send(1.0)
    ack_wait, lag = await agents.check()
    assert ack_wait < 1.5, f"a send waited {ack_wait:.2f} s for its ack"
    assert lag < 3.0, f"a message reached a client {lag:.2f} s after its ack"


async def test_postgres_outage_refuses_then_recovers(
    hubs: Any, http: ClientSession, postgres: EmbeddedPostgres
) -> None:
    """PostgreSQL stopped: sends get `unavailable` and no ack; nothing acked is ever
    missing afterwards; service resumes when PostgreSQL returns."""
    p1, p2 = await hubs(2)
    s = await client_for(http, p1).session_with_b()
    a = Sender(http, s["a"], "a")
    await a.viewer.attach(p1)
    watcher = Viewer(http, s["obs"])
    await watcher.attach(p2)
    for i in range(10):
        await a.send(i, [p1])
    await asyncio.to_thread(postgres.stop)
    assert a.viewer.peer is not None
    refused = await a.viewer.peer.request(
        {"type": "send", "client_msg_id": "a-10", "content": "a-10"}
    )
    assert (refused["type"], refused["code"]) == ("error", "unavailable")
    status, _ = await client_for(http, p2).call("GET", "/readyz")
    assert status == 503
    await asyncio.to_thread(postgres.start)
    for i in range(10, 20):
        await a.send(i, [p1])
    await watcher.until_count(20)
    assert_complete(watcher, 20, [a])


async def test_crashed_process_participants_go_offline(hubs: Any, http: ClientSession) -> None:
    """B's process is killed; the others announce B offline once its presence TTL ends."""
    p1, p2 = await hubs(2)
    s = await client_for(http, p1).session_with_b()
    obs = await client_for(http, p1).connect(s["obs"])
    await client_for(http, p2).connect(s["b"])

    def bee(status: str) -> object:
        return [
            f
            for f in obs.frames
            if f["type"] == "presence"
            and f["presence"]["participant_id"] == "bee"
            and f["presence"]["status"] == status
        ]

    await obs.wait(lambda: bee("online"))
    p2.kill()
    await obs.wait(lambda: bee("offline"), timeout=TIMEOUT)
    _, listed = await client_for(http, p1).call(
        "GET", f"/api/sessions/{s['id']}/presence", token=s["obs"]
    )
    assert (
        next(p for p in listed["presence"] if p["participant_id"] == "bee")["status"] == "offline"
    )


async def test_sigterm_tells_clients_to_resume_and_exits(hubs: Any, http: ClientSession) -> None:
    """On SIGTERM a process closes its websockets with 4012 and exits promptly, cleanly."""
    (p1,) = await hubs(1)
    s = await client_for(http, p1).session_with_b()
    peers = [await client_for(http, p1).connect(s[k]) for k in ("a", "b", "obs")]
    p1.terminate()
    async with asyncio.timeout(15):
        code = await p1.wait()
    assert code == 0
    for peer in peers:
        assert await peer.closed() == 4012


async def test_garbage_on_the_bus_is_dropped(
    hubs: Any, http: ClientSession, redis_server: RedisServer
) -> None:
    """Malformed payloads on a session channel are logged and dropped; nothing breaks."""
    p1, p2 = await hubs(2)
    s = await client_for(http, p1).session_with_b()
    a = await client_for(http, p1).connect(s["a"])
    b = await client_for(http, p2).connect(s["b"])
    raw = aioredis.from_url(redis_server.url)
    try:
        for junk in (b"", b"x", b"node|", b"node|m1\nnot json", b"node|zzz", b"node|p0\n{}"):
            await raw.publish(keys.session_channel(s["id"]), junk)
    finally:
        await raw.aclose()
    await a.say("after the junk")
    await b.wait(lambda: b.message_ids() == [1])
    assert (await b.say("still fine"))["message"]["id"] == 2
    await a.wait(lambda: a.message_ids() == [1, 2])


async def test_concurrent_migrate_commands(postgres: EmbeddedPostgres, folder: Any) -> None:
    """Two `hub migrate` processes at the same moment on a fresh database: both succeed,
    each migration is recorded once."""
    import os

    url: str = postgres.url  # type: ignore[attr-defined]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute('CREATE DATABASE "fresh"')
    finally:
        await conn.close()
    fresh = url.replace("/postgres?", "/fresh?")
    env = {**os.environ, "HUB_DATABASE_URL": fresh}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub.cli",
            "migrate",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    assert [p.returncode for p in procs] == [0, 0], outputs
    conn = await asyncpg.connect(fresh)
    try:
        rows = await conn.fetch("SELECT version, count(*) FROM schema_migrations GROUP BY 1")
    finally:
        await conn.close()
    assert rows and all(r["count"] == 1 for r in rows)
    assert b"applied 0 migration(s)" in b"".join(o for o, _ in outputs)
