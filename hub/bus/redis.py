"""The Redis bus: one pub/sub connection per process, a channel per session.

Publishing delivers to this process's own listeners first, synchronously, then queues
the payloads for Redis, tagged with this process's id (its own copies coming back are
ignored), the payloads of one session in one Redis message. One task sends what is
queued, so publishing never waits on Redis: local delivery and the acks that follow a
commit go on at full speed, in order, while Redis is down, slow or silent. Redis pub/sub
is at-most-once: receivers repair message gaps from PostgreSQL, and after a reconnect
every listener is told to resynchronise (`on_reconnect`).

The bus is unhealthy (and the rooms read PostgreSQL for what it would have brought)
while the subscription is down or silent (it is pinged twice a second), a publish
failed, or one has waited on Redis longer than `_PUBLISH_PATIENCE`.

Rate-limit buckets and connection slots live in Redis too, changed atomically by Lua
scripts, so that every process together allows only the limit. While Redis fails they
fall back to this process's memory: the limits then hold per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis
from nanoid import generate as nanoid
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.bus import Listener, OpenStream, StreamState, keys, verify
from hub.bus.wire import CLAIM_SCRIPT, OPEN_STREAM_SCRIPT, TAKE_SCRIPT, unwire, wire
from hub.metrics import Metrics
from hub.ratelimit import Buckets

__all__ = ["RedisBus"]

log = logging.getLogger("hub.bus.redis")

_OP_TIMEOUT = 2.0
_PUBLISH_QUEUE = 16_384
"""Redis messages waiting to be published; beyond this they are dropped (receivers
read PostgreSQL while this bus reports itself unhealthy)."""
_PUBLISH_PATIENCE = 1.0
"""Seconds a publish may wait on Redis before the bus reports itself unhealthy."""
_PING_EVERY = 0.5
_SILENT_AFTER = _OP_TIMEOUT + _PING_EVERY
"""Seconds without a word on the subscription (pings included) after which it is
taken as lost and connected again."""


class RedisBus:
    def __init__(self, url: str, *, metrics: Metrics | None = None) -> None:
        self._url = url
        self._metrics = metrics
        options = {"socket_timeout": _OP_TIMEOUT, "socket_connect_timeout": _OP_TIMEOUT}
        # Commands retry once, on a fresh connection (pooled ones die with a Redis restart).
        self._redis = aioredis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        # The subscription does not retry silently: a lost connection must reach this bus,
        # which reconnects itself and then resynchronises the rooms.
        self._sub_redis = aioredis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        self._node = nanoid(size=12).encode()
        self._listeners: dict[str, list[Listener]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = False
        self._publish_ok = True
        self._outgoing: asyncio.Queue[tuple[str, bytes, float]] = asyncio.Queue(_PUBLISH_QUEUE)
        self._publisher: asyncio.Task[None] | None = None
        self._publishing_since: float | None = None
        self._heard = 0.0
        """When the subscription last received anything (monotonic)."""
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._take = self._redis.register_script(TAKE_SCRIPT)
        self._claim = self._redis.register_script(CLAIM_SCRIPT)
        self._open_stream = self._redis.register_script(OPEN_STREAM_SCRIPT)
        self._local_buckets = Buckets()  # while Redis fails
        self._slots: dict[str, set[str]] = {}  # connections key -> ids held here
        self._shared_ok = True

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the subscription connection is re-established."""
        self._reconnect_callbacks.append(callback)

    async def start(self) -> None:
        connected = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(connected), name="hub-redis-bus")
        self._publisher = asyncio.create_task(self._publish_all(), name="hub-redis-publish")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connected), 5.0)
        if not self._subscribed:
            log.warning("Redis is not reachable yet; serving locally and retrying")

    async def close(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(TimeoutError):  # send what is queued, briefly
                await asyncio.wait_for(self._outgoing.join(), _PUBLISH_PATIENCE)
        for task in (self._publisher, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._redis.aclose()
        await self._sub_redis.aclose()

    def healthy(self) -> bool:
        """Subscribed and heard from within two pings, the last publish went through,
        and none waits on Redis for long."""
        since, now = self._publishing_since, time.monotonic()
        return (
            self._subscribed
            and self._publish_ok
            and now - self._heard < 2 * _PING_EVERY
            and (since is None or now - since < _PUBLISH_PATIENCE)
        )

    # -- pub/sub -----------------------------------------------------------------------

    async def publish(self, session_id: str, payload: bytes) -> None:
        await self.publish_many([(session_id, payload)])

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        """Deliver here at once, and queue for Redis; never waits."""
        for session_id, payload in items:
            self._deliver(session_id, payload)
        if not self._publish_ok:
            # Redis is failing: other processes catch up from PostgreSQL, and the
            # listener's probe turns publishing back on.
            return
        grouped: dict[str, list[bytes]] = {}
        for session_id, payload in items:
            grouped.setdefault(session_id, []).append(payload)
        for session_id, payloads in grouped.items():
            try:
                channel = keys.session_channel(session_id)
                body = self._node + b"|" + wire(payloads)
                self._outgoing.put_nowait((channel, body, time.monotonic()))
            except asyncio.QueueFull:
                log.warning("Redis is not keeping up; delivering locally only")
                self._publish_ok = False
                return

    async def _publish_all(self) -> None:
        """Send what is queued, in order, everything queued in one round trip."""
        while True:
            batch = [await self._outgoing.get()]
            while not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            try:
                if self._publish_ok:
                    await self._send(batch)
                    if self._metrics is not None and self._publish_ok:
                        self._metrics.published(time.monotonic(), [at for _, _, at in batch])
            except Exception:  # never let the publisher die while reporting healthy
                log.exception("publishing to Redis failed")
                self._publish_ok = False
            finally:
                for _ in batch:
                    self._outgoing.task_done()

    async def _send(self, batch: list[tuple[str, bytes, float]]) -> None:
        self._publishing_since = time.monotonic()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, body, _ in batch:
                    pipe.publish(channel, body)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            if self._publish_ok:
                log.warning("publish to Redis failed (%s); delivering locally only", exc)
            self._publish_ok = False
        finally:
            self._publishing_since = None

    def deliver_here(self, session_id: str, payload: bytes) -> None:
        self._deliver(session_id, payload)

    def _deliver(self, session_id: str, payload: bytes) -> None:
        for listener in list(self._listeners.get(session_id, ())):
            try:
                listener(payload)
            except Exception:
                log.exception("a bus listener failed")

    async def subscribe(self, session_id: str, listener: Listener) -> None:
        listeners = self._listeners.setdefault(session_id, [])
        listeners.append(listener)
        if len(listeners) > 1 or self._pubsub is None or not self._subscribed:
            return  # already subscribed, or the reconnect will subscribe it
        channel = keys.session_channel(session_id)
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmed[channel] = confirmed
        try:
            await self._pubsub.subscribe(channel)
            await asyncio.wait_for(asyncio.shield(confirmed), _OP_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("subscribing to %s failed (%s); will retry on reconnect", channel, exc)
        finally:
            self._confirmed.pop(channel, None)

    async def unsubscribe(self, session_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(session_id, [])
        if listener in listeners:
            listeners.remove(listener)
        if listeners:
            return
        self._listeners.pop(session_id, None)
        if self._pubsub is not None and self._subscribed:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(keys.session_channel(session_id))

    async def _run(self, connected: asyncio.Future[None]) -> None:
        delay = 0.1
        while True:
            pubsub = self._sub_redis.pubsub()
            try:
                subscribed: set[str] = set()
                while True:  # rooms created while subscribing must not be missed
                    wanted = {keys.CONTROL_CHANNEL, *map(keys.session_channel, self._listeners)}
                    if not wanted - subscribed:
                        break
                    await pubsub.subscribe(*(wanted - subscribed))
                    subscribed |= wanted
                self._pubsub = pubsub
                first = not connected.done()
                self._heard = time.monotonic()
                self._subscribed = self._publish_ok = True
                if first:
                    connected.set_result(None)
                else:
                    log.info(
                        "reconnected to Redis; resynchronising %d sessions", len(self._listeners)
                    )
                    for callback in list(self._reconnect_callbacks):
                        callback()
                delay = 0.1
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._subscribed or delay == 0.1:
                    log.warning("Redis connection lost (%s); retrying", exc)
                self._subscribed = False
            except Exception:  # never let the listener die while reporting healthy
                log.exception("Redis listener failed; reconnecting")
                self._subscribed = False
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        prefix = len(keys.session_channel(""))
        next_probe = next_ping = 0.0
        while True:
            now = time.monotonic()
            if now - self._heard > _SILENT_AFTER:
                raise ConnectionError("the subscription went silent")
            if now >= next_ping:  # its answer proves the subscription alive
                next_ping = now + _PING_EVERY
                await pubsub.ping()
            if not self._publish_ok and now >= next_probe:
                # publishing failed: probe once a second rather than stay off for good
                next_probe = now + 1.0
                with contextlib.suppress(RedisError, OSError):
                    self._publish_ok = bool(await self._redis.ping())
            message = await pubsub.get_message(timeout=_PING_EVERY)
            if message is None:
                continue
            self._heard = time.monotonic()
            kind = message["type"]
            if kind in ("pong", b"pong"):
                continue
            channel = message["channel"].decode()
            if kind == b"subscribe" or kind == "subscribe":
                waiter = self._confirmed.get(channel)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            if kind not in ("message", b"message") or channel == keys.CONTROL_CHANNEL:
                continue
            node, sep, body = message["data"].partition(b"|")
            if not sep:
                log.warning("dropped malformed payload on %s", channel)
                continue
            if node == self._node:
                continue
            session_id = channel[prefix:]
            for payload in unwire(body):
                if not verify(payload, session_id):
                    log.warning("dropped malformed payload on %s: %r", channel, payload[:80])
                    continue
                self._deliver(session_id, payload)

    # -- presence ----------------------------------------------------------------------
    # One entry per (participant, process): a participant connected to two processes
    # stays live while either keeps its entry fresh.

    def _member(self, participant_id: str) -> str:
        return f"{participant_id}@{self._node.decode()}"

    async def set_presence(
        self, session_id: str, participant_id: str, data: bytes, ttl: float
    ) -> None:
        member = self._member(participant_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(keys.presence_expiry(session_id), {member: time.time() + ttl})
                pipe.hset(keys.presence_data(session_id), member, data)
                pipe.expire(keys.presence_expiry(session_id), int(ttl) + 60)
                pipe.expire(keys.presence_data(session_id), int(ttl) + 60)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence not recorded in Redis: %s", exc)

    async def clear_presence(self, session_id: str, participant_id: str) -> None:
        member = self._member(participant_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(keys.presence_expiry(session_id), member)
                pipe.hdel(keys.presence_data(session_id), member)
                pipe.zremrangebyscore(keys.presence_expiry(session_id), "-inf", time.time())
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence not cleared in Redis: %s", exc)

    async def live_presence(self, session_id: str) -> dict[str, bytes]:
        """Raises on a Redis failure: callers fall back to the last known state."""
        members = cast(
            list[bytes],
            await self._redis.zrangebyscore(keys.presence_expiry(session_id), time.time(), "+inf"),
        )
        if not members:
            return {}
        values = cast(
            list[bytes | None], await self._redis.hmget(keys.presence_data(session_id), members)
        )
        live: dict[str, bytes] = {}
        for member, value in zip(members, values, strict=True):
            if value is not None:
                live[member.decode().rpartition("@")[0]] = value
        return live

    # -- shared counters ---------------------------------------------------------------

    def _shared_failed(self, what: str, exc: Exception) -> None:
        if self._shared_ok:
            log.warning("%s in Redis failed (%s); limits hold per process meanwhile", what, exc)
        self._shared_ok = False

    async def take(
        self, limit: str, subject: str, rate: float, burst: float, cost: float = 1.0
    ) -> float:
        key = keys.rate_bucket(limit, subject)
        try:
            wait = float(await self._take(keys=[key], args=[rate, burst, cost]))
        except (RedisError, OSError) as exc:
            self._shared_failed("rate limiting", exc)
            return self._local_buckets.take(key, rate, burst, cost)
        self._shared_ok = True
        return wait

    async def claim_connection(
        self, session_id: str, participant_id: str, connection_id: str, limit: int, ttl: float
    ) -> bool:
        key = keys.connections(session_id, participant_id)
        try:
            claimed = bool(
                await self._claim(keys=[key], args=[connection_id, time.time(), limit, ttl])
            )
        except (RedisError, OSError) as exc:
            self._shared_failed("counting connections", exc)
            claimed = len(self._slots.get(key, ())) < limit
        else:
            self._shared_ok = True
        if claimed:
            self._slots.setdefault(key, set()).add(connection_id)
        return claimed

    async def release_connection(
        self, session_id: str, participant_id: str, connection_id: str
    ) -> None:
        key = keys.connections(session_id, participant_id)
        held = self._slots.get(key)
        if held is not None:
            held.discard(connection_id)
            if not held:
                del self._slots[key]
        try:
            await self._redis.zrem(key, connection_id)
        except (RedisError, OSError) as exc:
            self._shared_failed("releasing a connection slot", exc)  # it lapses by itself

    async def refresh_connections(self, ttl: float) -> None:
        if not self._slots:
            return
        expires = time.time() + ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, held in self._slots.items():
                    # back into Redis even if they lapsed there (Redis was down a while)
                    pipe.zadd(key, dict.fromkeys(held, expires))
                    pipe.pexpire(key, int(ttl * 1000))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._shared_failed("refreshing connection slots", exc)

    # -- open streams ------------------------------------------------------------------
    # The index and infos of a session's open streams, each author's index (its limit),
    # and each stream's text: written by the process holding the stream, read by any
    # process a participant joins through mid-stream.

    async def open_stream(self, stream: OpenStream, info: bytes, limit: int, ttl: float) -> int:
        session_id, stream_id, author_id = stream
        now = time.time()
        return int(
            await self._open_stream(
                keys=[
                    keys.streams_index(session_id),
                    keys.streams_info(session_id),
                    keys.streams_of(session_id, author_id),
                    keys.stream_text(session_id, stream_id),
                    keys.stream_ended(session_id, stream_id),
                ],
                args=[stream_id, info, now, now + ttl, limit, int(ttl * 1000)],
            )
        )

    def _keep(self, pipe: aioredis.client.Pipeline, stream: OpenStream, ttl: float) -> None:
        session_id, stream_id, author_id = stream
        expires, ms = time.time() + ttl, int(ttl * 1000)
        pipe.zadd(keys.streams_index(session_id), {stream_id: expires}, xx=True)
        pipe.zadd(keys.streams_of(session_id, author_id), {stream_id: expires}, xx=True)
        for key in (
            keys.streams_index(session_id),
            keys.streams_info(session_id),
            keys.streams_of(session_id, author_id),
            keys.stream_text(session_id, stream_id),
        ):
            pipe.pexpire(key, ms)

    async def append_stream(self, stream: OpenStream, text: str, ttl: float) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.append(keys.stream_text(stream[0], stream[1]), text.encode())
                self._keep(pipe, stream, ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("stream text not recorded in Redis: %s", exc)

    async def refresh_streams(self, streams: list[OpenStream], ttl: float) -> None:
        if not streams:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for stream in streams:
                    self._keep(pipe, stream, ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("open streams not refreshed in Redis: %s", exc)

    async def close_stream(self, stream: OpenStream, ttl: float) -> None:
        session_id, stream_id, author_id = stream
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(keys.streams_index(session_id), stream_id)
                pipe.hdel(keys.streams_info(session_id), stream_id)
                pipe.zrem(keys.streams_of(session_id, author_id), stream_id)
                pipe.delete(keys.stream_text(session_id, stream_id))
                pipe.set(keys.stream_ended(session_id, stream_id), b"1", px=int(ttl * 1000))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("stream not closed in Redis (it lapses by itself): %s", exc)

    async def stream_states(self, streams: list[OpenStream]) -> list[StreamState]:
        if not streams:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id, stream_id, _ in streams:
                pipe.zscore(keys.streams_index(session_id), stream_id)
                pipe.exists(keys.stream_ended(session_id, stream_id))
            found = await pipe.execute()
        now = time.time()
        states: list[StreamState] = []
        for expires, ended in zip(found[::2], found[1::2], strict=True):
            if expires is not None and float(expires) > now:
                states.append("open")
            else:
                states.append("ended" if ended else "lapsed")
        return states

    async def open_streams(self, session_id: str) -> list[tuple[bytes, str]]:
        ids = cast(
            list[bytes],
            await self._redis.zrangebyscore(keys.streams_index(session_id), time.time(), "+inf"),
        )
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.streams_info(session_id), ids)
            pipe.mget([keys.stream_text(session_id, i.decode()) for i in ids])
            infos, texts = await pipe.execute()
        return [
            (info, (text or b"").decode())
            for info, text in zip(infos, texts, strict=True)
            if info is not None
        ]

    async def stream_info(self, session_id: str, stream_id: str) -> bytes | None:
        try:
            return cast(
                bytes | None, await self._redis.hget(keys.streams_info(session_id), stream_id)
            )
        except (RedisError, OSError):
            return None
