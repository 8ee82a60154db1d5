"""The REST API of attachments: upload binary content to a session (agents), list,
describe, download (streamed) and read thumbnails (any token of it); and what a message
may be sent with (`AttachmentSource`), uploaded first by `upload_sources`."""

from __future__ import annotations

import asyncio
import io
import mimetypes
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TypeAlias

import aiohttp
import msgspec

from hub import api
from hub.client.errors import HubClientError
from hub.client.transport import RestClient
from hub.domain import Attachment

__all__ = ["AttachmentSource", "AttachmentsAPI", "Upload"]

_IDLE = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
"""Uploads and downloads may take long: each wait for the hub is bounded, not the whole."""


class Upload(msgspec.Struct, kw_only=True):
    """Content to upload with a name and MIME type of your choosing: `data` is bytes or
    the path of a local file."""

    data: bytes | str | os.PathLike[str]
    name: str | None = None
    content_type: str | None = None


AttachmentSource: TypeAlias = "bytes | os.PathLike[str] | Upload | Attachment | str"
"""What `send(..., attachments=[...])` takes: bytes, a local file (a `Path`) or an
`Upload` are uploaded first; an `Attachment` already uploaded is named by its id; a `str`
is the path of one of the session's (text) files, as before."""


def _guess(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class AttachmentsAPI(RestClient):
    async def upload_attachment(
        self,
        session_id: str,
        token: str,
        source: bytes | str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> Attachment:
        """Upload bytes, a local file (a path: streamed, never read whole) or a binary
        file object; the name defaults to the file's, the type to one guessed from the
        name. `HubClientError` `payload_too_large` past the hub's size limit,
        `quota_exceeded` past the session's quota, `forbidden` for an observer."""
        path = f"/api/sessions/{session_id}/attachments"
        return await self._upload_to(path, token, source, name, content_type, {})

    async def _upload_to(
        self,
        path: str,
        token: str,
        source: bytes | str | os.PathLike[str] | IO[bytes],
        name: str | None,
        content_type: str | None,
        params: dict[str, str | int],
    ) -> Attachment:
        """POST `source` (bytes, a local file streamed, or a binary file object) raw to
        `path`, named and typed as `upload_attachment` does."""
        if isinstance(source, bytes | bytearray | memoryview):
            name = name or "attachment"
            handle: IO[bytes] = io.BytesIO(bytes(source))
            return await self._upload(path, token, handle, name, content_type, params)
        if isinstance(source, str | os.PathLike):
            local = Path(source)
            name = name or local.name
            handle = await asyncio.to_thread(local.open, "rb")
            try:
                return await self._upload(path, token, handle, name, content_type, params)
            finally:
                handle.close()
        name = name or Path(str(getattr(source, "name", "attachment"))).name
        return await self._upload(path, token, source, name, content_type, params)

    async def _upload(
        self,
        path: str,
        token: str,
        handle: IO[bytes],
        name: str,
        content_type: str | None,
        params: dict[str, str | int],
    ) -> Attachment:
        return await self._typed(
            Attachment,
            "POST",
            path,
            token=token,
            raw=handle,
            content_type=content_type or _guess(name),
            params={**params, "name": name},
            waits=_IDLE,
        )

    async def upload_sources(
        self, session_id: str, token: str, sources: Sequence[AttachmentSource]
    ) -> tuple[list[str], list[str]]:
        """What a message is sent with: (paths of session files, attachment ids), each
        source that is content uploaded first, in order."""
        paths: list[str] = []
        ids: list[str] = []
        for source in sources:
            if isinstance(source, str):
                paths.append(source)
            elif isinstance(source, Attachment):
                ids.append(source.id)
            elif isinstance(source, Upload):
                made = await self.upload_attachment(
                    session_id,
                    token,
                    source.data if isinstance(source.data, bytes) else Path(source.data),
                    name=source.name,
                    content_type=source.content_type,
                )
                ids.append(made.id)
            else:
                ids.append((await self.upload_attachment(session_id, token, source)).id)
        return paths, ids

    async def attachments(
        self, session_id: str, token: str, *, after: str | None = None, limit: int = 100
    ) -> api.AttachmentList:
        """A page of the session's attachments, oldest first; pass `.next_after` as
        `after` for the next page."""
        return await self._typed(
            api.AttachmentList,
            "GET",
            f"/api/sessions/{session_id}/attachments",
            token=token,
            params={"after": after, "limit": limit},
        )

    async def attachment(self, session_id: str, token: str, attachment_id: str) -> Attachment:
        """An attachment's metadata; `HubClientError` `not_found` for another session's."""
        path = f"/api/sessions/{session_id}/attachments/{attachment_id}"
        return await self._typed(Attachment, "GET", path, token=token)

    async def download_attachment(
        self, session_id: str, token: str, attachment_id: str, *, idle: float = 30.0
    ) -> bytes:
        """An attachment's bytes, whole, in memory; for large ones prefer
        `download_attachment_to`."""
        parts: list[bytes] = []
        path = f"/api/sessions/{session_id}/attachments/{attachment_id}/content"
        async with self.stream(path, token=token, idle=idle) as response:
            async for chunk in response.content.iter_any():
                parts.append(chunk)
        return b"".join(parts)

    async def download_attachment_to(
        self,
        target: str | os.PathLike[str],
        session_id: str,
        token: str,
        attachment_id: str,
        *,
        idle: float = 30.0,
    ) -> int:
        """Stream an attachment into the file `target` (bounded memory); returns the
        bytes written. The file appears only once whole: a download cut short raises
        `HubClientError` `unavailable` and leaves no file."""
        out_path = Path(target)
        partial = out_path.with_name(f".{out_path.name}.{secrets.token_hex(4)}.part")
        written = 0
        path = f"/api/sessions/{session_id}/attachments/{attachment_id}/content"
        try:
            with partial.open("wb") as out:
                async with self.stream(path, token=token, idle=idle) as response:
                    async for chunk in response.content.iter_chunked(1 << 16):
                        out.write(chunk)
                        written += len(chunk)
                    if response.content_length not in (None, written):
                        raise HubClientError("unavailable", "the download was cut short")
            partial.replace(out_path)
        finally:
            partial.unlink(missing_ok=True)
        return written

    async def attachment_thumbnail(self, session_id: str, token: str, attachment_id: str) -> bytes:
        """A raster image attachment's PNG thumbnail; `HubClientError` `not_found` if it
        has none."""
        path = f"/api/sessions/{session_id}/attachments/{attachment_id}/thumbnail"
        async with self.stream(path, token=token) as response:
            return await response.read()
