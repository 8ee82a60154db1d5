"""Schema migrations: `sql/NNNN_name.sql` applied in order, each exactly once.

Safe when several processes start at once: a PostgreSQL advisory lock serialises them,
and each file is applied in the same transaction that records it.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import asyncpg

__all__ = ["Migration", "apply_migrations", "load_migrations"]

log = logging.getLogger("hub.migrate")

_LOCK_KEY = 0x6875625F6D6967  # "hub_mig": one advisory lock for all hub processes
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Migration:
    def __init__(self, version: int, name: str, sql: str) -> None:
        self.version = version
        self.name = name
        self.sql = sql


def _sql_dir() -> Path:
    return Path(str(resources.files("hub") / "sql"))


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Every migration file, in version order; a malformed name is an error."""
    folder = directory or _sql_dir()
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be NNNN_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migration files share a version number")
    return found


async def apply_migrations(url_or_conn: str | asyncpg.Connection) -> list[int]:
    """Apply pending migrations; returns the versions this call applied."""
    conn = (
        await asyncpg.connect(url_or_conn, timeout=10)
        if isinstance(url_or_conn, str)
        else url_or_conn
    )
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied = []
            for migration in load_migrations():
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration.version)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        if isinstance(url_or_conn, str):
            await conn.close()
