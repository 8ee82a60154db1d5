"""MCP's Streamable HTTP transport, served by the hub itself at `/mcp`.

A remote AI agent adds `https://hub.example/mcp` as an MCP server with its session token
as the bearer token, and needs nothing installed. The SDK's `StreamableHTTPSessionManager`
(an ASGI app) speaks the transport: each request reaches it through the aiohttp route
(`hub.web.mcp`, via `hub.web.asgi`), after the route has authenticated the token, with
the token's hash as the MCP principal (so an MCP session answers only to the token that
opened it). Every MCP request is served by the token's bridge: the same `Bridge` that
`hub mcp` runs over stdio, holding one SDK connection to this hub (auto-resume and
idempotent sends included), shared by every MCP session of that token, so
`wait_for_messages` returns each message once across sessions and reconnects. A bridge
unused for `idle_timeout` is closed; the next request opens a new one.

MCP sessions live in the process that opened them: behind several hub processes, route
`/mcp` by its `Mcp-Session-Id` header (or send it to one process). The SDK (and its
import, about a second) is loaded at the first request, not at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from hub.client import connect
from hub.errors import HubError
from hub.mcp.bridge import Bridge

if TYPE_CHECKING:
    from hub.mcp.server import Notices

__all__ = ["SESSIONS_PER_TOKEN", "McpHttp"]

SESSIONS_PER_TOKEN = 16
"""MCP sessions one token may hold open at once (one agent needs one; a client that
reconnects without ending its old session can leave a few behind until they expire)."""

log = logging.getLogger("hub.mcp")


@dataclass
class _Entry:
    """A token's bridge (replaced in place when its connection has ended)."""

    notices: Notices
    stack: contextlib.AsyncExitStack
    inflight: int = 0
    last_used: float = field(default_factory=time.monotonic)


CURRENT: ContextVar[_Entry] = ContextVar("hub_mcp_bridge")
"""The token entry of the request being served. Set by the route before the ASGI app
runs; a stateful MCP session's server task is started inside its opening request, so it
keeps the entry of the token that opened it (and only that token may use the session)."""


def _current() -> Notices:
    return CURRENT.get().notices


class McpHttp:
    """The `/mcp` endpoint of one hub process: the SDK's session manager and the bridges
    of the tokens using it."""

    def __init__(self, *, idle_timeout: float, max_body: int) -> None:
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self._bridges: dict[bytes, _Entry] = {}
        self._opening = asyncio.Lock()
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._started = False
        self._runner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._manager: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings

        from hub.mcp.server import McpBridgeServer, instructions

        server = McpBridgeServer(_current, instructions=instructions(None))
        self._manager = StreamableHTTPSessionManager(
            server.server,
            # Every request carries a session token in its Authorization header, which a
            # browser never adds by itself: the Host/Origin checks against DNS rebinding
            # guard unauthenticated local servers, and would only refuse proxied hosts.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            json_response=True,
            session_idle_timeout=self.idle_timeout,
            max_request_body_size=self.max_body,
        )
        self._http = aiohttp.ClientSession()
        running, self._stop = asyncio.Event(), asyncio.Event()
        # The manager's task group belongs to the task that enters it (anyio's cancel
        # scopes are bound to their task): a task of its own, not a request's.
        self._runner = asyncio.create_task(self._run(running), name="hub-mcp-http")
        waiting = asyncio.create_task(running.wait())
        await asyncio.wait({self._runner, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._runner.done():
            self._runner.result()  # raises what stopped it
        self._sweeper = asyncio.create_task(self._sweep(), name="hub-mcp-sweep")
        self._started = True

    async def _run(self, running: asyncio.Event) -> None:
        async with self._manager.run():
            running.set()
            await self._stop.wait()

    async def close(self) -> None:
        """End every MCP session and close every bridge."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._runner is not None:
            self._stop.set()
            await self._runner
        for key in list(self._bridges):
            await self._drop(key)
        if self._http is not None:
            await self._http.close()

    async def serve(self, token: str, own_url: str, call: Any, *, opening: bool) -> Any:
        """Run `call(asgi_app, user)` (the route serving its request) with the token's
        bridge as the current one; `opening`: the request may open an MCP session (it
        names none), refused once the token has `SESSIONS_PER_TOKEN` open."""
        key = hashlib.sha256(token.encode()).digest()
        entry = await self._entry(key, token, own_url)
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from mcp.server.auth.provider import AccessToken

        if opening and self._sessions_of(key.hex()) >= SESSIONS_PER_TOKEN:
            raise HubError(
                "rate_limited",
                f"a token holds at most {SESSIONS_PER_TOKEN} MCP sessions: end one"
                " (DELETE /mcp) or let one expire",
            )
        user = AuthenticatedUser(AccessToken(token=key.hex(), client_id=key.hex(), scopes=[]))
        entry.inflight += 1
        reset = CURRENT.set(entry)
        try:
            return await call(self._manager.handle_request, user)
        finally:
            CURRENT.reset(reset)
            entry.inflight -= 1
            entry.last_used = time.monotonic()

    def _sessions_of(self, client_id: str) -> int:
        """The MCP sessions open with the token whose hash is `client_id` (the SDK's
        manager keeps who opened each)."""
        owners = getattr(self._manager, "_session_owners", {})
        return sum(1 for owner in owners.values() if owner.get("client_id") == client_id)

    async def _entry(self, key: bytes, token: str, own_url: str) -> _Entry:
        async with self._opening:
            if not self._started:
                await self._start()
            lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one token's bridge opening holds up no other token
            entry = self._bridges.get(key)
            if entry is not None and entry.notices.bridge.ended is None:
                return entry
            notices, stack = await self._open(token, own_url)
            if entry is None:
                entry = self._bridges[key] = _Entry(notices, stack)
            else:  # its connection ended (the hub closed it): a new one, same sessions
                old, entry.notices, entry.stack = entry.stack, notices, stack
                with contextlib.suppress(Exception):
                    await old.aclose()
            return entry

    async def _open(self, token: str, own_url: str) -> tuple[Notices, contextlib.AsyncExitStack]:
        stack = contextlib.AsyncExitStack()
        try:
            session = await stack.enter_async_context(
                connect(own_url, token, since=None, connect_timeout=10, http=self._http)
            )
            bridge = Bridge(session)
            bridge.start()
            stack.push_async_callback(bridge.close)
        except BaseException:
            await stack.aclose()
            raise
        from hub.mcp.server import Notices

        return Notices(bridge), stack

    async def _drop(self, key: bytes) -> None:
        entry = self._bridges.pop(key, None)
        self._locks.pop(key, None)
        if entry is not None:
            with contextlib.suppress(Exception):
                await entry.stack.aclose()

    async def _sweep(self) -> None:
        """Close the bridges nobody has used for `idle_timeout`."""
        while True:
            await asyncio.sleep(min(60.0, self.idle_timeout / 4))
            now = time.monotonic()
            for key, entry in list(self._bridges.items()):
                lock = self._locks.get(key)
                if lock is None or lock.locked():
                    continue
                if entry.inflight == 0 and now - entry.last_used > self.idle_timeout:
                    log.info("closing an idle MCP bridge")
                    await self._drop(key)
