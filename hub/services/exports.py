"""Exporting a session, streamed: everything (JSON) or a transcript (Markdown), read in
one read-only REPEATABLE READ transaction through server-side cursors, so the export is
one consistent state and a session of any size is written in bounded memory.

A process streams at most `max_concurrent_exports` exports at once (each holds one
PostgreSQL connection for its whole length); one more is refused `rate_limited`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from hub.config import Config
from hub.domain import Principal, require
from hub.domain.exports import (
    ExportFormat,
    ExportHeader,
    ExportWriter,
    export_file_name,
    writer_for,
)
from hub.services.access import Access
from hub.store import Connection, Store
from hub.store import exports as export_store
from hub.store import sessions as session_store

__all__ = ["RETRY_AFTER", "Export", "Exports"]

RETRY_AFTER = 5.0
"""Seconds a refused export is told to wait before trying again."""


class Export:
    """One export under way: its file name, media type, and its bytes, a piece at a time."""

    def __init__(self, conn: Connection, header: ExportHeader, fmt: ExportFormat) -> None:
        self._conn = conn
        self._header = header
        self._writer: ExportWriter = writer_for(fmt)
        self.media_type = self._writer.media_type
        self.file_name = export_file_name(header.session, fmt)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The document: the head, then a piece per batch of rows read."""
        writer = self._writer
        session_id = self._header.session.id
        yield writer.head(self._header)
        for section in writer.sections:
            opened = writer.open(section)
            async for batch in export_store.section_rows(self._conn, section, session_id):
                yield opened + writer.rows(batch)
                opened = b""
            yield opened + writer.close()
        yield writer.end()


class Exports:
    def __init__(self, config: Config, store: Store, access: Access) -> None:
        self._store = store
        self._access = access
        self._limit = config.max_concurrent_exports
        self._timeout = config.export_timeout
        self._running = 0

    @property
    def running(self) -> int:
        """Exports this process is streaming now."""
        return self._running

    @asynccontextmanager
    async def open(self, principal: Principal, fmt: ExportFormat) -> AsyncIterator[Export]:
        """Start an export of the principal's session (any token may: it is reading), or
        refuse it `rate_limited` when this process streams `max_concurrent_exports`
        already. The block runs inside the export's snapshot, which the block's end
        closes; the export as a whole is bounded by `export_timeout` (then
        `unavailable`)."""
        require(principal, "read")
        if self._running >= self._limit:
            raise self._access.refusal(
                "exports",
                f"this hub process streams at most {self._limit} exports at once; retry shortly",
                RETRY_AFTER,
            )
        self._running += 1
        try:
            async with self._store.snapshot(within=self._timeout) as conn:
                await export_store.begin_export(conn, self._timeout)
                session = await session_store.get_session(conn, principal.session_id)
                header = ExportHeader(
                    exported_at=datetime.now(UTC),
                    session=session,
                    participants=await export_store.participants(conn, session.id),
                )
                yield Export(conn, header, fmt)
        finally:
            self._running -= 1
