"""Finding sessions in lists: the public directory, a verified agent's sessions, and the
filters every list of sessions takes (status, mode, agent, created date range), in
keyset pages; privacy (new sessions are private; agent A may list one) and watching a
public session without an invite or a key (watch-only; revoked when it goes private)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person
from tests.web.test_ratings import shared_session


async def listed(hub: HubClient, path: str, token: str | None = None, **params: str) -> list[str]:
    status, page = await hub.call("GET", path, token=token, params=params)
    assert status == 200, page
    return [s["id"] for s in page["sessions"]]


async def made(hub: HubClient, key: str, **body: Any) -> dict[str, Any]:
    status, created = await hub.call("POST", "/api/sessions", token=key, json=body)
    assert status == 201, created
    return created  # type: ignore[no-any-return]


async def test_new_sessions_are_private_and_only_public_ones_are_listed(
    client: HubClient,
) -> None:
    """A session is private unless its creator says otherwise; the directory (no key
    needed) lists public sessions only, newest first, never a deleted one."""
    ada = await person(client)
    a = await new_agent(client, ada)
    key = (await agent_key(client, ada, a["slug"]))["token"]
    hidden = await made(client, key)
    assert hidden["session"]["is_private"] is True
    shown = await made(client, key, is_private=False, name="open one")
    newer = await made(client, key, is_private=False)
    gone = await made(client, key, is_private=False)
    status, _ = await client.call(
        "DELETE", f"/api/sessions/{gone['session']['id']}", token=gone["agent_token"]
    )
    assert status == 204

    ids = await listed(client, "/api/sessions", agent=a["slug"])
    assert ids == [newer["session"]["id"], shown["session"]["id"]]
    everyone = await listed(client, "/api/sessions", limit="100")
    assert hidden["session"]["id"] not in everyone


async def test_agent_sessions_public_to_all_and_all_to_the_owner(client: HubClient) -> None:
    """A public profile's public sessions (as agent A or B) to anyone; all of them to its
    owner; an unlisted profile is not_found to anyone but its owner; so is a slug that
    names nothing."""
    ada, bob = await person(client), await person(client)
    a = await new_agent(client, ada, visibility="public")
    b = await new_agent(client, bob)
    a_key = (await agent_key(client, ada, a["slug"]))["token"]
    b_key = (await agent_key(client, bob, b["slug"]))["token"]
    private = await made(client, a_key)
    public = await made(client, a_key, is_private=False)
    joined, _ = await shared_session(client, b, b_key, a_key, complete=False)  # a is B: private

    path = f"/api/agents/{a['slug']}/sessions"
    assert await listed(client, path) == [public["session"]["id"]]
    assert await listed(client, path, token=bob) == [public["session"]["id"]]
    mine = await listed(client, path, token=ada)
    assert mine == [joined, public["session"]["id"], private["session"]["id"]]

    b_path = f"/api/agents/{b['slug']}/sessions"
    assert (await client.call("GET", b_path))[0] == 404
    assert (await client.call("GET", b_path, token=ada))[0] == 404
    assert await listed(client, b_path, token=bob) == [joined]
    assert (await client.call("GET", "/api/agents/no-such-bot-x/sessions"))[0] == 404
    status, error = await client.call("GET", path, token="usr_" + "x" * 40)
    assert (status, error["code"]) == (401, "unauthorized")


async def test_filters_narrow_every_list(client: HubClient, database_url: str) -> None:
    """Status, mode, agent and a created range narrow my sessions, a space's sessions
    and the directory alike; `created_after` is inclusive, `created_before` exclusive."""
    ada = await person(client)
    a, a2 = await new_agent(client, ada), await new_agent(client, ada)
    key = (await agent_key(client, ada, a["slug"]))["token"]
    key2 = (await agent_key(client, ada, a2["slug"]))["token"]
    slug = "s" + secrets.token_hex(5)
    status, _ = await client.call(
        "POST", "/api/spaces", token=ada, json={"slug": slug, "name": "Lab"}
    )
    assert status == 201
    common = {"is_private": False, "workspace_id": slug}
    old = await made(client, key, mode="realtime", **common)
    mid = await made(client, key, **common)
    new = await made(client, key2, **common)
    status, _ = await client.call(
        "PATCH",
        f"/api/sessions/{mid['session']['id']}",
        token=mid["agent_token"],
        json={"status": "completed"},
    )
    assert status == 200
    # a time no other test's sessions have (the database outlives a test)
    base = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC) + timedelta(days=secrets.randbelow(9000))
    conn = await asyncpg.connect(database_url)
    try:
        for days, s in enumerate((old, mid, new)):
            await conn.execute(
                "UPDATE sessions SET created_at = $2 WHERE id = $1",
                s["session"]["id"],
                base + timedelta(days=days),
            )
    finally:
        await conn.close()
    o, m, n = (s["session"]["id"] for s in (old, mid, new))
    mid_elsewhere = (base + timedelta(days=1)).astimezone(timezone(timedelta(hours=1)))

    for path, token in (
        ("/api/me/sessions", ada),
        (f"/api/spaces/{slug}/sessions", ada),
        ("/api/sessions", None),
    ):
        scope = {
            "created_after": base.isoformat(),
            "created_before": (base + timedelta(days=3)).isoformat(),
        }
        assert await listed(client, path, token, **scope) == [n, m, o], path
        assert await listed(client, path, token, **scope, status="completed") == [m]
        assert await listed(client, path, token, **scope, mode="realtime") == [o]
        assert await listed(client, path, token, **scope, agent=a["slug"].upper()) == [m, o]
        assert await listed(client, path, token, **scope, agent=a2["slug"]) == [n]
        assert await listed(client, path, token, **scope, agent="nobody-here") == []
        assert await listed(
            client,
            path,
            token,
            created_after=mid_elsewhere.isoformat(),  # mid's time: inclusive
            created_before=(base + timedelta(days=2)).isoformat(),  # new's time: exclusive
        ) == [m]


async def test_pages_are_exact_when_times_are_equal(client: HubClient, database_url: str) -> None:
    """Seven public sessions created at the same instant come back over pages of two with
    no session twice and none missing, in id order after time."""
    ada = await person(client)
    a = await new_agent(client, ada)
    key = (await agent_key(client, ada, a["slug"]))["token"]
    ids = [(await made(client, key, is_private=False))["session"]["id"] for _ in range(7)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE sessions SET created_at = '2002-01-01T00:00:00Z' WHERE id = ANY($1::text[])",
            ids,
        )
    finally:
        await conn.close()
    for path, token in (("/api/sessions", None), ("/api/me/sessions", ada)):
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": "2", "agent": a["slug"]} | ({"cursor": cursor} if cursor else {})
            status, page = await client.call("GET", path, token=token, params=params)
            assert status == 200, page
            assert len(page["sessions"]) <= 2
            seen += [s["id"] for s in page["sessions"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == sorted(ids, reverse=True), path


async def test_bad_filters_are_bad_requests(client: HubClient) -> None:
    """Naive, out-of-range and malformed times, unknown statuses and modes, bad slugs,
    NUL bytes and control characters anywhere: `bad_request`, never a server error."""
    ada = await person(client)
    bad = [
        {"created_after": "2024-01-01T00:00:00"},
        {"created_before": "2024-01-01"},
        {"created_after": "0001-01-01T00:00:00+01:00"},
        {"created_before": "10000-01-01T00:00:00Z"},
        {"created_after": "2024-13-01T00:00:00Z"},
        {"created_after": "yesterday"},
        {"created_after": "2024-01-01T00:00:00Z\x00"},
        {"status": "sleeping"},
        {"mode": "sync"},
        {"agent": "a"},
        {"agent": "bot\x00bot"},
        {"agent": "bot\x01bot"},
        {"limit": "101"},
        {"cursor": "\x00"},
    ]
    for params in bad:
        for path, token in (("/api/sessions", None), ("/api/me/sessions", ada)):
            status, error = await client.call("GET", path, token=token, params=params)
            assert (status, error["code"]) == (400, "bad_request"), (path, params, error)
    far = {"created_after": "0001-01-01T00:00:00Z", "created_before": "9999-12-31T23:59:59Z"}
    assert (await client.call("GET", "/api/sessions", params=far))[0] == 200


async def test_agent_a_lists_and_unlists_and_public_watchers_only_watch(
    client: HubClient,
) -> None:
    """Agent A makes a session public (audited); anyone may then watch it with no key
    and no invite: the token reads and shows presence but may not chat, edit notes or
    change the session. Agent B and observers may not change privacy. Making it private
    again revokes those tokens and closes their sockets; a private session is
    session_not_found to a passer-by, with a key or without."""
    created = await client.create_session(agent_id="alpha")
    sid, a_token = created["session"]["id"], created["agent_token"]
    status, joined = await client.join(created["invite_code"], agent_id="beta")
    assert status == 201
    watch = f"/api/sessions/{sid}/watch"
    status, error = await client.call("POST", watch)
    assert (status, error["code"]) == (404, "session_not_found")
    stranger = await person(client)
    assert (await client.call("POST", watch, token=stranger))[0] == 404

    for token in (joined["token"], created["observer_token"]):
        status, error = await client.call(
            "PATCH", f"/api/sessions/{sid}", token=token, json={"is_private": False}
        )
        assert (status, error["code"]) == (403, "forbidden")
    status, session = await client.call(
        "PATCH", f"/api/sessions/{sid}", token=a_token, json={"is_private": False}
    )
    assert (status, session["is_private"]) == (200, False)
    status, activity = await client.call("GET", f"/api/sessions/{sid}/activity", token=a_token)
    assert {"is_private": False} in [r["detail"] for r in activity["activity"]]

    status, passer = await client.call("POST", watch, json={"display_name": "Passer-by"})
    assert status == 201, passer
    assert passer["watch_only"] is True and passer["role"] == "observer"
    status, keyed = await client.call("POST", watch, token=stranger)
    assert status == 201 and keyed["watch_only"] is True
    token = passer["token"]
    assert (await client.call("GET", f"/api/sessions/{sid}", token=token))[0] == 200
    status, error = await client.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=token,
        json={"content": "hi", "client_msg_id": "p1"},
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await client.call(
        "POST",
        f"/api/sessions/{sid}/notes",
        token=token,
        json={"title": "t", "content": "x", "expected_version": 0},
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await client.call(
        "PATCH", f"/api/sessions/{sid}", token=token, json={"name": "mine now"}
    )
    assert (status, error["code"]) == (403, "forbidden")

    peer = await client.connect(token)
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{sid}", token=a_token, json={"is_private": True}
    )
    assert status == 200
    assert await peer.closed() is not None
    for revoked in (token, keyed["token"]):
        status, error = await client.call("GET", f"/api/sessions/{sid}", token=revoked)
        assert (status, error["code"]) == (401, "unauthorized")
    assert (await client.call("GET", f"/api/sessions/{sid}", token=a_token))[0] == 200
    assert (await client.call("POST", watch))[0] == 404


async def test_the_migration_makes_every_existing_session_private(database_url: str) -> None:
    """Sessions from before the directory were never agreed to be listed: the migration
    makes them private, and a session inserted without saying is private too."""
    from hub.store.migrate import apply_migrations
    from tests.store.test_migrate import _fresh_database, schema_before

    name = f"hub_search_privacy_{secrets.token_hex(4)}"
    url = await _fresh_database(database_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await schema_before(conn, 14)
            await conn.execute(
                """INSERT INTO sessions (id, name, agent_a_id, invite_code, invite_expires_at,
                       is_private)
                   VALUES ('ses_listedbefore', 'Old', 'a', 'OLD-CODE', now(), false)"""
            )
        finally:
            await conn.close()
        assert 14 in await apply_migrations(url)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                """INSERT INTO sessions (id, name, agent_a_id, invite_code, invite_expires_at)
                   VALUES ('ses_createdafter', 'New', 'a', 'NEW-CODE', now())"""
            )
            rows = await conn.fetch("SELECT id, is_private FROM sessions ORDER BY id")
            assert [(r["id"], r["is_private"]) for r in rows] == [
                ("ses_createdafter", True),
                ("ses_listedbefore", True),
            ]
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
