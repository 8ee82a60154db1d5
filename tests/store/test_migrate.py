"""Migrations apply once, in order, even when processes race to apply them."""

import asyncio

import asyncpg

from hub.store.migrate import apply_migrations, load_migrations


async def _fresh_database(database_url: str, name: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    from tests.conftest import _with_database

    return _with_database(database_url, name)


async def schema_before(conn: asyncpg.Connection, version: int) -> None:
    """The schema as a hub from before migration `version` left it: the migrations
    before it applied and recorded, so that `apply_migrations` applies `version` on."""
    older = [m for m in load_migrations() if m.version < version]
    for migration in older:
        await conn.execute(migration.sql)
    await conn.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.executemany(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
        [(m.version, m.name) for m in older],
    )


async def test_concurrent_migrations_apply_once(database_url: str) -> None:
    """Two processes migrating at the same moment: one applies, none fails."""
    url = await _fresh_database(database_url, "hub_migrate_race")
    results = await asyncio.gather(*(apply_migrations(url) for _ in range(3)))
    versions = [m.version for m in load_migrations()]
    applied = [r for r in results if r]
    assert applied == [versions]
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == versions
    finally:
        await conn.close()
    assert await apply_migrations(url) == []
