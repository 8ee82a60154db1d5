"""Where attachments' bytes live: the `BlobStore` boundary and its PostgreSQL
implementation, the embedded default.

A blob is the bytes of one or more uploads to a session, keyed by (session id,
SHA-256). Its row (`attachment_blobs`: size, thumbnail) is always in PostgreSQL; a
`BlobStore` keeps the bytes. `PostgresBlobs` writes them as chunks in the transaction
that records the blob, so a rolled-back upload leaves nothing. An S3-compatible store
would put the object (key `SESSION/SHA256`) from `put` too (before the transaction
commits; an object left by a rolled-back upload is harmless, as the next upload of the
same bytes reuses it, and a sweep may delete objects no blob row names) and read it back
in ranges from `read`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO, NamedTuple, Protocol

from hub.errors import HubError
from hub.store import Connection, Store

__all__ = ["CHUNK_BYTES", "BlobKey", "BlobStore", "PostgresBlobs"]

CHUNK_BYTES = 256 * 1024
"""A stored chunk of a blob, and the most a read holds at once per chunk."""
_CHUNKS_PER_READ = 4


class BlobKey(NamedTuple):
    session_id: str
    sha256: str


class BlobStore(Protocol):
    """The bytes of blobs: written once, read in order, never changed or deleted."""

    async def put(
        self, conn: Connection, key: BlobKey, source: IO[bytes], size: int, within: float
    ) -> None:
        """Store `size` bytes read from `source` (a file at its start) as the blob `key`,
        whose row `conn`'s transaction is inserting, within `within` seconds."""

    def read(self, key: BlobKey, size: int) -> AsyncIterator[bytes]:
        """The blob's bytes in order, a chunk at a time (the caller's memory holds no
        more than a few chunks): `unavailable` if the store cannot give them all."""


class PostgresBlobs:
    """Blobs as rows of `attachment_chunks` (`CHUNK_BYTES` each), written with COPY in
    the transaction that records the blob, read a few chunks per query."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def put(
        self, conn: Connection, key: BlobKey, source: IO[bytes], size: int, within: float
    ) -> None:
        async def records() -> AsyncIterator[tuple[str, str, int, bytes]]:
            seq = 0
            while chunk := source.read(CHUNK_BYTES):
                yield (key.session_id, key.sha256, seq, chunk)
                seq += 1

        await conn.copy_records_to_table(
            "attachment_chunks",
            records=records(),
            columns=("session_id", "sha256", "seq", "data"),
            timeout=within,
        )

    async def read(self, key: BlobKey, size: int) -> AsyncIterator[bytes]:
        seq, sent = 0, 0
        while sent < size:
            async with self._store.connection() as conn:
                rows = await conn.fetch(
                    "SELECT seq, data FROM attachment_chunks"
                    " WHERE session_id = $1 AND sha256 = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
                    key.session_id,
                    key.sha256,
                    seq,
                    _CHUNKS_PER_READ,
                )
            if not rows:
                break
            for row in rows:
                if row["seq"] != seq:
                    break
                seq += 1
                sent += len(row["data"])
                yield row["data"]
            else:
                continue
            break
        if sent != size:
            raise HubError("unavailable", f"blob {key.sha256} of {key.session_id} is incomplete")
