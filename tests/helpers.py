"""Test clients that talk to a real hub over HTTP and websockets, waiting on events."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hub.bus import pack
from hub.domain import Message
from hub.protocol import MessageEvent, encode
from hub.web.server import HubRunner

TIMEOUT = 10.0
TEST_SECRET_KEY = "test:aHViLXRlc3Qta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE="
"""The vault's keyring in tests (a fixed key: never use it anywhere else)."""
_refs = itertools.count(1)


class HubTestServer(TestServer):
    """A test server running the app as `hub serve` does (its runner: the header
    deadline, JSON answers to requests aiohttp cannot parse)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return HubRunner(self.app, header_timeout=10.0, **kwargs)


class Peer:
    """One websocket connection; every frame it receives is kept in `frames`."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        """The `time.monotonic()` at which each frame of `frames` arrived."""
        self.close_code: int | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._cursors: dict[str, int] = {}

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    self.frames.append(msgspec.json.decode(msg.data))
                    self.arrived.append(time.monotonic())
                    self._changed.set()
        finally:
            self.close_code = self.ws.close_code
            self._changed.set()

    async def wait(self, predicate: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        """Wait until `predicate()` is truthy (checked on every received frame)."""
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if result:
                    return result
                if self._reader.done():
                    raise AssertionError(f"connection closed ({self.close_code}) while waiting")
                self._changed.clear()
                await self._changed.wait()

    async def next(self, type_: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame of `type_` this method has not returned yet."""
        start = self._cursors.get(type_, 0)

        def find() -> tuple[int, dict[str, Any]] | None:
            for index in range(start, len(self.frames)):
                if self.frames[index]["type"] == type_:
                    return index, self.frames[index]
            return None

        index, frame = await self.wait(find, timeout)
        self._cursors[type_] = index + 1
        return frame  # type: ignore[no-any-return]

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(msgspec.json.encode(frame).decode())

    async def request(self, frame: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        """Send a frame with a fresh ref; return the ack or error answering it."""
        ref = f"r{next(_refs)}"
        await self.send({**frame, "ref": ref})

        def answer() -> dict[str, Any] | None:
            for f in self.frames:
                if f.get("ref") == ref and f["type"] in ("ack", "error", "pong"):
                    return f
            return None

        return await self.wait(answer, timeout)  # type: ignore[no-any-return]

    async def say(self, content: str, **extra: Any) -> dict[str, Any]:
        return await self.request(
            {"type": "send", "client_msg_id": f"c{next(_refs)}", "content": content, **extra}
        )

    def message_ids(self) -> list[int]:
        return [f["message"]["id"] for f in self.frames if f["type"] == "message"]

    async def closed(self, timeout: float = TIMEOUT) -> int | None:
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._reader)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)


class HubClient:
    """REST calls and websocket connections against one hub."""

    def __init__(self, http: ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.peers: list[Peer] = []
        self.server: Any = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if json is not None:
            data = msgspec.json.encode(json)
            headers["Content-Type"] = "application/json"
        async with self.http.request(
            method, self.base + path, headers=headers, data=data, params=params
        ) as resp:
            raw = await resp.read()
            return resp.status, (msgspec.json.decode(raw) if raw else None)

    async def create_session(self, **body: Any) -> dict[str, Any]:
        status, created = await self.call("POST", "/api/sessions", json=body)
        assert status == 201, created
        return created  # type: ignore[no-any-return]

    async def join(self, code: str, **body: Any) -> tuple[int, Any]:
        return await self.call("POST", "/api/join", json={"invite_code": code, **body})

    async def session_with_b(self, **body: Any) -> dict[str, Any]:
        """A session with agent A and agent B; keys a, b, obs (tokens), id, invite."""
        created = await self.create_session(**body)
        status, joined = await self.join(created["invite_code"], agent_id="bee")
        assert status == 201, joined
        return {
            "id": created["session"]["id"],
            "a": created["agent_token"],
            "b": joined["token"],
            "obs": created["observer_token"],
            "invite": created["invite_code"],
            "created": created,
        }

    async def connect(
        self, token: str | None, *, since: int | None = None, hello: bool = True, **kw: Any
    ) -> Peer:
        params = {} if since is None else {"since": str(since)}
        params.update(kw.pop("params", {}))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await self.http.ws_connect(
            self.base + "/ws", params=params, headers=headers, heartbeat=None, **kw
        )
        peer = Peer(ws)
        self.peers.append(peer)
        if hello:
            await peer.next("hello")
            await peer.next("resumed")
        return peer

    async def scrape(self) -> list[Sample]:
        """Every sample the hub's /metrics shows now, parsed."""
        async with self.http.get(self.base + "/metrics") as resp:
            text = await resp.text()
        return [s for family in text_string_to_metric_families(text) for s in family.samples]

    async def metric(self, name: str, **labels: str) -> str:
        """The sum of the samples named `name` whose labels include `labels`, written
        like "1" or "0.25"; "" when there is none (a labelled counter not yet counted)."""
        found = [
            s.value
            for s in await self.scrape()
            if s.name == name and labels.items() <= s.labels.items()
        ]
        return f"{sum(found):g}" if found else ""

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)


def make_message(message_id: int, session_id: str = "ses_test") -> Message:
    """A message as the hub would have stored it, for tests below the web layer."""
    return Message(
        id=message_id,
        session_id=session_id,
        author_id="a",
        author_role="agent_a",
        content=str(message_id),
        msg_type="chat",
        metadata={},
        parent_id=None,
        client_msg_id=None,
        token_count=None,
        attachments=[],
        created_at=datetime.now(UTC),
    )


def message_payload(message_id: int, session_id: str = "ses_test") -> bytes:
    """The bus payload the hub publishes for that message."""
    frame = encode(MessageEvent(message=make_message(message_id, session_id)))
    return pack("m", message_id, frame)
