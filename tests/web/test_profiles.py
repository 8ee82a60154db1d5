"""Agent profiles: a person's agents, their agent keys, versioned configuration with
optimistic locking, and sessions that record which verified agent (at which revision)
took part."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers import HubClient
from tests.web.test_accounts import fresh_name, log_in, sign_up

_slugs = itertools.count(1)


def fresh_slug(prefix: str = "bot") -> str:
    """A slug no other test uses (the database outlives a test)."""
    return f"{prefix}-{next(_slugs)}x{id(_slugs) % 9973}"


async def person(hub: HubClient) -> str:
    """A new account's user key."""
    name = fresh_name("p")
    await sign_up(hub, name)
    status, logged = await log_in(hub, name)
    assert status == 201, logged
    return str(logged["token"])


async def new_agent(hub: HubClient, token: str, **more: Any) -> dict[str, Any]:
    body = {"slug": fresh_slug(), "name": "Helper", **more}
    status, made = await hub.call("POST", "/api/me/agents", token=token, json=body)
    assert status == 201, made
    return made  # type: ignore[no-any-return]


async def agent_key(hub: HubClient, token: str, slug: str, name: str = "prod") -> dict[str, Any]:
    status, made = await hub.call(
        "POST", f"/api/agents/{slug}/keys", token=token, json={"name": name}
    )
    assert status == 201, made
    return made  # type: ignore[no-any-return]


async def put_config(
    hub: HubClient, token: str, slug: str, config: dict[str, Any], expected: int
) -> tuple[int, Any]:
    return await hub.call(
        "PUT",
        f"/api/agents/{slug}/config",
        token=token,
        json={"config": config, "expected_revision": expected},
    )


async def test_profiles_are_created_and_listed(client: HubClient) -> None:
    """A person creates profiles (slug, name, skills, visibility, avatar) at config
    revision 1 and lists them; the profile reads back as created."""
    token = await person(client)
    skills = [{"id": "review", "name": "Code review", "tags": ["python"]}]
    first = await new_agent(
        client,
        token,
        description="Reviews code",
        skills=skills,
        visibility="public",
        avatar_url="https://example.org/a.png",
        config={"model": "m1", "temperature": 0.2},
    )
    second = await new_agent(client, token)
    assert first["current_revision"] == 1 and first["visibility"] == "public"
    assert first["skills"] == [{**skills[0], "description": "", "examples": []}]
    assert second["visibility"] == "unlisted" and second["avatar_url"] is None
    status, listed = await client.call("GET", "/api/me/agents", token=token)
    assert status == 200 and [p["slug"] for p in listed["profiles"]] == [
        first["slug"],
        second["slug"],
    ]
    status, read = await client.call("GET", f"/api/agents/{first['slug'].upper()}", token=token)
    assert status == 200 and read == first
    status, config = await client.call("GET", f"/api/agents/{first['slug']}/config", token=token)
    assert status == 200 and config["revision"] == 1
    assert config["config"] == {"model": "m1", "temperature": 0.2}
    status, patched = await client.call(
        "PATCH", f"/api/agents/{first['slug']}", token=token, json={"name": "Reviewer"}
    )
    assert status == 200 and patched["name"] == "Reviewer"
    assert patched["description"] == "Reviews code"


async def test_slugs_are_unique_whatever_their_case(client: HubClient) -> None:
    """A second profile with a taken slug in another case, even another person's, gets
    `conflict`; a malformed slug gets `bad_request`."""
    mine, theirs = await person(client), await person(client)
    made = await new_agent(client, mine)
    for token in (mine, theirs):
        status, answer = await client.call(
            "POST",
            "/api/me/agents",
            token=token,
            json={"slug": made["slug"].upper(), "name": "Copy"},
        )
        assert (status, answer["code"]) == (409, "conflict")
    for bad in ("ab", "-dash", "has space", "x" * 49):
        status, answer = await client.call(
            "POST", "/api/me/agents", token=mine, json={"slug": bad, "name": "Bad"}
        )
        assert (status, answer["code"]) == (400, "bad_request"), bad
    status, _ = await client.call("POST", "/api/me/agents", json={"slug": "x-y-z", "name": "N"})
    assert status == 401


async def test_another_person_can_neither_read_unlisted_nor_change_my_profile(
    client: HubClient,
) -> None:
    """To another person my unlisted profile, my keys and my configuration do not
    exist (404), nor may they change it or add keys; a public profile they may read."""
    mine, eve = await person(client), await person(client)
    hidden = await new_agent(client, mine)
    shown = await new_agent(client, mine, visibility="public")
    slug = hidden["slug"]
    assert (await client.call("GET", f"/api/agents/{shown['slug']}", token=eve))[0] == 200
    attempts: list[tuple[str, str, Any]] = [
        ("GET", "", None),
        ("PATCH", "", {"name": "Mine now"}),
        ("POST", "/keys", {"name": "stolen"}),
        ("GET", "/keys", None),
        ("GET", "/config", None),
        ("PUT", "/config", {"config": {"evil": True}, "expected_revision": 1}),
        ("GET", "/config/revisions", None),
        ("GET", "/config/revisions/1", None),
        ("GET", "/config/diff", None),
        ("POST", "/config/rollback", {"to": 1, "expected_revision": 1}),
    ]
    for target in (hidden, shown):
        for method, path, body in attempts:
            if target is shown and (method, path) == ("GET", ""):
                continue
            url = f"/api/agents/{target['slug']}{path}"
            params = {"from": "1", "to": "1"} if path.endswith("diff") else None
            status, answer = await client.call(method, url, token=eve, json=body, params=params)
            assert (status, answer["code"]) == (404, "not_found"), (method, path)
    key = await agent_key(client, mine, slug)
    status, answer = await client.call(
        "DELETE", f"/api/agents/{slug}/keys/{key['key']['id']}", token=eve
    )
    assert (status, answer["code"]) == (404, "not_found")
    status, read = await client.call("GET", f"/api/agents/{slug}", token=mine)
    assert status == 200 and read["name"] == "Helper" and read["current_revision"] == 1


async def test_configuration_revisions_history_diff_and_rollback(client: HubClient) -> None:
    """Each change makes revision N+1 by its author; history lists them newest first,
    page by page; two revisions diff by JSON path; a rollback is a new revision equal to
    the old one, and history keeps every revision."""
    token = await person(client)
    slug = (await new_agent(client, token, config={"model": "m1", "temperature": 0.2}))["slug"]
    status, second = await put_config(
        client, token, slug, {"model": "m2", "tools": [{"name": "search"}]}, 1
    )
    assert status == 200 and second["revision"] == 2 and second["author"]
    assert second["rollback_of"] is None
    status, third = await put_config(
        client, token, slug, {"model": "m2", "tools": [{"name": "fetch"}]}, 2
    )
    assert status == 200 and third["revision"] == 3

    status, diff = await client.call(
        "GET", f"/api/agents/{slug}/config/diff", token=token, params={"from": "1", "to": "3"}
    )
    assert status == 200 and (diff["from"], diff["to"]) == (1, 3)
    assert diff["added"] == [{"path": "$.tools", "value": [{"name": "fetch"}]}]
    assert diff["removed"] == [{"path": "$.temperature", "value": 0.2}]
    assert diff["changed"] == [{"path": "$.model", "old": "m1", "new": "m2"}]

    status, rolled = await client.call(
        "POST",
        f"/api/agents/{slug}/config/rollback",
        token=token,
        json={"to": 1, "expected_revision": 3},
    )
    assert status == 201 and rolled["revision"] == 4 and rolled["rollback_of"] == 1
    assert rolled["config"] == {"model": "m1", "temperature": 0.2}
    status, current = await client.call("GET", f"/api/agents/{slug}/config", token=token)
    assert status == 200 and current == rolled

    path = f"/api/agents/{slug}/config/revisions"
    status, page = await client.call("GET", path, token=token, params={"limit": "3"})
    assert status == 200 and [r["revision"] for r in page["revisions"]] == [4, 3, 2]
    assert page["next_before"] == 2
    status, rest = await client.call(
        "GET", path, token=token, params={"limit": "3", "before": str(page["next_before"])}
    )
    assert [r["revision"] for r in rest["revisions"]] == [1] and rest["next_before"] is None
    status, one = await client.call("GET", f"{path}/2", token=token)
    assert status == 200 and one == second
    assert (await client.call("GET", f"{path}/9", token=token))[0] == 404
    status, answer = await client.call(
        "POST",
        f"/api/agents/{slug}/config/rollback",
        token=token,
        json={"to": 9, "expected_revision": 4},
    )
    assert (status, answer["code"]) == (404, "not_found")


async def test_a_stale_expected_revision_gets_conflict_with_the_current(
    client: HubClient,
) -> None:
    """An edit or rollback based on an older revision is refused `conflict`, carrying the
    current revision so the editor can merge and retry."""
    token = await person(client)
    slug = (await new_agent(client, token))["slug"]
    assert (await put_config(client, token, slug, {"model": "m2"}, 1))[0] == 200
    status, answer = await put_config(client, token, slug, {"model": "m3"}, 1)
    assert (status, answer["code"]) == (409, "conflict")
    assert answer["revision"]["revision"] == 2
    assert answer["revision"]["config"] == {"model": "m2"}
    status, answer = await client.call(
        "POST",
        f"/api/agents/{slug}/config/rollback",
        token=token,
        json={"to": 1, "expected_revision": 5},
    )
    assert (status, answer["code"], answer["revision"]["revision"]) == (409, "conflict", 2)


async def test_concurrent_edits_at_one_revision_exactly_one_wins(client: HubClient) -> None:
    """Many clients editing at the same expected revision at once: exactly one makes
    revision 2; every other gets `conflict` naming revision 2."""
    token = await person(client)
    slug = (await new_agent(client, token))["slug"]
    results = await asyncio.gather(
        *(put_config(client, token, slug, {"writer": n}, 1) for n in range(8))
    )
    winners = [answer for status, answer in results if status == 200]
    losers = [answer for status, answer in results if status != 200]
    assert len(winners) == 1 and winners[0]["revision"] == 2
    assert {(a["code"], a["revision"]["revision"]) for a in losers} == {("conflict", 2)}
    assert all(a["revision"]["config"] == winners[0]["config"] for a in losers)
    status, page = await client.call("GET", f"/api/agents/{slug}/config/revisions", token=token)
    assert status == 200 and [r["revision"] for r in page["revisions"]] == [2, 1]


async def test_sessions_record_verified_agents_and_their_revision(client: HubClient) -> None:
    """A session created with an agent key has its profile as agent A (participant id:
    the slug), verified, at the profile's current revision; agent B joining with another
    profile's key is recorded verified too; a free-typed agent is unverified."""
    ada, bob = await person(client), await person(client)
    a = await new_agent(client, ada, config={"model": "m1"})
    b = await new_agent(client, bob)
    assert (await put_config(client, ada, a["slug"], {"model": "m2"}, 1))[0] == 200
    a_key, b_key = await agent_key(client, ada, a["slug"]), await agent_key(client, bob, b["slug"])

    status, created = await client.call("POST", "/api/sessions", token=a_key["token"], json={})
    assert status == 201, created
    session = created["session"]
    assert created["participant_id"] == session["agent_a_id"] == a["slug"]
    assert session["agent_a_verified"] is True
    assert (session["agent_a_profile"], session["agent_a_revision"]) == (a["slug"], 2)
    assert session["agent_b_verified"] is False

    # the profile changing later does not change what the session recorded
    assert (await put_config(client, ada, a["slug"], {"model": "m3"}, 2))[0] == 200
    status, joined = await client.call(
        "POST", "/api/join", token=b_key["token"], json={"invite_code": created["invite_code"]}
    )
    assert status == 201, joined
    assert joined["participant_id"] == b["slug"]
    session = joined["session"]
    assert (session["agent_a_profile"], session["agent_a_revision"]) == (a["slug"], 2)
    assert session["agent_b_verified"] is True
    assert (session["agent_b_profile"], session["agent_b_revision"]) == (b["slug"], 1)
    status, read = await client.call("GET", f"/api/sessions/{session['id']}", token=joined["token"])
    assert status == 200 and read["agent_b_profile"] == b["slug"]

    free = await client.create_session(agent_id="free-typed")
    assert free["session"]["agent_a_verified"] is False
    assert free["session"]["agent_a_profile"] is None
    assert free["session"]["agent_a_revision"] is None
    status, joined = await client.join(free["invite_code"], agent_id="also-free")
    assert status == 201 and joined["session"]["agent_b_verified"] is False


async def test_agent_keys_are_checked_and_one_profile_is_not_both_agents(
    client: HubClient,
) -> None:
    """A revoked or unknown agent key is refused 401; the profile of agent A cannot also
    join as agent B; an agent_id beside a key must be its slug."""
    ada = await person(client)
    a = await new_agent(client, ada)
    first, second = await agent_key(client, ada, a["slug"]), await agent_key(client, ada, a["slug"])
    status, created = await client.call("POST", "/api/sessions", token=first["token"], json={})
    assert status == 201
    status, answer = await client.call(
        "POST", "/api/join", token=second["token"], json={"invite_code": created["invite_code"]}
    )
    assert (status, answer["code"]) == (400, "bad_request")
    status, answer = await client.call(
        "POST", "/api/sessions", token=first["token"], json={"agent_id": "someone-else"}
    )
    assert (status, answer["code"]) == (400, "bad_request")

    status, revoked = await client.call(
        "DELETE", f"/api/agents/{a['slug']}/keys/{first['key']['id']}", token=ada
    )
    assert status == 200 and revoked["revoked_at"] is not None
    status, answer = await client.call("POST", "/api/sessions", token=first["token"], json={})
    assert (status, answer["code"]) == (401, "unauthorized")
    fresh = await client.create_session()
    status, answer = await client.call(
        "POST", "/api/join", token=first["token"], json={"invite_code": fresh["invite_code"]}
    )
    assert (status, answer["code"]) == (401, "unauthorized")
    status, answer = await client.call("POST", "/api/sessions", token="agk_" + "x" * 32, json={})
    assert (status, answer["code"]) == (401, "unauthorized")
    status, listed = await client.call("GET", f"/api/agents/{a['slug']}/keys", token=ada)
    assert status == 200 and [k["name"] for k in listed["keys"]] == ["prod", "prod"]
    assert [k["revoked_at"] is None for k in listed["keys"]] == [False, True]
    assert listed["keys"][0]["last_used_at"] is not None
    assert first["token"] not in str(listed) and second["token"] not in str(listed)


async def test_no_agent_key_is_stored_and_every_change_is_audited(
    client: HubClient, database_url: str
) -> None:
    """No column of any table holds an agent key's text; each change to a profile wrote
    its audit row, and a session entered with a key one by the agent."""
    ada = await person(client)
    a = await new_agent(client, ada)
    slug = a["slug"]
    key = await agent_key(client, ada, slug)
    await client.call("PATCH", f"/api/agents/{slug}", token=ada, json={"visibility": "public"})
    assert (await put_config(client, ada, slug, {"model": "m2"}, 1))[0] == 200
    rollback = {"to": 1, "expected_revision": 2}
    await client.call("POST", f"/api/agents/{slug}/config/rollback", token=ada, json=rollback)
    status, created = await client.call("POST", "/api/sessions", token=key["token"], json={})
    assert status == 201
    await client.call("DELETE", f"/api/agents/{slug}/keys/{key['key']['id']}", token=ada)
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        for row in tables:
            table = row["table_name"]
            dump = await conn.fetchval(
                f"SELECT coalesce(string_agg(t::text, ' '), '') FROM \"{table}\" t"
            )
            for secret in (key["token"], key["token"][4:]):
                assert secret not in dump, table
        rows = await conn.fetch(
            "SELECT a.action, a.actor_kind, a.actor_id FROM audit a"
            " JOIN agent_profiles p ON p.id = a.detail->>'profile_id'"
            "   OR a.detail->>'session_id' = $2"
            " WHERE p.id = $1 ORDER BY a.id",
            a["id"],
            created["session"]["id"],
        )
        assert [(r["action"], r["actor_kind"]) for r in rows] == [
            ("agent.created", "user"),
            ("agent_key.created", "user"),
            ("agent.updated", "user"),
            ("agent_config.revised", "user"),
            ("agent_config.rolled_back", "user"),
            ("agent.session_created", "agent"),
            ("agent_key.revoked", "user"),
        ]
        assert rows[5]["actor_id"] == key["key"]["id"]
    finally:
        await conn.close()


async def test_one_key_enters_many_sessions_at_once(client: HubClient) -> None:
    """Sessions created at once with one fresh agent key all succeed, each verified as
    its profile."""
    ada = await person(client)
    slug = (await new_agent(client, ada))["slug"]
    key = await agent_key(client, ada, slug)
    results = await asyncio.gather(
        *(client.call("POST", "/api/sessions", token=key["token"], json={}) for _ in range(8))
    )
    assert [status for status, _ in results] == [201] * 8
    assert all(made["session"]["agent_a_profile"] == slug for _, made in results)


# --- the configuration schema -----------------------------------------------------------

_SCHEMA = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {"type": "string"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "tools": {"type": "array", "items": {"$ref": "#/$defs/tool"}},
    },
    "$defs": {"tool": {"type": "object", "required": ["name"]}},
}


async def put_schema(hub: HubClient, token: str, slug: str, schema: Any) -> tuple[int, Any]:
    return await hub.call(
        "PUT", f"/api/agents/{slug}/config/schema", token=token, json={"schema": schema}
    )


async def history(hub: HubClient, token: str, slug: str) -> list[dict[str, Any]]:
    status, page = await hub.call("GET", f"/api/agents/{slug}/config/revisions", token=token)
    assert status == 200, page
    return page["revisions"]  # type: ignore[no-any-return]


async def test_a_schema_holds_every_new_revision_and_rollback(
    client: HubClient, database_url: str
) -> None:
    """With a schema set, a conforming revision is written; a non-conforming one, or a
    rollback to a revision that does not conform, is `bad_request` naming the JSON path,
    and nothing is written; cleared, any configuration goes again. Each schema change is
    audited."""
    token = await person(client)
    made = await new_agent(client, token, config={"notes": "free"})
    slug = made["slug"]
    assert (await client.call("GET", f"/api/agents/{slug}/config/schema", token=token)) == (
        200,
        {"schema": None},
    )
    assert (await put_config(client, token, slug, {"model": "m1", "temperature": 0.5}, 1))[0] == 200

    status, stored = await put_schema(client, token, slug, _SCHEMA)
    assert (status, stored) == (200, {"schema": _SCHEMA})
    status, read = await client.call("GET", f"/api/agents/{slug}/config/schema", token=token)
    assert (status, read) == (200, {"schema": _SCHEMA})

    ok = {"model": "m2", "temperature": 1.5, "tools": [{"name": "search"}]}
    status, third = await put_config(client, token, slug, ok, 2)
    assert status == 200 and third["revision"] == 3 and third["config"] == ok

    before = await history(client, token, slug)
    for bad, where in (
        ({"model": "m3", "temperature": 7}, "$.temperature"),
        ({"model": "m3", "tools": [{"name": "a"}, {"title": "b"}]}, "$.tools[1]"),
        ({"temperature": 1}, "$:"),
        ({"model": "m3", "temperature": "x" * 20_000}, "$.temperature"),
    ):
        status, answer = await put_config(client, token, slug, bad, 3)
        assert (status, answer["code"]) == (400, "bad_request"), answer
        assert where in answer["message"] and "schema" in answer["message"], answer
        assert len(answer["message"]) < 1_000
    assert await history(client, token, slug) == before

    status, answer = await client.call(
        "POST",
        f"/api/agents/{slug}/config/rollback",
        token=token,
        json={"to": 1, "expected_revision": 3},
    )
    assert (status, answer["code"]) == (400, "bad_request")
    assert "revision 1" in answer["message"] and "model" in answer["message"]
    assert await history(client, token, slug) == before
    status, rolled = await client.call(
        "POST",
        f"/api/agents/{slug}/config/rollback",
        token=token,
        json={"to": 2, "expected_revision": 3},
    )
    assert status == 201 and rolled["revision"] == 4 and rolled["rollback_of"] == 2

    assert await put_schema(client, token, slug, None) == (200, {"schema": None})
    status, answer = await put_config(client, token, slug, {"anything": [1, {"goes": True}]}, 4)
    assert status == 200 and answer["revision"] == 5
    status, rolled = await client.call(
        "POST",
        f"/api/agents/{slug}/config/rollback",
        token=token,
        json={"to": 1, "expected_revision": 5},
    )
    assert status == 201 and rolled["config"] == {"notes": "free"}

    conn = await asyncpg.connect(database_url)
    try:
        actions = await conn.fetch(
            "SELECT action, (detail->>'revision')::int AS revision FROM audit"
            " WHERE detail->>'profile_id' = $1"
            " AND action LIKE 'agent_config.schema%' ORDER BY id",
            made["id"],
        )
    finally:
        await conn.close()
    assert [(r["action"], r["revision"]) for r in actions] == [
        ("agent_config.schema_set", 2),
        ("agent_config.schema_cleared", 4),
    ]


async def test_a_schema_the_current_revision_breaks_is_refused(client: HubClient) -> None:
    """Setting a schema the current configuration does not satisfy is `bad_request`
    saying where, and the schema in force stays."""
    token = await person(client)
    slug = (await new_agent(client, token, config={"model": "m1", "temperature": 3}))["slug"]
    status, answer = await put_schema(client, token, slug, _SCHEMA)
    assert (status, answer["code"]) == (400, "bad_request")
    assert "$.temperature" in answer["message"] and "revision 1" in answer["message"]
    status, read = await client.call("GET", f"/api/agents/{slug}/config/schema", token=token)
    assert (status, read) == (200, {"schema": None})
    loose = {"type": "object", "properties": {"temperature": {"type": "number"}}}
    assert (await put_schema(client, token, slug, loose))[0] == 200
    status, answer = await put_schema(client, token, slug, _SCHEMA)
    assert (status, answer["code"]) == (400, "bad_request")
    status, read = await client.call("GET", f"/api/agents/{slug}/config/schema", token=token)
    assert (status, read) == (200, {"schema": loose})


async def test_an_invalid_schema_is_refused_naming_the_problem(client: HubClient) -> None:
    """A schema that is not valid draft 2020-12 JSON Schema, declares another draft, is
    not an object, or is too deep, is `bad_request` naming what is wrong."""
    token = await person(client)
    slug = (await new_agent(client, token))["slug"]
    deep: dict[str, Any] = {}
    for _ in range(70):
        deep = {"not": deep}
    for schema, says in (
        ({"type": "nope"}, "$.type"),
        ({"properties": {"a": {"pattern": "("}}}, "$.properties.a.pattern"),
        ({"required": "model"}, "$.required"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "2020-12"),
        ([{"type": "object"}], "schema"),
        ("object", "schema"),
        (deep, "nested"),
    ):
        status, answer = await put_schema(client, token, slug, schema)
        assert (status, answer["code"]) == (400, "bad_request"), schema
        assert says in answer["message"], answer
    status, answer = await client.call(
        "PUT", f"/api/agents/{slug}/config/schema", token=token, json={}
    )
    assert (status, answer["code"]) == (400, "bad_request")
    status, read = await client.call("GET", f"/api/agents/{slug}/config/schema", token=token)
    assert (status, read) == (200, {"schema": None})


async def test_remote_references_are_refused_and_never_fetched(client: HubClient) -> None:
    """A `$ref` (or `$dynamicRef`) outside the schema, even one on this machine that
    would answer, is `bad_request` and is never fetched; references inside it resolve."""
    hits: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"type": "object"})

    app = web.Application()
    app.router.add_get("/{name}", serve)
    remote = TestServer(app, host="127.0.0.1")
    await remote.start_server()
    try:
        base = str(remote.make_url("/"))
        async with aiohttp.ClientSession() as http:  # the server does answer
            async with http.get(base + "probe.json") as answer:
                assert answer.status == 200
        assert hits == ["/probe.json"]
        token = await person(client)
        slug = (await new_agent(client, token))["slug"]
        for schema in (
            {"$ref": base + "schema.json"},
            {"properties": {"tools": {"items": {"$ref": base + "tool.json"}}}},
            {"$id": base + "root.json", "properties": {"x": {"$ref": "other.json"}}},
            {"$dynamicRef": base + "meta.json#meta"},
            {"$ref": "#/$defs/missing"},
        ):
            status, answer = await put_schema(client, token, slug, schema)
            assert (status, answer["code"]) == (400, "bad_request"), schema
            assert "does not resolve inside the schema" in answer["message"], answer
        assert hits == ["/probe.json"]
        inside = {
            "$id": base + "root.json",
            "$defs": {"tool": {"$id": "tool.json", "type": "object"}},
            "properties": {"tools": {"items": {"$ref": "tool.json"}}},
        }
        assert (await put_schema(client, token, slug, inside))[0] == 200
        status, answer = await put_config(client, token, slug, {"tools": ["no"]}, 1)
        assert (status, answer["code"]) == (400, "bad_request")
        assert "$.tools[0]" in answer["message"]
        assert (await put_config(client, token, slug, {"tools": [{}]}, 1))[0] == 200
        assert hits == ["/probe.json"]
    finally:
        await remote.close()


async def test_a_backtracking_pattern_cannot_stall_the_hub(client: HubClient) -> None:
    """A schema whose `pattern` backtracks without end, and a configuration that sets it
    off, is refused `bad_request` within the time budget; nothing is written and the hub
    goes on answering."""
    token = await person(client)
    slug = (await new_agent(client, token, config={"name": "aaa"}))["slug"]
    evil = {"properties": {"name": {"pattern": "^(a|a)*$"}}}
    assert (await put_schema(client, token, slug, evil))[0] == 200
    revision = put_config(client, token, slug, {"name": "a" * 40 + "!"}, 1)
    (status, answer), (health, _) = await asyncio.gather(
        revision, client.call("GET", f"/api/agents/{slug}", token=token)
    )
    assert (status, answer["code"], health) == (400, "bad_request", 200)
    assert "took more than" in answer["message"]
    assert [r["revision"] for r in await history(client, token, slug)] == [1]


async def test_only_the_owner_sees_or_sets_the_schema(client: HubClient) -> None:
    """To another person an agent's schema does not exist (404), public or not, and they
    cannot set it."""
    ada, bob = await person(client), await person(client)
    for visibility in ("public", "unlisted"):
        slug = (await new_agent(client, ada, visibility=visibility))["slug"]
        assert (await put_schema(client, ada, slug, {"required": ["model"]}))[0] == 400
        assert (await put_schema(client, ada, slug, {"type": "object"}))[0] == 200
        status, answer = await client.call("GET", f"/api/agents/{slug}/config/schema", token=bob)
        assert (status, answer["code"]) == (404, "not_found")
        status, answer = await put_schema(client, bob, slug, None)
        assert (status, answer["code"]) == (404, "not_found")
        status, read = await client.call("GET", f"/api/agents/{slug}/config/schema", token=ada)
        assert (status, read) == (200, {"schema": {"type": "object"}})
    status, _ = await client.call("GET", "/api/agents/no-such-agent/config/schema", token=ada)
    assert status == 404


async def test_a_schema_and_a_revision_racing_never_let_a_breaking_revision_in(
    client: HubClient,
) -> None:
    """A schema change and a revision the schema forbids, sent at once, again and again:
    never both succeed, and the current revision always satisfies the schema in force."""
    token = await person(client)
    slug = (await new_agent(client, token, config={"model": "a"}))["slug"]
    pinned = {"properties": {"model": {"const": "a"}}}
    revision = 1
    for _ in range(10):
        (schema_status, _), (config_status, _) = await asyncio.gather(
            put_schema(client, token, slug, pinned),
            put_config(client, token, slug, {"model": "b"}, revision),
        )
        assert sorted([schema_status, config_status]) == [200, 400]
        _, current = await client.call("GET", f"/api/agents/{slug}/config", token=token)
        _, schema = await client.call("GET", f"/api/agents/{slug}/config/schema", token=token)
        if schema["schema"] is not None:
            assert current["config"] == {"model": "a"}
        revision = current["revision"]
        # back to no schema and model "a" for the next round
        assert (await put_schema(client, token, slug, None))[0] == 200
        if current["config"] != {"model": "a"}:
            status, reset = await put_config(client, token, slug, {"model": "a"}, revision)
            assert status == 200
            revision = reset["revision"]
