"""Serving the app: aiohttp's runner, plus a deadline for a connection's first request
header, so a client that opens a connection and sends half a header (or trickles it)
holds its socket for `header_timeout` seconds, not until the keep-alive timeout.

A request aiohttp cannot parse (a request line or a header line over 8190 bytes, too
many headers, a malformed line) never reaches the app's middlewares: aiohttp answers it
itself, in plain text. The connection handler here answers it with the hub's JSON error
body instead (`bad_request`), the one shape every REST error has; aiohttp has no other
hook for it (aio-libs/aiohttp#3287). So it does for what else aiohttp would answer in
plain text or by dropping the connection: an HTTP error raised before the middlewares
(an unknown `Expect`), an exception or timeout escaping them, a response failing while
it is prepared (an `on_response_prepare` hook, a header it refuses to send).

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
from hub.web.http import error_response, http_error_response, internal_error_response

__all__ = ["HubRunner", "serve"]


class _JsonErrorsHandler(RequestHandler):
    """aiohttp's connection handler, answering in the hub's JSON error shape what it
    would answer in plain text: a request it could not parse (400 `bad_request`, the
    connection closed, as aiohttp does); an HTTP error raised before the middlewares run
    (an `Expect` header it does not know); an exception or timeout escaping them (500
    `internal`, 503 `unavailable`); and a response that fails while being prepared (an
    `on_response_prepare` hook, a header aiohttp refuses to send: 500 `internal`, if no
    byte of it was sent; else the connection is closed, as aiohttp does)."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 500 and exc is not None and request.writer.output_size == 0:
            response = internal_error_response(request, exc)  # logged there
            response.force_close()
            return response
        plain = super().handle_error(request, status, exc, message)  # logs, or raises
        if status == 504:  # a timeout escaped the middlewares
            error = HubError("unavailable", "the request timed out; retry")
        elif status != 400 or not isinstance(exc, HttpProcessingError):
            return plain
        elif isinstance(exc, LineTooLong):
            limit = exc.args[1] if len(exc.args) > 1 else "8190"
            error = HubError(
                "bad_request",
                f"request line or header line is too long (at most {limit} bytes each)",
            )
        else:
            # not aiohttp's message: it may quote the line, and the line may hold a token
            error = HubError("bad_request", "malformed HTTP request (request line or headers)")
        response = error_response(error)
        response.force_close()
        return response

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if isinstance(resp, web.HTTPException) and resp.status >= 400:
            resp = http_error_response(request, resp)  # raised outside the middlewares
        try:
            return await super().finish_response(request, resp, start_time)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            writer = request.writer
            if writer.output_size > 0 or getattr(writer, "_headers_buf", None):
                raise  # part of the answer is out or on its way: the connection is closed
            response = internal_error_response(request, exc)
            response.force_close()
            try:
                return await super().finish_response(request, response, start_time)
            except Exception:
                raise exc from None  # this one fails too (a hook failing every response)


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
