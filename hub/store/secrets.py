"""The vault's rows: sealed values by owner and name (the store never sees plaintext)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from hub.domain import Secret
from hub.store import Connection, row_to, rows_to
from hub.vault import Sealed

__all__ = [
    "SealedRow",
    "delete",
    "list_secrets",
    "put",
    "read",
    "reseal",
    "stale_batch",
]

COLUMNS = "name, created_at, updated_at, last_used_at"


@dataclass(frozen=True, slots=True)
class SealedRow:
    """A row as `hub secrets rotate` handles it: whose, which name, the sealed value."""

    id: int
    user_id: str
    name: str
    sealed: Sealed


def _sealed(row: asyncpg.Record) -> Sealed:
    return Sealed(row["key_id"], bytes(row["nonce"]), bytes(row["ciphertext"]))


async def put(conn: Connection, user_id: str, name: str, sealed: Sealed) -> tuple[Secret, bool]:
    """Set or replace a secret; returns it and whether it was created (not replaced)."""
    row = await conn.fetchrow(
        f"""INSERT INTO secrets (user_id, name, key_id, nonce, ciphertext)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (user_id, name) DO UPDATE
            SET key_id = excluded.key_id, nonce = excluded.nonce,
                ciphertext = excluded.ciphertext, updated_at = now()
            RETURNING {COLUMNS}, xmax = 0 AS created""",
        user_id,
        name,
        sealed.key_id,
        sealed.nonce,
        sealed.ciphertext,
    )
    assert row is not None
    return row_to(row, Secret), bool(row["created"])


async def list_secrets(conn: Connection, user_id: str) -> list[Secret]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM secrets WHERE user_id = $1 ORDER BY name", user_id
    )
    return rows_to(rows, Secret)


async def read(conn: Connection, user_id: str, name: str) -> Sealed | None:
    """The sealed value of the user's secret `name`, noting that it was used (None if
    they have no such secret)."""
    row = await conn.fetchrow(
        """UPDATE secrets SET last_used_at = now() WHERE user_id = $1 AND name = $2
           RETURNING key_id, nonce, ciphertext""",
        user_id,
        name,
    )
    return None if row is None else _sealed(row)


async def delete(conn: Connection, user_id: str, name: str) -> bool:
    """Delete the user's secret `name` for good; False if they have none by that name."""
    row = await conn.fetchrow(
        "DELETE FROM secrets WHERE user_id = $1 AND name = $2 RETURNING id", user_id, name
    )
    return row is not None


async def stale_batch(conn: Connection, newest: str, after_id: int, limit: int) -> list[SealedRow]:
    """Up to `limit` rows after the id `after_id` not sealed with the key `newest`, in
    id order, locked for this transaction (rows another rotation holds are skipped)."""
    rows = await conn.fetch(
        """SELECT id, user_id, name, key_id, nonce, ciphertext FROM secrets
           WHERE key_id <> $1 AND id > $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED""",
        newest,
        after_id,
        limit,
    )
    return [SealedRow(r["id"], r["user_id"], r["name"], _sealed(r)) for r in rows]


async def reseal(conn: Connection, resealed: list[tuple[int, Sealed]]) -> None:
    """Replace rows' sealed values with the same values sealed anew (times unchanged)."""
    if not resealed:
        return
    await conn.executemany(
        "UPDATE secrets SET key_id = $2, nonce = $3, ciphertext = $4 WHERE id = $1",
        [(row_id, s.key_id, s.nonce, s.ciphertext) for row_id, s in resealed],
    )
