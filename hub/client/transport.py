"""The HTTP transport of the SDK's REST clients: one aiohttp session, JSON in and out, an
error answer raised as the matching `HubClientError`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar

import aiohttp
import msgspec

from hub.client.errors import HubClientError, from_code
from hub.domain import Note

__all__ = ["RestClient"]

T = TypeVar("T")


class RestClient:
    """Requests to one hub's REST API, over one aiohttp session (its own unless given)."""

    def __init__(self, base_url: str, *, http: aiohttp.ClientSession | None = None) -> None:
        self.base = base_url.rstrip("/")
        self._http = http
        self._own = http is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
        raw: Any = None,
        content_type: str | None = None,
        waits: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        """The decoded JSON answer; an error answer raises the matching `HubClientError`.
        `raw` is a body sent as it is (bytes, or a file streamed), with `content_type`;
        `waits` bounds the waits (default: 30 s for the whole request)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw
        if content_type is not None:
            headers["Content-Type"] = content_type
        if body is not None:
            data = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        clean = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session().request(
                method,
                self.base + path,
                data=data,
                headers=headers,
                params=clean,
                timeout=waits or aiohttp.ClientTimeout(total=30),
            ) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HubClientError(
                "unavailable", f"cannot reach the hub at {self.base}: {exc}"
            ) from exc
        decoded = msgspec.json.decode(raw) if raw else None
        if response.status >= 400:
            detail = decoded if isinstance(decoded, dict) else {}
            note = detail.get("note")
            raise from_code(
                str(detail.get("code", "internal")),
                str(detail.get("message", f"HTTP {response.status}")),
                msgspec.convert(note, Note) if note else None,
                detail.get("file"),
                detail.get("revision"),
                detail.get("template"),
                detail.get("artifact"),
                detail.get("approval"),
            )
        return decoded

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        idle: float = 30.0,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A GET whose answer is read as it arrives: the response once its status is a
        success (an error answer raises the matching `HubClientError`). `idle` bounds
        each wait for more of it, not the whole transfer; a transfer cut short raises
        `HubClientError` `unavailable` from the read."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        clean = {k: str(v) for k, v in (params or {}).items() if v is not None}
        timeout = aiohttp.ClientTimeout(total=None, connect=idle, sock_read=idle)
        try:
            async with self._session().get(
                self.base + path, headers=headers, params=clean, timeout=timeout
            ) as response:
                if response.status >= 400:
                    raw = await response.read()
                    detail = msgspec.json.decode(raw) if raw else {}
                    detail = detail if isinstance(detail, dict) else {}
                    raise from_code(
                        str(detail.get("code", "internal")),
                        str(detail.get("message", f"HTTP {response.status}")),
                    )
                yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HubClientError(
                "unavailable", f"the answer from {self.base} was cut short: {exc}"
            ) from exc

    async def _typed(self, answer: type[T], method: str, path: str, **request: Any) -> T:
        """`request` (its keyword arguments as there), the answer converted to `answer`."""
        return msgspec.convert(await self.request(method, path, **request), answer)
