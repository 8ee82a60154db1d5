"""Attachments: binary uploads to a session (agents), read by any token of it.

An upload is streamed into a temporary file (hashed and counted as it comes, refused as
soon as it passes the size limit), so neither its bytes nor a database connection are
held while a slow client sends it. Then, if the session does not hold those bytes yet,
a raster image's thumbnail is made off the event loop, and one transaction records the
blob, stores its bytes (`BlobStore`), charges the session's quota, and records the
attachment and its activity row. Downloads are read from the store a few chunks at a
time, whatever their size.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from hub import api
from hub.config import Config
from hub.domain import Attachment, Principal, require
from hub.domain.attachments import (
    ATTACHMENT_ID_PATTERN,
    RASTER_TYPES,
    make_thumbnail,
    new_attachment_id,
    parse_content_type,
    validate_name,
)
from hub.errors import HubError
from hub.protocol import AttachmentEvent
from hub.services.events import Events
from hub.store import Connection, Store, changes
from hub.store import attachments as attachment_store
from hub.store import sessions as session_store
from hub.store.blobs import BlobKey, BlobStore

__all__ = ["Attachments", "Download", "UploadGuard"]

UploadGuard = Callable[[Connection], Awaitable[None]]
"""A check run in the upload's transaction, after the session is held for the write
(a runner's upload: it still holds its job); raising refuses the upload, nothing stored."""

_WRITE_BYTES_PER_SECOND = 10_000_000
"""The slowest the store is expected to take a blob: an upload's transaction may take
the store's timeout plus its size at this rate."""
_THUMBNAILS_AT_ONCE = 2
"""Thumbnails made at once per process (each may decode up to 64 MiB of pixels)."""
_STORING_AT_ONCE = 2
"""Uploads one process stores at once, each holding a pooled connection while its bytes
go in: the rest of the pool stays free for messages, whatever uploads arrive together."""

_ID = re.compile(ATTACHMENT_ID_PATTERN)


class Download:
    """An attachment and its bytes, to be read once, in order."""

    def __init__(self, attachment: Attachment, chunks: AsyncIterator[bytes]) -> None:
        self.attachment = attachment
        self.chunks = chunks


class Attachments:
    def __init__(self, config: Config, store: Store, blobs: BlobStore, events: Events) -> None:
        self._store = store
        self._blobs = blobs
        self._events = events
        self.max_bytes = config.attachment_max_bytes
        self.quota = config.attachment_quota_bytes
        self._thumbnails = asyncio.Semaphore(_THUMBNAILS_AT_ONCE)
        self._storing = asyncio.Semaphore(_STORING_AT_ONCE)
        self.per_session = config.attachment_receiving_per_session
        self.per_process = config.attachment_receiving
        self._receiving: dict[str, int] = {}
        self.max_downloads = config.attachment_downloads
        self._downloads = 0
        """Uploads being received (spooled to disk) per session, in this process."""

    def check_upload(self, principal: Principal, length: int | None) -> None:
        """Refuse an upload before its body is read: the principal may not upload, or
        it declares more than the size limit."""
        require(principal, "upload_attachments")
        if length is not None and length > self.max_bytes:
            raise self._too_large()

    def _too_large(self) -> HubError:
        return HubError("payload_too_large", f"an attachment is at most {self.max_bytes} bytes")

    async def upload(
        self,
        principal: Principal,
        chunks: AsyncIterator[bytes],
        *,
        name: str | None,
        content_type: str | None,
        length: int | None = None,
        guard: UploadGuard | None = None,
    ) -> Attachment:
        """Store an upload; its bytes come from `chunks`. `payload_too_large` past the
        size limit and `quota_exceeded` past the session's quota: nothing is stored;
        nor if `guard` raises."""
        self.check_upload(principal, length)
        file_name = validate_name(name)
        mime = parse_content_type(content_type)
        session_id = principal.session_id
        if (
            self._receiving.get(session_id, 0) >= self.per_session
            or sum(self._receiving.values()) >= self.per_process
        ):  # each spools up to the size limit to disk before the quota can be known
            raise HubError(
                "rate_limited",
                f"at most {self.per_session} uploads of a session (and {self.per_process}"
                " in all) are received at once: retry when one is done",
                1.0,
            )
        self._receiving[session_id] = self._receiving.get(session_id, 0) + 1
        try:
            return await self._receive(principal, chunks, file_name, mime, guard)
        finally:
            if self._receiving[session_id] <= 1:
                del self._receiving[session_id]
            else:
                self._receiving[session_id] -= 1

    async def _receive(
        self,
        principal: Principal,
        chunks: AsyncIterator[bytes],
        file_name: str,
        mime: str,
        guard: UploadGuard | None,
    ) -> Attachment:
        session_id = principal.session_id
        with tempfile.TemporaryFile() as spool:
            digest, size = hashlib.sha256(), 0
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                digest.update(chunk)
                spool.write(chunk)
            sha256 = digest.hexdigest()
            async with self._store.connection() as conn:
                state = await attachment_store.blob_state(conn, session_id, sha256)
            if not state.exists and state.used + size > self.quota:
                raise self._over_quota(state.used)
            thumbnail = None
            if not state.exists and mime in RASTER_TYPES:
                spool.seek(0)
                async with self._thumbnails:
                    thumbnail = await asyncio.to_thread(make_thumbnail, spool, mime)
            spool.seek(0)
            within = self._store.timeout + size / _WRITE_BYTES_PER_SECOND
            async with self._storing, self._store.transaction(within) as conn:
                if await attachment_store.insert_blob(conn, session_id, sha256, size, thumbnail):
                    await self._blobs.put(conn, BlobKey(session_id, sha256), spool, size, within)
                    if await attachment_store.charge(conn, session_id, size, self.quota) is None:
                        raise self._over_quota(None)
                await session_store.hold_for_write(conn, session_id)
                if guard is not None:
                    await guard(conn)
                attachment = await attachment_store.insert_attachment(
                    conn,
                    attachment_id=new_attachment_id(),
                    session_id=session_id,
                    sha256=sha256,
                    name=file_name,
                    content_type=mime,
                    size=size,
                    uploader=principal.participant_id,
                    uploader_role=principal.role,
                )
                event = AttachmentEvent(attachment=attachment)
                await changes.record_as(
                    conn,
                    principal,
                    "attachment.uploaded",
                    {"id": attachment.id, "name": file_name, "size": size, "sha256": sha256},
                    outbox=("attachment.uploaded", event),
                )
        await self._events.publish(session_id, event)
        return attachment

    def _over_quota(self, used: int | None) -> HubError:
        held = "" if used is None else f" ({used} held)"
        return HubError(
            "quota_exceeded",
            f"this session's attachments may hold at most {self.quota} bytes{held}",
        )

    async def get(self, principal: Principal, attachment_id: str) -> Attachment:
        _check_id(attachment_id)
        async with self._store.connection() as conn:
            return await attachment_store.get_attachment(conn, principal.session_id, attachment_id)

    async def list(self, principal: Principal, query: api.AttachmentQuery) -> api.AttachmentList:
        async with self._store.connection() as conn:
            found = await attachment_store.list_attachments(
                conn, principal.session_id, after=query.after, limit=query.limit
            )
        more = len(found) == query.limit
        return api.AttachmentList(attachments=found, next_after=found[-1].id if more else None)

    @contextlib.contextmanager
    def downloading(self) -> Iterator[None]:
        """Hold one of the process's download places for a download's whole length
        (each reads the store as the reader reads): 429 `rate_limited` when all are taken."""
        if self._downloads >= self.max_downloads:
            raise HubError(
                "rate_limited",
                f"this hub streams at most {self.max_downloads} downloads at once: retry soon",
                1.0,
            )
        self._downloads += 1
        try:
            yield
        finally:
            self._downloads -= 1

    async def download(self, principal: Principal, attachment_id: str) -> Download:
        """The attachment and its bytes (read from the store as they are consumed)."""
        _check_id(attachment_id)
        async with self._store.connection() as conn:
            attachment = await attachment_store.get_attachment(
                conn, principal.session_id, attachment_id
            )
            home = await attachment_store.blob_home(conn, principal.session_id, attachment.sha256)
        key = BlobKey(home, attachment.sha256)
        return Download(attachment, self._blobs.read(key, attachment.size))

    async def thumbnail(self, principal: Principal, attachment_id: str) -> bytes:
        """A PNG thumbnail; `not_found` if the attachment has none (not a raster image,
        not decodable as one, or too many pixels)."""
        _check_id(attachment_id)
        async with self._store.connection() as conn:
            data = await attachment_store.thumbnail(conn, principal.session_id, attachment_id)
        if data is None:
            raise HubError("not_found", f"attachment {attachment_id} has no thumbnail")
        return data


def _check_id(attachment_id: str) -> None:
    if not _ID.match(attachment_id):
        raise HubError("not_found", f"no attachment {attachment_id[:40]!r} in this session")
