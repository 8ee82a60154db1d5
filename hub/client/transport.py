"""The HTTP transport of the SDK's REST clients: one aiohttp session, JSON in and out, an
error answer raised as the matching `HubClientError`."""

from __future__ import annotations

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
    ) -> Any:
        """The decoded JSON answer; an error answer raises the matching `HubClientError`."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
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
                timeout=aiohttp.ClientTimeout(total=30),
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
            )
        return decoded

    async def _typed(self, answer: type[T], method: str, path: str, **request: Any) -> T:
        """`request` (its keyword arguments as there), the answer converted to `answer`."""
        return msgspec.convert(await self.request(method, path, **request), answer)
