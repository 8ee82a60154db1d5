"""Hub benchmark: relay throughput, fan-out, idle connections, resume, and the ceilings
of this machine, measured in one run. Prints a table; `--json PATH` writes the figures.

The server under test is a real `hub serve` process; the load generator runs in another
process. On a machine with two or more cores the server is pinned to core 0 and the
load generator to core 1 (PostgreSQL and Redis float), so neither steals the other's
core. Latency is send→deliver, from timestamps taken in the load generator. Every
server is driven through the same lean websocket client (`leanws.py`), and CPU is read
for the server, the load generator, PostgreSQL and Redis over the timed window only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import multiprocessing as mp
import os
import platform
import queue as queue_module
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import psutil
from aiohttp import web
from leanws import LeanWS

ROOT = Path(__file__).resolve().parents[2]
SERVER_CORE = {0}
LOAD_CORES = {1} if (os.cpu_count() or 1) > 1 else {0}


# The load generator decodes only what it measures (msgspec skips the rest), so that it
# is not the bottleneck.


class _Stamp(msgspec.Struct):
    t: float


class _Message(msgspec.Struct):
    metadata: _Stamp


class _HubFrame(msgspec.Struct):
    message: _Message


class _Delta(msgspec.Struct):
    text: str


HUB_FRAME = msgspec.json.Decoder(_HubFrame)
DELTA_FRAME = msgspec.json.Decoder(_Delta)
DELTA, ENDED = b'{"type":"stream_delta"', b'{"type":"stream_ended"'
SIO_EVENT = msgspec.json.Decoder(tuple[str, _Stamp])


# --- helpers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def keep_pace(start: float, i: int, rate: float) -> None:
    """At `rate` per second (0: flat out), wait for the turn of send number `i`."""
    if rate:
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pin(pid: int, cores: set[int]) -> None:
    try:
        os.sched_setaffinity(pid, cores)
    except (AttributeError, OSError):
        pass


class CpuWindow:
    """CPU used by the server under test (its pids in HUB_BENCH_SERVER_PID), this load
    generator, PostgreSQL and Redis between creation and `stop()`, as percentages of one
    core; run in the load generator, so that only the measured window counts, not setup.
    Processes that start during the window (a new database connection) count in full.
    It also moves what the load generator has built so far out of the cyclic collector,
    so that the generator's own full collections do not show up as latency."""

    def __init__(self) -> None:
        gc.collect()
        gc.freeze()
        self.wall = time.perf_counter()
        self.before = self._sample()

    @staticmethod
    def _sample() -> dict[int, tuple[str, float]]:
        servers = os.environ.get("HUB_BENCH_SERVER_PID", "0").split(",")
        groups = {int(pid): "server" for pid in servers} | {os.getpid(): "load"}
        seen: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter(["name", "pid", "cpu_times"]):
            name, pid, times = proc.info["name"] or "", proc.info["pid"], proc.info["cpu_times"]
            group = groups.get(pid)
            if group is None and name == "postgres":
                group = "db"
            elif group is None and name.startswith("redis-server"):
                group = "redis"
            if group is not None and times is not None:
                seen[pid] = (group, times.user + times.system)
        return seen

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        used: dict[str, float] = {}
        for pid, (group, cpu) in self._sample().items():
            used[group] = used.get(group, 0.0) + cpu - self.before.get(pid, (group, 0.0))[1]
        return {f"{group}_cpu_pct": 100 * cpu / wall for group, cpu in used.items()}


class Server:
    """A process under test, with CPU and memory read from outside."""

    def __init__(self, argv: list[str], env: dict[str, str], ready: str) -> None:
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT
        )
        pin(self.proc.pid, SERVER_CORE)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        for raw in self.proc.stdout:
            if ready in raw.decode(errors="replace"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start")
        self.ps = psutil.Process(self.proc.pid)
        import threading

        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def cpu_times(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Servers:
    """Several processes under test, measured as one."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers]

    def cpu_times(self) -> float:
        return sum(s.cpu_times() for s in self.servers)

    def rss(self) -> int:
        return sum(s.rss() for s in self.servers)

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


def start_hub(
    database_url: str, redis_url: str | None, extra: dict[str, str] | None = None
) -> tuple[Server, str]:
    port = free_port()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "HUB_PORT": str(port),
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_RATE_PER_SECOND": "1000000",
        "HUB_RATE_BURST": "1000000",
        "HUB_SEND_QUEUE_FRAMES": "100000",
        "HUB_HEARTBEAT_INTERVAL": "60",
        "HUB_INVITE_ATTEMPTS_PER_MINUTE": "1000000",
        "HUB_SESSION_CREATIONS_PER_MINUTE": "1000000",  # every session from one address
        "HUB_MAX_CONNECTIONS_PER_PARTICIPANT": "1000000",  # idle: 100 sockets per token
        **(extra or {}),
    }
    if redis_url:
        env["HUB_REDIS_URL"] = redis_url
    else:
        env.pop("HUB_REDIS_URL", None)
    server = Server([sys.executable, "-m", "hub.cli", "serve"], env, "hub: serving on")
    return server, f"http://127.0.0.1:{port}"


def run_load(target: Any, *args: Any) -> Any:
    """Run an async load function in its own process (pinned away from the server)."""
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    proc = ctx.Process(target=_load_entry, args=(queue, target, args))
    proc.start()
    pin(proc.pid, LOAD_CORES)
    result = queue.get(timeout=900)
    proc.join(30)
    if isinstance(result, BaseException):
        raise result
    return result


def _load_entry(queue: Any, target: Any, args: tuple[Any, ...]) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        result = asyncio.run(target(*args))
        if isinstance(result, dict):
            result.setdefault(
                "load_cpu_pct", 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)
            )
        queue.put(result)
    except BaseException as exc:
        queue.put(RuntimeError(f"load generator failed: {exc!r}"))


async def make_session(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with http.post(base + "/api/sessions", json={"name": "bench"}) as r:
        created = await r.json()
    async with http.post(base + "/api/join", json={"invite_code": created["invite_code"]}) as r:
        joined = await r.json()
    return {
        "id": created["session"]["id"],
        "a": created["agent_token"],
        "b": joined["token"],
        "obs": created["observer_token"],
    }


async def ws_connect(http: aiohttp.ClientSession, base: str, token: str, **params: str) -> Any:
    return await http.ws_connect(
        base.replace("http", "ws", 1) + "/ws",
        params={"token": token, **params},
        max_msg_size=0,
        autoping=True,
    )


async def lean_connect(base: str, token: str) -> LeanWS:
    """A Hub websocket on the lean client, past its hello and resumed frames."""
    ws = await LeanWS.connect(base.replace("http", "ws", 1) + "/ws?token=" + token)
    await ws.receive()  # hello
    await ws.receive()  # resumed
    return ws


SEND = msgspec.json.Encoder()
ACK, MESSAGE = b'{"type":"ack"', b'{"type":"message"'


def _words(count: int) -> list[str]:
    rng = __import__("random").Random(15)
    found: dict[str, None] = {}
    while len(found) < count:
        found["".join(rng.choice("bcdfghjklmnprstvwz") + rng.choice("aeiou") for _ in range(3))] = (
            None
        )
    return list(found)


WORDS = _words(1000)
"""A vocabulary of made-up words for text that full-text search indexes as prose."""


def prose(rng: Any, words: int) -> str:
    """`words` words of the vocabulary, the first ones far more often (as in language)."""
    return " ".join(WORDS[int(len(WORDS) * rng.random() ** 3)] for _ in range(words))


_PROSE = [prose(__import__("random").Random(i), 16) for i in range(256)]


def send_frame(client_msg_id: str) -> bytes:
    """A Hub `send` frame stamped with the time it leaves the load generator: 100
    characters of one word, or, with HUB_BENCH_PROSE=1, about 100 of 16 words."""
    content = (
        _PROSE[hash(client_msg_id) % len(_PROSE)]
        if os.environ.get("HUB_BENCH_PROSE") == "1"
        else "x" * 100
    )
    return SEND.encode(
        {
            "type": "send",
            "client_msg_id": client_msg_id,
            "content": content,
            "metadata": {"t": time.time()},
        }
    )


# --- load: relay and fan-out --------------------------------------------------------------


async def commit_counts(http: aiohttp.ClientSession, bases: list[str]) -> tuple[int, int]:
    """(messages committed, commit batches) so far, from the servers' metrics."""
    messages = batches = 0
    for base in bases:
        async with http.get(base + "/metrics") as r:
            text = await r.text()
        metrics = dict(line.rsplit(" ", 1) for line in text.splitlines() if line[:1] != "#")
        messages += int(float(metrics["hub_messages_committed_total"]))
        batches += int(float(metrics["hub_commit_batches_total"]))
    return messages, batches


async def warm_up(http: aiohttp.ClientSession, base: str, messages: int = 200) -> None:
    """Send `messages` through a session of its own and wait for their acks, so that the
    timed window finds the server as it runs: its database connection has planned the
    commit statement and loaded the catalog (the first commit of a new one took 10-15 ms)."""
    s = await make_session(http, base)
    ws = await lean_connect(base, s["a"])
    for i in range(messages):
        ws.send(send_frame(f"warm{i}"))
    acks = 0
    async for batch in ws.batches():
        acks += sum(data.startswith(ACK) for data in batch)
        if acks >= messages:
            break
    ws.close()


async def relay_load(
    base: str, sessions: int, observers: int, messages: int, window: int, rate: float
) -> dict[str, Any]:
    """Each session: A and B send `messages` each (flat out with `window` unacked, or at
    `rate` msgs/s per sender); K observers watch. Latencies from every delivery. With
    several servers in `base` (comma-separated), A connects to the first, B to the last
    and the observers in turn, so that every message crosses between processes."""
    bases = base.split(",")
    base = bases[0]
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:
        made = [await make_session(http, base) for _ in range(sessions)]
        latencies: list[float] = []
        deliveries = 0
        acked = 0

        def delivered(data: bytes) -> None:
            nonlocal deliveries
            latencies.append(time.time() - HUB_FRAME.decode(data).message.metadata.t)
            deliveries += 1

        async def watch(ws: LeanWS) -> None:
            got = 0
            async for batch in ws.batches():
                for data in batch:
                    if data.startswith(MESSAGE):
                        delivered(data)
                        got += 1
                if got >= 2 * messages:
                    return

        async def agent(ws: LeanWS) -> None:
            """Send `messages`, and read until all acks and both agents' messages came."""
            nonlocal acked
            free = asyncio.Semaphore(window)
            mine = 0

            async def read() -> None:
                nonlocal acked, mine
                got = 0
                async for batch in ws.batches():
                    for data in batch:
                        if data.startswith(ACK):
                            acked += 1
                            mine += 1
                            free.release()
                        elif data.startswith(MESSAGE):
                            delivered(data)
                            got += 1
                    if mine >= messages and got >= 2 * messages:
                        return

            reader = asyncio.create_task(read())
            start = time.perf_counter()
            prefix = secrets.token_hex(4)
            for i in range(messages):
                await free.acquire()
                await keep_pace(start, i, rate)
                ws.send(send_frame(f"{prefix}{i}"))
            await reader

        agents, watchers = [], []
        for s in made:
            agents += [await lean_connect(base, s["a"]), await lean_connect(bases[-1], s["b"])]
            watchers += [
                await lean_connect(bases[k % len(bases)], s["obs"]) for k in range(observers)
            ]
        for each in bases:
            await warm_up(http, each)
        before = await commit_counts(http, bases)
        cpu = CpuWindow()
        start = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(agent(ws) for ws in agents), *(watch(ws) for ws in watchers)), 600
        )
        elapsed = time.perf_counter() - start
        after = await commit_counts(http, bases)
        return {
            "commit_batch_mean": (after[0] - before[0]) / max(1, after[1] - before[1]),
            "persisted": acked,
            "deliveries": deliveries,
            "seconds": elapsed,
            "latencies": latencies,
            **cpu.stop(),
        }


async def fanout_load(base: str, observers: int, messages: int, rate: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        s = await make_session(http, base)
    watchers = [await lean_connect(base, s["obs"]) for _ in range(observers)]
    latencies: list[float] = []

    async def read(ws: LeanWS) -> None:
        got = 0
        async for batch in ws.batches():
            for data in batch:
                if data.startswith(MESSAGE):
                    latencies.append(time.time() - HUB_FRAME.decode(data).message.metadata.t)
                    got += 1
            if got >= messages:
                return

    readers = [asyncio.create_task(read(ws)) for ws in watchers]
    sender = await lean_connect(base, s["a"])
    cpu = CpuWindow()
    start = time.perf_counter()
    for i in range(messages):
        await keep_pace(start, i, rate)
        sender.send(send_frame(f"f{i}"))
    await asyncio.wait_for(asyncio.gather(*readers), 300)
    elapsed = time.perf_counter() - start
    for ws in (sender, *watchers):
        ws.close()
    return {
        "persisted": messages,
        "deliveries": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        **cpu.stop(),
    }


async def stream_load(base: str, observers: int, chunks: int, rate: float) -> dict[str, Any]:
    """One agent streams `chunks` deltas (at `rate` per second) to `observers` watchers of
    its session. Each chunk is the time it was sent, so every watcher measures each
    chunk's latency (the hub's coalescing wait included) and checks it got every one."""
    async with aiohttp.ClientSession() as http:
        s = await make_session(http, base)
    watchers = [await lean_connect(base, s["obs"]) for _ in range(observers)]
    latencies: list[float] = []
    counts = {"events": 0, "chunks": 0}

    async def read(ws: LeanWS) -> None:
        async for batch in ws.batches():
            now = time.time()
            for data in batch:
                if data.startswith(DELTA):
                    stamps = DELTA_FRAME.decode(data).text.split("|")[:-1]
                    latencies.extend(now - float(t) for t in stamps)
                    counts["events"] += 1
                    counts["chunks"] += len(stamps)
                elif data.startswith(ENDED):
                    return

    readers = [asyncio.create_task(read(ws)) for ws in watchers]
    author = await lean_connect(base, s["a"])

    published = asyncio.Event()

    async def drain() -> None:  # the author's own copies: not counted, but they tell
        seen = 0  # when every chunk has been published (the last interval's included)
        async for batch in author.batches():
            for data in batch:
                if data.startswith(DELTA):
                    seen += DELTA_FRAME.decode(data).text.count("|")
            if seen >= chunks:
                published.set()

    draining = asyncio.create_task(drain())
    author.send(SEND.encode({"type": "stream_start", "stream_id": "bench"}))
    cpu = CpuWindow()
    start = time.perf_counter()
    for i in range(chunks):
        await keep_pace(start, i, rate)
        frame = {"type": "stream_delta", "stream_id": "bench", "text": f"{time.time():.6f}|"}
        author.send(SEND.encode(frame))
    await asyncio.wait_for(published.wait(), 300)
    author.send(SEND.encode({"type": "stream_abort", "stream_id": "bench"}))
    await asyncio.wait_for(asyncio.gather(*readers), 300)
    elapsed = time.perf_counter() - start
    draining.cancel()
    for ws in (author, *watchers):
        ws.close()
    return {
        "chunks": chunks,
        "observers": observers,
        "chunk_deliveries": counts["chunks"],
        "delta_events": counts["events"],
        "seconds": elapsed,
        "messages_per_s": chunks / elapsed,
        "deliveries_per_s": counts["chunks"] / elapsed,
        "delta_events_per_s": counts["events"] / elapsed,
        "latencies": latencies,
        **cpu.stop(),
    }


async def idle_load(base: str, connections: int, report: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        tokens = [
            (await make_session(http, base))["obs"] for _ in range(max(1, connections // 100))
        ]
    sockets = []
    gate = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        async with gate:
            sockets.append(await lean_connect(base, tokens[i % len(tokens)]))

    cpu = CpuWindow()
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    used = cpu.stop()
    report.put("connected")
    await asyncio.sleep(3)  # the harness reads the server's RSS now
    for ws in sockets:
        ws.close()
    return {"connections": len(sockets), "seconds": elapsed, **used}


async def resume_load(base: str, behind: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        s = await make_session(http, base)
        ws = await ws_connect(http, base, s["a"])
        await ws.receive()
        await ws.receive()
        acked = 0
        free = asyncio.Semaphore(500)

        async def acks() -> None:
            nonlocal acked
            async for msg in ws:
                if msg.data.startswith('{"type":"ack"'):
                    acked += 1
                    free.release()
                    if acked >= behind:
                        return

        reader = asyncio.create_task(acks())
        for i in range(behind):
            await free.acquire()
            await ws.send_str(
                json.dumps({"type": "send", "client_msg_id": f"r{i}", "content": "y" * 100})
            )
        await reader
        start = time.perf_counter()
        late = await ws_connect(http, base, s["obs"], since="0")
        got = 0
        async for msg in late:
            if msg.data.startswith('{"type":"message"'):
                got += 1
            elif msg.data.startswith('{"type":"resumed"'):
                break
        elapsed = time.perf_counter() - start
        return {"messages": got, "seconds": elapsed}


# --- peers: Socket.IO on Node and python-socketio, both on Redis, no persistence ----------

PEERS = ROOT / "scripts" / "bench" / "peers"


def install_peers() -> None:
    """Install the peers' own dependencies into ignored folders (never Hub's)."""
    if not (PEERS / "node_modules" / "socket.io").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=PEERS, check=True
        )
    if not (PEERS / ".pydeps" / "socketio").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(PEERS / ".pydeps"),
                "python-socketio>=5",
            ],
            check=True,
        )


def start_peer(kind: str, redis_url: str) -> tuple[Server, str]:
    port = free_port()
    if kind == "socketio-node":
        argv = ["node", str(PEERS / "socketio_node.js"), str(port), redis_url]
        env = dict(os.environ)
    else:
        argv = [sys.executable, str(PEERS / "socketio_py.py"), str(port), redis_url]
        env = {**os.environ, "PYTHONPATH": str(PEERS / ".pydeps")}
    return Server(argv, env, "peer ready"), f"http://127.0.0.1:{port}"


class SocketIO:
    """Just enough of the Socket.IO protocol (Engine.IO 4 over a websocket) to relay."""

    def __init__(self, ws: LeanWS) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, base: str) -> SocketIO:
        ws = await LeanWS.connect(
            base.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        )
        await ws.receive()  # engine.io open
        ws.send(b"40")
        while not (await ws.receive()).startswith(b"40"):
            pass
        return cls(ws)

    def emit(self, *args: Any, ack: int | None = None) -> None:
        self.ws.send(b"42" + (b"" if ack is None else str(ack).encode()) + SEND.encode(args))

    async def frames(self) -> Any:
        """Yield lists of ('message', data) and ('ack', None); answers pings itself."""
        async for batch in self.ws.batches():
            out = []
            for data in batch:
                if data == b"2":
                    self.ws.send(b"3")
                elif data.startswith(b"43"):
                    out.append(("ack", None))
                elif data.startswith(b'42["message"'):
                    out.append(("message", SIO_EVENT.decode(data[2:])[1]))
            yield out


async def sio_joined(base: str, room: str) -> SocketIO:
    client = await SocketIO.connect(base)
    client.emit("join", room, ack=0)
    async for batch in client.frames():
        if any(kind == "ack" for kind, _ in batch):
            return client
    raise ConnectionError("the peer closed before the join was acknowledged")


async def peer_relay_load(
    base: str, sessions: int, observers: int, messages: int, window: int, rate: float
) -> dict[str, Any]:
    """The relay workload of `relay_load`, spoken in Socket.IO to a room relay."""
    latencies: list[float] = []
    counts = {"acked": 0, "deliveries": 0}

    def delivered(data: Any) -> None:
        latencies.append(time.time() - data.t)
        counts["deliveries"] += 1

    async def watch(client: SocketIO) -> None:
        got = 0
        async for batch in client.frames():
            for kind, data in batch:
                if kind == "message":
                    delivered(data)
                    got += 1
            if got >= 2 * messages:
                return

    async def agent(client: SocketIO, room: str) -> None:
        free = asyncio.Semaphore(window)
        mine = 0

        async def read() -> None:
            nonlocal mine
            got = 0
            async for batch in client.frames():
                for kind, data in batch:
                    if kind == "ack":
                        counts["acked"] += 1
                        mine += 1
                        free.release()
                    else:
                        delivered(data)
                        got += 1
                if mine >= messages and got >= 2 * messages:
                    return

        reader = asyncio.create_task(read())
        start = time.perf_counter()
        for i in range(messages):
            await free.acquire()
            await keep_pace(start, i, rate)
            client.emit("send", room, {"content": "x" * 100, "t": time.time()}, ack=i + 1)
        await reader

    agents, watchers = [], []
    for n in range(sessions):
        room = f"room-{n}"
        agents += [(await sio_joined(base, room), room), (await sio_joined(base, room), room)]
        watchers += [await sio_joined(base, room) for _ in range(observers)]
    cpu = CpuWindow()
    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(agent(c, r) for c, r in agents), *(watch(c) for c in watchers)), 600
    )
    elapsed = time.perf_counter() - start
    for client, _ in agents:
        client.ws.close()
    for client in watchers:
        client.ws.close()
    return {
        "persisted": counts["acked"],
        "deliveries": counts["deliveries"],
        "seconds": elapsed,
        "latencies": latencies,
        **cpu.stop(),
    }


async def peer_fanout_load(base: str, observers: int, messages: int, rate: float) -> dict[str, Any]:
    latencies: list[float] = []
    watchers = [await sio_joined(base, "fan") for _ in range(observers)]

    async def watch(client: SocketIO) -> None:
        got = 0
        async for batch in client.frames():
            for kind, data in batch:
                if kind == "message":
                    latencies.append(time.time() - data.t)
                    got += 1
            if got >= messages:
                return

    readers = [asyncio.create_task(watch(c)) for c in watchers]
    sender = await sio_joined(base, "fan")

    async def consume(client: SocketIO) -> None:  # the sender's own copies: not counted
        async for _ in client.frames():
            pass

    drain = asyncio.create_task(consume(sender))
    cpu = CpuWindow()
    start = time.perf_counter()
    for i in range(messages):
        await keep_pace(start, i, rate)
        sender.emit("send", "fan", {"content": "x" * 100, "t": time.time()}, ack=i + 1)
    await asyncio.wait_for(asyncio.gather(*readers), 300)
    elapsed = time.perf_counter() - start
    drain.cancel()
    for client in (sender, *watchers):
        client.ws.close()
    return {
        "persisted": messages,
        "deliveries": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        **cpu.stop(),
    }


# --- ceilings -------------------------------------------------------------------------------

ECHO_SERVER = """
import sys
from aiohttp import web
async def ws(request):
    sock = web.WebSocketResponse(max_msg_size=0)
    await sock.prepare(request)
    async for msg in sock:
        await sock.send_str(msg.data)
    return sock
app = web.Application()
app.router.add_get("/ws", ws)
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
def ready(*_):
    print("echo ready", flush=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=ready)
"""


async def echo_load(base: str, clients: int, messages: int, window: int) -> dict[str, Any]:
    """Clients each send `messages` (with `window` unanswered) to an echo server."""

    async def one() -> int:
        ws = await LeanWS.connect(base.replace("http", "ws", 1) + "/ws")
        free = asyncio.Semaphore(window)
        got = 0

        async def read() -> None:
            nonlocal got
            async for batch in ws.batches():
                got += len(batch)
                for _ in batch:
                    free.release()
                if got >= messages:
                    return

        reader = asyncio.create_task(read())
        payload = SEND.encode({"type": "send", "content": "x" * 100})
        for _ in range(messages):
            await free.acquire()
            ws.send(payload)
        await reader
        ws.close()
        return got

    start = time.perf_counter()
    counts = await asyncio.gather(*(one() for _ in range(clients)))
    return {"messages": sum(counts), "seconds": time.perf_counter() - start}


async def redis_publish_load(redis_url: str, messages: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    payload = b"x" * 300
    start = time.perf_counter()
    for offset in range(0, messages, 500):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(min(500, messages - offset)):
                pipe.publish("bench:ceiling", payload)
            await pipe.execute()
    elapsed = time.perf_counter() - start
    await client.aclose()
    return {"messages": messages, "seconds": elapsed}


async def postgres_load(database_url: str, batches: int, batch: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    # A real table: a temporary one writes no WAL, so it would measure no commit at all.
    await conn.execute(
        "DROP TABLE IF EXISTS bench_rows;"
        " CREATE TABLE bench_rows (id bigint, content text, created_at timestamptz DEFAULT now())"
    )
    content = "x" * 100
    start = time.perf_counter()
    for b in range(batches):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO bench_rows (id, content)"
                " SELECT * FROM unnest($1::bigint[], $2::text[])",
                list(range(b * batch, (b + 1) * batch)),
                [content] * batch,
            )
    batched = batches * batch / (time.perf_counter() - start)
    start = time.perf_counter()
    singles = max(200, batches)
    for i in range(singles):
        async with conn.transaction():
            await conn.execute("INSERT INTO bench_rows (id, content) VALUES ($1, $2)", i, content)
    single = singles / (time.perf_counter() - start)
    await conn.execute("DROP TABLE bench_rows")
    await conn.close()
    return {"batched_rows_per_s": batched, "single_commits_per_s": single}


# --- search ---------------------------------------------------------------------------------

BIG = "ses_benchbig00000"


def seed_search(database_url: str, sessions: int, per_session: int, big: int) -> None:
    """Public sessions with `per_session` prose messages each, and one of `big` messages,
    written straight into the database (through the messages table, so its search
    column and index are built as the hub's inserts build them)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                """INSERT INTO sessions (id, name, agent_a_id, invite_code, invite_expires_at,
                       is_private, last_message_id)
                   SELECT 'ses_bench' || lpad(g::text, 8, '0'),
                          ($1::text[])[1 + floor(1000 * random() ^ 3)::int] || ' '
                              || ($1::text[])[1 + floor(1000 * random() ^ 3)::int],
                          'a', 'BENCH-' || g, now() + interval '1 day', false, $3
                     FROM generate_series(1, $2) g""",
                WORDS,
                sessions,
                per_session,
            )
            await conn.execute(
                """INSERT INTO sessions (id, name, agent_a_id, invite_code, invite_expires_at,
                       is_private, last_message_id)
                   VALUES ($1, 'The big one', 'a', 'BENCH-BIG', now() + interval '1 day',
                           false, $2)""",
                BIG,
                big,
            )
            text = """(SELECT string_agg(($1::text[])[1 + floor(1000 * random() ^ 3)::int], ' ')
                         FROM generate_series(1, 16 + 0 * {0}))"""
            await conn.execute(
                f"""INSERT INTO messages (session_id, id, author_id, author_role, content)
                    SELECT 'ses_bench' || lpad(g::text, 8, '0'), m, 'a', 'agent_a',
                           {text.format("(g + m)")}
                      FROM generate_series(1, $2) g, generate_series(1, $3) m""",
                WORDS,
                sessions,
                per_session,
            )
            for start in range(0, big, 20_000):
                await conn.execute(
                    f"""INSERT INTO messages (session_id, id, author_id, author_role, content)
                        SELECT $2, m, 'a', 'agent_a', {text.format("m")}
                          FROM generate_series($3::bigint, $4::bigint) m""",
                    WORDS,
                    BIG,
                    start + 1,
                    min(big, start + 20_000),
                )
            await conn.execute("VACUUM ANALYZE sessions")
            await conn.execute("VACUUM ANALYZE messages")
        finally:
            await conn.close()

    asyncio.run(run())


async def search_load(base: str, database_url: str, requests: int) -> dict[str, Any]:
    """Search latency, one request at a time, for queries that find few and many matches
    in the public directory, and for the same words in one space holding only the big
    session (a user key and a space made here, the big session moved into it)."""
    import asyncpg

    name = "bench" + secrets.token_hex(4)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            base + "/api/users", json={"username": name, "password": "benchmark-password"}
        ) as r:
            assert r.status == 201, await r.text()
        async with http.post(
            base + "/api/login", json={"username": name, "password": "benchmark-password"}
        ) as r:
            key = (await r.json())["token"]
        auth = {"Authorization": f"Bearer {key}"}
        async with http.post(
            base + "/api/spaces", json={"slug": name, "name": "Bench"}, headers=auth
        ) as r:
            space_id = (await r.json())["id"]
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE sessions SET workspace_id = $1 WHERE id = $2", space_id, BIG)
        finally:
            await conn.close()

        # in about 80%, 2.5% and 0.5% of messages (16 words each, word i drawn with
        # probability ((i + 1)^(1/3) - i^(1/3)) / 10)
        common, middling, rare = WORDS[0], WORDS[100], WORDS[999]
        queries = {
            "public, rare word": {"q": rare},
            "public, middling word": {"q": middling},
            "public, most common word": {"q": common},
            "public, two words": {"q": f"{middling} {rare}"},
            "big session, rare word": {"q": rare, "scope": "space", "space": name},
            "big session, middling word": {"q": middling, "scope": "space", "space": name},
            "big session, most common word": {"q": common, "scope": "space", "space": name},
        }
        figures: dict[str, Any] = {}
        for label, params in queries.items():
            latencies: list[float] = []
            results = 0
            for _ in range(requests):
                start = time.perf_counter()
                async with http.get(base + "/api/search", params=params, headers=auth) as r:
                    body = await r.json()
                    assert r.status == 200, body
                latencies.append(time.perf_counter() - start)
                results = len(body["results"])
            figures[label] = {
                "p50_ms": 1000 * percentile(latencies, 0.5),
                "p99_ms": 1000 * percentile(latencies, 0.99),
                "results": results,
                "matches_on_top": body["results"][0]["matches"] if body["results"] else 0,
            }
    return {"queries": figures}


def search_scenario(
    database_url: str, sessions: int, per_session: int, big: int, requests: int
) -> dict[str, Any]:
    start = time.perf_counter()
    seed_search(database_url, sessions, per_session, big)
    seeded = time.perf_counter() - start
    server, base = start_hub(database_url, None)
    try:
        result = measure(server, search_load, base, database_url, requests)
    finally:
        server.stop()
    return {
        "scenario": "search",
        "sessions": sessions + 1,
        "messages": sessions * per_session + big,
        "seed_seconds": seeded,
        **result,
    }


# --- webhooks ---------------------------------------------------------------------------


async def webhook_load(
    base: str, database_url: str, secret_key: str, sessions: int, messages: int, streams: int
) -> dict[str, Any]:
    """Worker throughput: `sessions` sessions, each with an endpoint of its own on a
    receiver in this process (answering 204 at once), and `messages` messages each, sent
    over REST while no worker runs; then one `hub worker` process (pinned to the
    server's core, delivering `streams` streams at once) is started and every event
    timed from the first to arrive to the last."""
    total = sessions * messages
    got: list[float] = []
    ids: set[str] = set()
    done, started = asyncio.Event(), asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        got.append(time.perf_counter())
        started.set()
        ids.add(request.headers["webhook-id"])
        if len(ids) >= total:
            done.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/hook"

    async with aiohttp.ClientSession() as http:
        made = [await make_session(http, base) for _ in range(sessions)]
        for s in made:
            async with http.post(
                f"{base}/api/sessions/{s['id']}/webhooks",
                json={"url": url, "event_types": ["message.created"]},
                headers={"Authorization": f"Bearer {s['a']}"},
            ) as r:
                assert r.status == 201, await r.text()

        async def send_all(s: dict[str, str]) -> None:
            auth = {"Authorization": f"Bearer {s['a']}"}
            for i in range(messages):
                body = {"client_msg_id": f"w{i}", "content": f"event {i}"}
                async with http.post(
                    f"{base}/api/sessions/{s['id']}/messages", json=body, headers=auth
                ) as r:
                    assert r.status in (200, 201), await r.text()

        seeded = time.perf_counter()
        await asyncio.gather(*(send_all(s) for s in made))
        seeded = time.perf_counter() - seeded

    env = {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": secret_key,
        "HUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "HUB_WEBHOOK_CONCURRENCY": str(streams),
        "HUB_LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "worker",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )
    pin(worker.pid, SERVER_CORE)
    ps = psutil.Process(worker.pid)
    try:
        async with asyncio.timeout(900):
            await started.wait()  # the worker starting: not measured
            first, cpu0 = got[0], sum(ps.cpu_times()[:2])
            await done.wait()
        cpu = sum(ps.cpu_times()[:2]) - cpu0
    finally:
        worker.terminate()
        await worker.wait()
        await runner.cleanup()
    seconds = got[-1] - first
    return {
        "events": total,
        "requests": len(got),
        "seeded_seconds": seeded,
        "seconds": seconds,
        "events_per_s": (len(got) - 1) / seconds if seconds > 0 else 0.0,
        "server_cpu_pct": 100 * cpu / seconds if seconds > 0 else 0.0,
    }


async def _person_sessions(
    http: aiohttp.ClientSession, base: str, sessions: int
) -> tuple[str, list[dict[str, str]]]:
    """A new person's user key and `sessions` sessions made by an agent of theirs (so an
    unscoped endpoint of theirs hears every one)."""
    name = "bench" + secrets.token_hex(4)
    login = {"username": name, "password": "correct horse battery"}
    async with http.post(base + "/api/users", json=login) as r:
        assert r.status == 201, await r.text()
    async with http.post(base + "/api/login", json=login) as r:
        assert r.status == 201, await r.text()
        key = (await r.json())["token"]
    auth = {"Authorization": f"Bearer {key}"}
    slug = "bench-" + secrets.token_hex(4)
    async with http.post(
        base + "/api/me/agents", json={"slug": slug, "name": "Bench"}, headers=auth
    ) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{base}/api/agents/{slug}/keys", json={"name": "b"}, headers=auth) as r:
        assert r.status == 201, await r.text()
        agent = (await r.json())["token"]
    made = []
    for _ in range(sessions):
        async with http.post(
            base + "/api/sessions", json={}, headers={"Authorization": f"Bearer {agent}"}
        ) as r:
            created = await r.json()
            assert r.status == 201, created
        made.append({"id": created["session"]["id"], "a": created["agent_token"]})
    return key, made


async def webhook_isolation_load(
    base: str,
    database_url: str,
    secret_key: str,
    sessions: int,
    messages: int,
    streams: int,
    workers: int,
    slow_ms: float,
) -> dict[str, Any]:
    """Several workers, a fast endpoint and a slow one. Two phases, each with a new
    person whose agent made `sessions` sessions of `messages` messages each (sent while
    no worker runs): "alone", one endpoint of the person's hearing every session, on a
    receiver answering 204 at once; "beside a slow one", that endpoint and a second one,
    hearing the same sessions, on a receiver that answers each request after `slow_ms`;
    and that again with `HUB_WEBHOOK_ENDPOINT_CONCURRENCY` lifted (what the cap keeps
    off). Then `workers` `hub worker` processes (pinned to the server's core, `streams`
    streams at once each) are started; the fast endpoint's events are timed from the
    first to arrive to its last, the slow one's until its last (or for at most 60 s)."""
    total = sessions * messages
    got: dict[str, list[float]] = {"fast": [], "slow": []}
    ids: dict[str, set[str]] = {"fast": set(), "slow": set()}
    done = {"fast": asyncio.Event(), "slow": asyncio.Event()}
    open_at = {"slow": 0, "slow_most": 0}
    current = {"phase": "", "stale": 0}

    async def hook(request: web.Request) -> web.Response:
        which = request.match_info["which"]
        await request.read()
        if request.match_info["phase"] != current["phase"]:
            current["stale"] += 1  # an earlier phase's, in flight when its workers stopped
            return web.Response(status=204)
        if which == "slow":
            open_at["slow"] += 1
            open_at["slow_most"] = max(open_at["slow_most"], open_at["slow"])
            await asyncio.sleep(slow_ms / 1000)
            open_at["slow"] -= 1
        got[which].append(time.perf_counter())
        ids[which].add(request.headers["webhook-id"])
        if len(ids[which]) >= total:
            done[which].set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{which}/{phase}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": secret_key,
        "HUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "HUB_WEBHOOK_CONCURRENCY": str(streams),
        "HUB_LOG_LEVEL": "WARNING",
    }
    phases: dict[str, Any] = {}
    try:
        for phase, kinds, cap in (
            ("alone", ("fast",), None),
            ("beside a slow one", ("fast", "slow"), None),
            ("beside a slow one, no per-endpoint cap", ("fast", "slow"), "1000000"),
        ):
            for which in got:
                got[which].clear()
                ids[which].clear()
                done[which].clear()
            open_at["slow_most"] = 0
            current["phase"] = str(len(phases))
            async with aiohttp.ClientSession() as http:
                key, made = await _person_sessions(http, base, sessions)
                hooks = []
                for which in kinds:
                    async with http.post(
                        f"{base}/api/webhooks",
                        json={
                            "url": f"http://127.0.0.1:{port}/{which}/{current['phase']}",
                            "event_types": ["message.created"],
                        },
                        headers={"Authorization": f"Bearer {key}"},
                    ) as r:
                        assert r.status == 201, await r.text()
                        hooks.append((await r.json())["webhook"]["id"])

                async def send_all(s: dict[str, str], http: aiohttp.ClientSession) -> None:
                    auth = {"Authorization": f"Bearer {s['a']}"}
                    for i in range(messages):
                        body = {"client_msg_id": f"w{i}", "content": f"event {i}"}
                        async with http.post(
                            f"{base}/api/sessions/{s['id']}/messages", json=body, headers=auth
                        ) as r:
                            assert r.status in (200, 201), await r.text()

                await asyncio.gather(*(send_all(s, http) for s in made))
            procs = []
            for _ in range(workers):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "hub.cli",
                    "worker",
                    env=env if cap is None else {**env, "HUB_WEBHOOK_ENDPOINT_CONCURRENCY": cap},
                    cwd=ROOT,
                    stdout=asyncio.subprocess.DEVNULL,
                )
                pin(proc.pid, SERVER_CORE)
                procs.append(proc)
            try:
                async with asyncio.timeout(900):
                    await done["fast"].wait()
                if "slow" in kinds:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(60):
                            await done["slow"].wait()
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    await proc.wait()
                async with aiohttp.ClientSession() as http:
                    for hook_id in hooks:  # nothing of this phase is delivered in the next
                        async with http.delete(
                            f"{base}/api/webhooks/{hook_id}",
                            headers={"Authorization": f"Bearer {key}"},
                        ) as r:
                            assert r.status == 204, await r.text()
            row: dict[str, Any] = {}
            for which in kinds:
                times = got[which]
                seconds = times[-1] - times[0] if times else 0.0
                row[which] = {
                    "events": len(ids[which]),
                    "requests": len(times),
                    "seconds": seconds,
                    "events_per_s": (len(times) - 1) / seconds if seconds > 0 else 0.0,
                }
            if "slow" in kinds:
                first = min(got["fast"][0], got["slow"][0])
                row["fast"]["finished_after_s"] = got["fast"][-1] - first
                row["slow"]["done_when_fast_finished"] = sum(
                    t <= got["fast"][-1] for t in got["slow"]
                )
                row["slow"]["most_open_at_once"] = open_at["slow_most"]
                row["slow"]["finished"] = done["slow"].is_set()
            phases[phase] = row
    finally:
        await runner.cleanup()
    return {"events": total, "phases": phases, "stale_requests": current["stale"]}


def webhooks_scenario(
    database_url: str, sessions: int, messages: int, streams: int
) -> dict[str, Any]:
    secret_key = "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()
    extra = {
        "HUB_SECRET_KEY": secret_key,
        "HUB_DELIVER_WEBHOOKS": "false",
        "HUB_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    server, base = start_hub(database_url, None, extra)
    try:
        result = run_load(webhook_load, base, database_url, secret_key, sessions, messages, streams)
    finally:
        server.stop()
    return {"scenario": "webhooks", "sessions": sessions, "streams": streams, **result}


# --- jobs -----------------------------------------------------------------------------------


async def jobs_load(base: str, jobs: int, runners: int) -> dict[str, Any]:
    """Compute throughput: a person, their verified agent's session drawing on their pool,
    `jobs` jobs queued (each reserving 1 credit), then `runners` SDK Runners (one job at
    a time each, answering at once, in this process) timed from the start to the last
    job claimed, reported and settled."""
    sys.path.insert(0, str(ROOT))
    from hub.client import HubAPI, Runner, RunningJob

    name = "bench" + secrets.token_hex(4)
    async with HubAPI(base) as rest:
        await rest.sign_up(name, "correct horse battery")
        user = (await rest.log_in(name, "correct horse battery")).token
        slug = "bench-" + secrets.token_hex(4)
        await rest.create_agent(user, slug=slug, name="bench")
        agent = (await rest.create_agent_key(user, slug, "bench")).token
        created = await rest.create_session(agent_key=agent)
        sid, token = created.session.id, created.agent_token
        pool = await rest.create_pool(user, "bench")
        await rest.grant(user, pool.id, jobs)
        await rest.set_session_pool(sid, token, pool.id)
        keys = [
            (await rest.create_runner_key(user, f"r{i}", ["bench"])).token for i in range(runners)
        ]
        sem = asyncio.Semaphore(32)

        async def queue(i: int) -> None:
            async with sem:
                await rest.create_job(sid, token, "bench", {"i": i}, estimated_cost=1)

        seeded = time.perf_counter()
        await asyncio.gather(*(queue(i) for i in range(jobs)))
        seeded = time.perf_counter() - seeded

        finished = asyncio.Event()
        done = 0

        async def work(job: RunningJob) -> Any:
            nonlocal done
            done += 1
            if done >= jobs:
                finished.set()
            return {"i": job.input["i"]}

        pool_runners = [Runner(base, key, idle_poll=0.05) for key in keys]
        cpu = CpuWindow()
        start = time.perf_counter()
        tasks = [asyncio.create_task(r.run(work)) for r in pool_runners]
        await asyncio.wait_for(finished.wait(), 600)
        for r in pool_runners:
            r.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        elapsed = time.perf_counter() - start
        settled = await rest.pool(user, pool.id)
    assert settled.spent == jobs and settled.reserved == 0, settled
    return {
        "jobs": jobs,
        "runners": runners,
        "seeded_seconds": seeded,
        "seconds": elapsed,
        "jobs_per_s": jobs / elapsed,
        **cpu.stop(),
    }


def jobs_scenario(database_url: str, jobs: int, runners: int) -> dict[str, Any]:
    server, base = start_hub(database_url, None)
    try:
        result = measure(server, jobs_load, base, jobs, runners)
    finally:
        server.stop()
    return {"scenario": "jobs", **result}


def webhooks_slow_scenario(
    database_url: str, sessions: int, messages: int, streams: int, workers: int, slow_ms: float
) -> dict[str, Any]:
    secret_key = "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()
    extra = {
        "HUB_SECRET_KEY": secret_key,
        "HUB_DELIVER_WEBHOOKS": "false",
        "HUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "HUB_SIGNUPS_PER_MINUTE": "1000",
        "HUB_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
    }
    server, base = start_hub(database_url, None, extra)
    try:
        result = run_load(
            webhook_isolation_load,
            base,
            database_url,
            secret_key,
            sessions,
            messages,
            streams,
            workers,
            slow_ms,
        )
    finally:
        server.stop()
    return {
        "scenario": "webhooks-slow",
        "sessions": sessions,
        "streams": streams,
        "workers": workers,
        "slow_ms": slow_ms,
        **result,
    }


# --- the harness ----------------------------------------------------------------------------


def measure(server: Server | Servers, load: Any, *args: Any) -> dict[str, Any]:
    """Run a load against `server`; its CPU is measured over the load's timed window when
    the load reports it, else over the whole run."""
    cpu0, wall0 = server.cpu_times(), time.perf_counter()
    os.environ["HUB_BENCH_SERVER_PID"] = ",".join(map(str, server.pids))
    result = run_load(load, *args)
    cpu1, wall1 = server.cpu_times(), time.perf_counter()
    result.setdefault("server_cpu_pct", 100 * (cpu1 - cpu0) / (wall1 - wall0))
    result["server_rss_mb"] = server.rss() / 2**20
    return result


def summarize(name: str, r: dict[str, Any]) -> dict[str, Any]:
    lat = [x * 1000 for x in r.pop("latencies", [])]
    row = {"scenario": name, **{k: v for k, v in r.items()}}
    if "persisted" in r:
        row["persisted_per_s"] = r["persisted"] / r["seconds"]
        row["deliveries_per_s"] = r["deliveries"] / r["seconds"]
    if lat:
        row["latency_ms"] = {
            "p50": percentile(lat, 0.5),
            "p99": percentile(lat, 0.99),
            "p99.9": percentile(lat, 0.999),
            "mean": statistics.fmean(lat),
        }
    return row


def embedded_database(folder: Path) -> tuple[str, Any]:
    sys.path.insert(0, str(ROOT))
    from hub.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(folder / "pg", delete_on_stop=True)
    return pg.start(), pg


def migrate(database_url: str) -> None:
    from hub.store.migrate import apply_migrations

    asyncio.run(apply_migrations(database_url))


def settle_wal(database_url: str, megabytes: int) -> None:
    """Give the database the WAL of a server that has been running: segments ready to
    reuse. A new cluster creates each 16 MB segment as it fills one (zero-filled, then
    flushed), about once a second at relay rates, and each creation held a commit for
    25-70 ms; a running server renames the segments its checkpoints free instead. This
    writes `megabytes` of WAL and checkpoints, so that the next runs reuse them."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            size = int(
                await conn.fetchval(
                    "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"
                )
            )
            for _ in range(max(1, (megabytes << 20) // size)):
                await conn.execute(
                    "SELECT pg_logical_emit_message(false, 'hub-bench', 'settle'), pg_switch_wal()"
                )
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            print("bench: not a superuser, so the WAL is not settled first", file=sys.stderr)
        finally:
            await conn.close()

    asyncio.run(run())


def drop_search_index(database_url: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search")
        finally:
            await conn.close()

    asyncio.run(run())


def redis_server(folder: Path) -> tuple[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.servers import RedisServer

    server = RedisServer()
    server.start()
    return server.url, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        default=[
            "ceilings",
            "relay",
            "half",
            "scaleout",
            "fanout",
            "streams",
            "idle",
            "resume",
            "peers",
        ],
        help="ceilings relay half scaleout fanout streams idle resume peers search webhooks"
        " webhooks-slow jobs (default: all but search, the webhooks ones and jobs); webhooks"
        " measures the webhook worker's throughput, webhooks-slow several workers delivering"
        " to a fast endpoint alone and then beside a slow one; jobs, jobs claimed and"
        " completed per second by runners; half "
        "runs the relay again paced at half of the rate relay measured; scaleout runs it on "
        "two processes on the Redis bus; peers runs relay and fanout on Socket.IO (Node) "
        "and python-socketio",
    )
    parser.add_argument("--sessions", type=int, default=10, help="relay: sessions")
    parser.add_argument("--observers", type=int, default=2, help="relay: observers per session")
    parser.add_argument("--messages", type=int, default=5000, help="relay: messages per sender")
    parser.add_argument("--window", type=int, default=200, help="relay: unacked sends per sender")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="relay: msgs/s per sender (0: flat out)"
    )
    parser.add_argument(
        "--half-seconds", type=float, default=10.0, help="half: how long the paced relay runs"
    )
    parser.add_argument("--fanout-observers", type=int, default=1000)
    parser.add_argument("--fanout-messages", type=int, default=200)
    parser.add_argument("--fanout-rate", type=float, default=50.0)
    parser.add_argument("--stream-observers", type=int, default=100, help="streams: watchers")
    parser.add_argument(
        "--stream-chunks",
        type=int,
        default=3000,
        help="streams: deltas the agent sends (at most 3500: 18 characters each, and a"
        " stream holds a message's 64 000)",
    )
    parser.add_argument(
        "--stream-rate", type=float, default=500.0, help="streams: deltas/s the agent sends"
    )
    parser.add_argument("--idle", type=int, default=10000, help="idle: connections")
    parser.add_argument("--behind", type=int, default=10000, help="resume: messages behind")
    parser.add_argument(
        "--ceiling-messages",
        type=int,
        default=20000,
        help="ceilings: messages per echo client (Redis: 10x this)",
    )
    parser.add_argument("--search-sessions", type=int, default=10000, help="search: sessions")
    parser.add_argument(
        "--search-messages", type=int, default=10, help="search: messages per session"
    )
    parser.add_argument(
        "--search-big", type=int, default=100_000, help="search: messages in the big session"
    )
    parser.add_argument("--search-requests", type=int, default=50, help="search: per query")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs: jobs queued")
    parser.add_argument("--job-runners", type=int, default=4, help="jobs: runners")
    parser.add_argument("--webhook-sessions", type=int, default=20, help="webhooks: sessions")
    parser.add_argument(
        "--webhook-messages", type=int, default=250, help="webhooks: messages per session"
    )
    parser.add_argument(
        "--webhook-streams", type=int, default=16, help="webhooks: the worker's concurrency"
    )
    parser.add_argument(
        "--webhook-workers", type=int, default=4, help="webhooks-slow: worker processes"
    )
    parser.add_argument(
        "--webhook-slow-sessions",
        type=int,
        default=100,
        help="webhooks-slow: sessions (more than the workers' slots: they compete for them)",
    )
    parser.add_argument(
        "--webhook-slow-messages", type=int, default=50, help="webhooks-slow: messages each"
    )
    parser.add_argument(
        "--webhook-slow-ms",
        type=float,
        default=50.0,
        help="webhooks-slow: how long the slow receiver takes to answer",
    )
    parser.add_argument(
        "--prose",
        action="store_true",
        help="relay: send 16 words of made-up prose (about 100 characters) instead of one"
        " 100-character word, so that full-text search indexes as much as it would",
    )
    parser.add_argument(
        "--without-search-index",
        action="store_true",
        help="drop the messages' search column and GIN index after migrating (to measure"
        " what they cost the insert path)",
    )
    parser.add_argument("--redis", action="store_true", help="run the hub on the Redis bus")
    parser.add_argument(
        "--cold-wal",
        action="store_true",
        help="do not settle the embedded database's WAL first (see settle_wal): a new "
        "cluster's (a database given by HUB_BENCH_DATABASE_URL is never settled)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from tests.servers import claim, reap_orphans

    reap_orphans()  # the servers of an earlier run that was killed
    folder = claim(Path(tempfile.mkdtemp(prefix="hub-bench-")))
    cleanups: list[Any] = []
    results: list[dict[str, Any]] = []
    try:
        database_url = os.environ.get("HUB_BENCH_DATABASE_URL")
        # A server given is taken as it runs; the embedded one is new: settle its WAL.
        settle = not database_url and not args.cold_wal
        if not database_url:
            database_url, pg = embedded_database(folder)
            cleanups.append(pg.stop)
        migrate(database_url)
        if args.without_search_index:
            drop_search_index(database_url)
        if args.prose:
            os.environ["HUB_BENCH_PROSE"] = "1"
        redis_url = os.environ.get("HUB_BENCH_REDIS_URL")
        if not redis_url and (
            args.redis or {"ceilings", "peers", "scaleout"} & set(args.scenarios)
        ):
            redis_url, rs = redis_server(folder)
            cleanups.append(rs.remove)

        if "ceilings" in args.scenarios:
            port = free_port()
            echo = Server(
                [sys.executable, "-c", ECHO_SERVER, str(port)], dict(os.environ), "echo ready"
            )
            try:
                r = measure(
                    echo, echo_load, f"http://127.0.0.1:{port}", 4, args.ceiling_messages, 200
                )
                results.append(
                    {
                        "scenario": "ceiling: aiohttp ws echo",
                        "messages_per_s": r["messages"] / r["seconds"],
                        "server_cpu_pct": r["server_cpu_pct"],
                    }
                )
            finally:
                echo.stop()
            port = free_port()
            relay = Server(
                [sys.executable, str(PEERS / "aiohttp_relay.py"), str(port)],
                dict(os.environ),
                "peer ready",
            )
            try:
                relay_args = (args.sessions, args.observers, args.messages, args.window, args.rate)
                r = measure(relay, relay_load, f"http://127.0.0.1:{port}", *relay_args)
                r.pop("commit_batch_mean")
                results.append(summarize("ceiling: aiohttp ws relay, no logic", r))
            finally:
                relay.stop()
            assert redis_url
            r = run_load(redis_publish_load, redis_url, 10 * args.ceiling_messages)
            results.append(
                {
                    "scenario": "ceiling: Redis PUBLISH (pipelined)",
                    "messages_per_s": r["messages"] / r["seconds"],
                }
            )
            r = run_load(postgres_load, database_url, max(10, args.ceiling_messages // 100), 200)
            results.append(
                {
                    "scenario": "ceiling: PostgreSQL insert, 200 rows/commit",
                    "messages_per_s": r["batched_rows_per_s"],
                }
            )
            results.append(
                {
                    "scenario": "ceiling: PostgreSQL insert, 1 row/commit",
                    "messages_per_s": r["single_commits_per_s"],
                }
            )

        hub_redis = redis_url if args.redis else None
        plan = [
            (
                "relay",
                relay_load,
                (args.sessions, args.observers, args.messages, args.window, args.rate),
            ),
            (
                "fanout",
                fanout_load,
                (args.fanout_observers, args.fanout_messages, args.fanout_rate),
            ),
            (
                "streams",
                stream_load,
                (args.stream_observers, args.stream_chunks, args.stream_rate),
            ),
            ("resume", resume_load, (args.behind,)),
        ]

        def on_hub(
            name: str, load: Any, extra: tuple[Any, ...], processes: int = 1
        ) -> dict[str, Any]:
            """Run `load` on a Hub (on several processes: on the Redis bus), after
            settling the WAL the run will write."""
            if settle:  # about 1 KB of WAL per relayed message
                sent = extra[0] * 2 * extra[2] if load is relay_load else 10_000
                settle_wal(database_url, megabytes=max(16, int(1.5 * sent / 1000)))
            bus = hub_redis if processes == 1 else redis_url
            servers, bases = Servers([]), []
            try:
                for _ in range(processes):
                    server, base = start_hub(database_url, bus)
                    servers.servers.append(server)
                    bases.append(base)
                row = summarize(name, measure(servers, load, ",".join(bases), *extra))
            finally:
                servers.stop()
            results.append(row)
            return row

        for name, load, extra in plan:
            if name not in args.scenarios:
                continue
            row = on_hub(name, load, extra)
            if name == "relay" and "scaleout" in args.scenarios:
                # The same relay on two processes sharing the server's core: every message
                # is committed by one process and delivered by both.
                on_hub("relay, 2 processes (Redis bus)", relay_load, extra, processes=2)
            if name == "relay" and "half" in args.scenarios:
                # The same relay, paced at half of the rate just measured, for latency.
                rate = row["persisted_per_s"] / 2 / (2 * args.sessions)
                sends = max(20, int(rate * args.half_seconds))
                extra = (args.sessions, args.observers, sends, args.window, rate)
                on_hub("relay at half of peak", relay_load, extra)
        if "idle" in args.scenarios:
            results.append(idle_scenario(database_url, hub_redis, args.idle))
        if "webhooks" in args.scenarios:
            results.append(
                webhooks_scenario(
                    database_url, args.webhook_sessions, args.webhook_messages, args.webhook_streams
                )
            )
        if "jobs" in args.scenarios:
            results.append(jobs_scenario(database_url, args.jobs, args.job_runners))
        if "webhooks-slow" in args.scenarios:
            results.append(
                webhooks_slow_scenario(
                    database_url,
                    args.webhook_slow_sessions,
                    args.webhook_slow_messages,
                    args.webhook_streams,
                    args.webhook_workers,
                    args.webhook_slow_ms,
                )
            )
        if "search" in args.scenarios:
            results.append(
                search_scenario(
                    database_url,
                    args.search_sessions,
                    args.search_messages,
                    args.search_big,
                    args.search_requests,
                )
            )
        if "peers" in args.scenarios:
            assert redis_url
            install_peers()
            for kind in ("socketio-node", "python-socketio"):
                for name, load, extra in (
                    ("relay", peer_relay_load, plan[0][2]),
                    ("fanout", peer_fanout_load, plan[1][2]),
                ):
                    if name not in args.scenarios:
                        continue
                    server, base = start_peer(kind, redis_url)
                    try:
                        row = summarize(f"{name}: {kind}", measure(server, load, base, *extra))
                        results.append(row)
                    finally:
                        server.stop()
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
        shutil.rmtree(folder, ignore_errors=True)

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "server_cores": sorted(SERVER_CORE),
            "load_cores": sorted(LOAD_CORES),
        },
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": results,
    }
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def idle_scenario(database_url: str, hub_redis: str | None, connections: int) -> dict[str, Any]:
    server, base = start_hub(database_url, hub_redis)
    os.environ["HUB_BENCH_SERVER_PID"] = str(server.proc.pid)
    try:
        before = server.rss()
        ctx = mp.get_context("spawn")
        report: Any = ctx.Queue()
        results: Any = ctx.Queue()
        proc = ctx.Process(
            target=_load_entry, args=(results, idle_load, (base, connections, report))
        )
        proc.start()
        pin(proc.pid, LOAD_CORES)
        deadline = time.monotonic() + 600
        while True:  # the load says "connected", or fails and says why
            with contextlib.suppress(queue_module.Empty):
                report.get(timeout=1)
                break
            if not results.empty() or time.monotonic() > deadline:
                break
        after = server.rss()
        result = results.get(timeout=600)
        proc.join(30)
        if isinstance(result, BaseException):
            raise result
    finally:
        server.stop()
    return {
        "scenario": "idle",
        "connections": result["connections"],
        "connect_seconds": result["seconds"],
        "rss_per_connection_kb": (after - before) / max(1, result["connections"]) / 1024,
        "server_rss_mb": after / 2**20,
        **{k: v for k, v in result.items() if k.endswith("_cpu_pct")},
    }


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\nHub benchmark — {m['cpus']} CPUs, Python {m['python']}, server on core "
        f"{m['server_cores']}, load generator on core {m['load_cores']}\n"
    )
    print(
        f"{'scenario':44} {'msgs/s':>10} {'deliv/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p99.9':>8} {'cpu %':>6} {'rss MB':>7}"
    )
    for r in report["results"]:
        lat = r.get("latency_ms", {})
        rate = r.get("persisted_per_s", r.get("messages_per_s"))
        cells = [
            f"{rate:10.0f}" if rate else f"{'':>10}",
            f"{r['deliveries_per_s']:10.0f}" if "deliveries_per_s" in r else f"{'':>10}",
            *(f"{lat[k]:8.1f}" if k in lat else f"{'':>8}" for k in ("p50", "p99", "p99.9")),
            f"{r['server_cpu_pct']:6.0f}" if "server_cpu_pct" in r else f"{'':>6}",
            f"{r['server_rss_mb']:7.0f}" if "server_rss_mb" in r else f"{'':>7}",
        ]
        print(f"{r['scenario']:44} " + " ".join(cells))
        if r["scenario"] == "idle":
            print(
                f"{'':44}   {r['connections']} connections in {r['connect_seconds']:.1f}s, "
                f"{r['rss_per_connection_kb']:.1f} KB RSS each"
            )
        if r["scenario"] == "search":
            print(
                f"{'':44}   {r['sessions']} sessions, {r['messages']} messages"
                f" (seeded in {r['seed_seconds']:.0f}s)"
            )
            for label, q in r["queries"].items():
                print(
                    f"{'search: ' + label:44} {'':>10} {'':>10} {q['p50_ms']:8.1f}"
                    f" {q['p99_ms']:8.1f}   ({q['results']} results, top has"
                    f" {q['matches_on_top']} matching messages)"
                )
        if r["scenario"] == "webhooks":
            print(
                f"{'':44}   {r['events_per_s']:.0f} events/s delivered by one worker"
                f" ({r['sessions']} sessions, {r['events']} events, {r['streams']} streams at"
                f" once; {r['requests']} requests in {r['seconds']:.1f}s)"
            )
        if r["scenario"] == "jobs":
            print(
                f"{'':44}   {r['jobs_per_s']:.0f} jobs/s claimed, reported and settled by"
                f" {r['runners']} runners ({r['jobs']} jobs in {r['seconds']:.1f}s)"
            )
        if r["scenario"] == "webhooks-slow":
            for phase, row in r["phases"].items():
                fast = row["fast"]
                line = (
                    f"{'':44}   {phase}: fast endpoint {fast['events_per_s']:.0f} events/s"
                    f" ({fast['events']} events, {fast['requests']} requests in"
                    f" {fast['seconds']:.1f}s)"
                )
                if "slow" in row:
                    slow = row["slow"]
                    line += (
                        f"; slow ({r['slow_ms']:.0f} ms) {slow['events_per_s']:.0f} events/s"
                        f" ({slow['events']} events{'' if slow['finished'] else ' in 60 s'}),"
                        f" {slow['done_when_fast_finished']} done when the fast one finished,"
                        f" at most {slow['most_open_at_once']} requests open at once"
                    )
                print(line)
            print(
                f"{'':44}   ({r['workers']} workers, {r['streams']} streams each,"
                f" {r['sessions']} sessions, {r['events']} events per endpoint;"
                f" {r['stale_requests']} late requests of an earlier phase ignored)"
            )
        if r["scenario"] == "resume":
            print(f"{'':44}   caught up {r['messages']} messages in {r['seconds']:.2f}s")
        if r["scenario"] == "streams":
            print(
                f"{'':44}   {r['chunks']} deltas to {r['observers']} observers:"
                f" {r['delta_events_per_s']:.0f} delta events/s delivered"
                f" ({r['chunk_deliveries']} of {r['chunks'] * r['observers']} chunks arrived)"
            )
    rows = {r["scenario"]: r for r in report["results"]}
    echo = rows.get("ceiling: aiohttp ws echo")
    print()
    for name in ("relay", "fanout"):
        hub = rows.get(name)
        if hub is None:
            continue
        if echo and name == "relay":
            ratio = hub["persisted_per_s"] / echo["messages_per_s"]
            print(f"relay / aiohttp echo ceiling: {ratio:.2f}")
        raw = rows.get("ceiling: aiohttp ws relay, no logic")
        if raw and name == "relay":
            ratio = hub["persisted_per_s"] / raw["persisted_per_s"]
            print(f"relay / aiohttp relay ceiling (same workload, no logic): {ratio:.2f}")
        for kind in ("socketio-node", "python-socketio"):
            peer = rows.get(f"{name}: {kind}")
            if peer is None:
                continue
            ratios = [f"deliveries/s x{hub['deliveries_per_s'] / peer['deliveries_per_s']:.2f}"]
            if "latency_ms" in hub and "latency_ms" in peer:
                p99 = hub["latency_ms"]["p99"] / peer["latency_ms"]["p99"]
                ratios.append(f"p99 latency x{p99:.2f}")
            print(f"Hub / {kind} ({name}): " + ", ".join(ratios))


if __name__ == "__main__":
    sys.exit(main())
