"""Serving the app: aiohttp's runner, plus a deadline for a connection's first request
header, so a client that opens a connection and sends half a header (or trickles it)
holds its socket for `header_timeout` seconds, not until the keep-alive timeout.

A request aiohttp cannot parse (a request line or a header line over 8190 bytes, too
many headers, a malformed line) never reaches the app's middlewares: aiohttp answers it
itself, in plain text. The connection handler here answers it with the hub's JSON error
body instead (`bad_request`), the one shape every REST error has; aiohttp has no other
hook for it (aio-libs/aiohttp#3287).

After the first request, aiohttp's keep-alive timeout (`keepalive_timeout`, set on the
app) closes a connection that stays idle or trickles its next header; a websocket, once
upgraded, is bounded by its heartbeat instead.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from hub.errors import HubError
from hub.web.http import error_response

__all__ = ["HubRunner", "serve"]


class _JsonErrorsHandler(RequestHandler):
    """aiohttp's connection handler, answering a request it could not parse with the
    hub's JSON `bad_request` (status 400, the connection closed, as aiohttp does)."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)  # logs, or raises
        if status != 400 or not isinstance(exc, HttpProcessingError):
            return plain
        if isinstance(exc, LineTooLong):
            limit = exc.args[1] if len(exc.args) > 1 else "8190"
            said = f"request line or header line is too long (at most {limit} bytes each)"
        else:
            # not aiohttp's message: it may quote the line, and the line may hold a token
            said = "malformed HTTP request (request line or headers)"
        response = error_response(HubError("bad_request", said))
        response.force_close()
        return response


class _HeaderDeadlineServer(web.Server):
    """aiohttp's low-level server, closing each connection that has not sent a complete
    request header `header_timeout` seconds after it was accepted."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._deadlines: dict[RequestHandler, asyncio.TimerHandle] = {}
        make_request = self.request_factory

        def request_factory(*args: Any) -> web.BaseRequest:
            # called with (message, payload, protocol, ...) once a header is complete
            deadline = self._deadlines.pop(args[2], None)
            if deadline is not None:
                deadline.cancel()
            return make_request(*args)

        self.request_factory = request_factory

    def __call__(self) -> RequestHandler:
        return _JsonErrorsHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._deadlines[handler] = asyncio.get_running_loop().call_later(
            self.header_timeout, self._late, handler
        )

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        deadline = self._deadlines.pop(handler, None)
        if deadline is not None:
            deadline.cancel()
        super().connection_lost(handler, exc)

    def _late(self, handler: RequestHandler) -> None:
        if self._deadlines.pop(handler, None) is not None:
            handler.force_close()


class HubRunner(web.AppRunner):
    """`web.AppRunner` whose server enforces the header deadline."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _HeaderDeadlineServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            header_timeout=self._header_timeout,
            **plain._kwargs,  # the handler settings aiohttp gathered (app, runner)
        )


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float,
    shutdown_timeout: float,
    on_ready: Callable[[], None],
    **runner_args: Any,
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut down gracefully."""
    runner = HubRunner(
        app, header_timeout=header_timeout, shutdown_timeout=shutdown_timeout, **runner_args
    )
    await runner.setup()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await web.TCPSite(runner, host, port).start()
        on_ready()  # after the handlers: a signal sent once this is read stops gracefully
        await stop.wait()
    finally:
        await runner.cleanup()
