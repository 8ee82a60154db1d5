"""Session templates: a session created from one starts with exactly its seed notes, files
and opening message, written in the session's own transaction (a failure leaves nothing);
the session records the version it came from, and later edits do not reach it. Edits
are versions at the version read (one winner among concurrent editors); a person's
template is theirs, a space's its members', a public one everyone's; to anyone else a
template does not exist."""

from __future__ import annotations

import asyncio
import secrets
import urllib.parse
from typing import Any

import asyncpg
import pytest

from tests.helpers import HubClient
from tests.web.test_profiles import person
from tests.web.test_spaces import add, new_space, username, verified_agent

# One bus is enough: templates are REST and PostgreSQL, whatever carries live events.
pytestmark = pytest.mark.parametrize("config", ["memory-bus"], indirect=True)

NOTES = [
    {"title": "Plan", "content": "# Plan\n\n- read the brief\n- ✓ ünïcode 🧪\n"},
    {"title": "Log", "content": ""},
]
FILES = [
    {"path": "src/main.py", "content": "print('hello')\n"},
    {"path": "docs/ä b.md", "content": "line 1\r\nline 2\n\n"},
]


def fresh_slug() -> str:
    return "tpl-" + secrets.token_hex(4)


def blueprint(**more: Any) -> dict[str, Any]:
    return {
        "name": "Review kit",
        "description": "a code review",
        "mode": "realtime",
        "is_private": True,
        "metadata": {"kind": "review", "team": "core"},
        "notes": NOTES,
        "files": FILES,
        "opening_message": "Welcome: review src/main.py.",
        **more,
    }


async def new_template(hub: HubClient, token: str, **more: Any) -> dict[str, Any]:
    status, made = await hub.call(
        "POST", "/api/templates", token=token, json={"slug": fresh_slug(), **blueprint(**more)}
    )
    assert status == 201, made
    return made  # type: ignore[no-any-return]


def at(ref: str, rest: str = "") -> str:
    return "/api/templates/" + urllib.parse.quote(ref, safe="") + rest


async def edit(hub: HubClient, token: str, ref: str, expected: int, **more: Any) -> tuple[int, Any]:
    return await hub.call(
        "PUT", at(ref), token=token, json={**blueprint(**more), "expected_version": expected}
    )


async def session_state(hub: HubClient, created: dict[str, Any]) -> dict[str, Any]:
    """What a session holds: its notes, files (with content) and messages."""
    sid, token = created["session"]["id"], created["agent_token"]
    _, notes = await hub.call("GET", f"/api/sessions/{sid}/notes", token=token)
    _, files = await hub.call("GET", f"/api/sessions/{sid}/files", token=token)
    contents = []
    for info in files["files"]:
        path = urllib.parse.quote(info["path"])
        status, entry = await hub.call("GET", f"/api/sessions/{sid}/files/{path}", token=token)
        assert status == 200, entry
        contents.append({"path": entry["path"], "content": entry["content"]})
    _, messages = await hub.call("GET", f"/api/sessions/{sid}/messages", token=token)
    return {
        "notes": [{"title": n["title"], "content": n["content"]} for n in notes["notes"]],
        "files": contents,
        "messages": [
            (m["author_id"], m["author_role"], m["msg_type"], m["content"])
            for m in messages["messages"]
        ],
    }


async def test_a_session_starts_from_a_template_exactly(client: HubClient) -> None:
    """A verified agent creates a session from its owner's template: the session records
    the template and version, takes its mode, privacy and metadata (the request's keys
    replacing the template's), and holds exactly its notes, files and opening message,
    each with its version and activity rows. Explicit request fields win."""
    ada = await person(client)
    key = await verified_agent(client, ada)
    template = await new_template(client, ada)
    ada_name = await username(client, ada)
    assert (template["ref"], template["version"], template["owner"], template["space"]) == (
        f"{ada_name}/{template['slug']}",
        1,
        ada_name,
        None,
    )

    status, created = await client.call(
        "POST",
        "/api/sessions",
        token=key,
        json={"template": template["ref"], "metadata": {"team": "infra", "ticket": 7}},
    )
    assert status == 201, created
    session = created["session"]
    assert (session["template_id"], session["template_version"]) == (template["id"], 1)
    assert (session["mode"], session["is_private"]) == ("realtime", True)
    assert session["metadata"] == {"kind": "review", "team": "infra", "ticket": 7}
    assert session["last_message_id"] == 1
    state = await session_state(client, created)
    assert state == {
        "notes": NOTES,
        "files": sorted(FILES, key=lambda f: f["path"]),
        "messages": [("hub", "system", "system", "Welcome: review src/main.py.")],
    }
    sid, token = session["id"], created["agent_token"]
    _, notes = await client.call("GET", f"/api/sessions/{sid}/notes", token=token)
    first = notes["notes"][0]["id"]
    status, versions = await client.call(
        "GET", f"/api/sessions/{sid}/notes/{first}/versions", token=token
    )
    assert [(v["version"], v["at_message_id"]) for v in versions["versions"]] == [(1, 0)]
    _, activity = await client.call("GET", f"/api/sessions/{sid}/activity", token=token)
    actions = [row["action"] for row in activity["activity"]]
    seeded = ["note.created", "note.created", "file.written", "file.written"]
    assert actions == ["session.created", *seeded, "message.sent"]
    assert activity["activity"][0]["detail"]["template_id"] == template["id"]

    # By id, with every default overridden, and with no seeds: nothing but the session.
    status, plain = await client.call(
        "POST",
        "/api/sessions",
        token=key,
        json={"template": template["id"], "mode": "async", "is_private": False},
    )
    assert status == 201, plain
    assert (plain["session"]["mode"], plain["session"]["is_private"]) == ("async", False)
    status, bare = await edit(
        client, ada, template["id"], 1, notes=[], files=[], opening_message=None, mode=None
    )
    assert (status, bare["version"]) == (200, 2), bare
    status, empty = await client.call(
        "POST", "/api/sessions", token=key, json={"template": bare["id"]}
    )
    assert status == 201, empty
    assert (empty["session"]["mode"], empty["session"]["template_version"]) == ("async", 2)
    assert await session_state(client, empty) == {"notes": [], "files": [], "messages": []}


async def test_later_edits_do_not_change_existing_sessions(client: HubClient) -> None:
    """A session made from version 1 keeps version 1's notes and files after the
    template is edited; a new session gets version 2, and one naming version 1 gets
    version 1's content again."""
    ada = await person(client)
    key = await verified_agent(client, ada)
    template = await new_template(client, ada)
    status, old = await client.call(
        "POST", "/api/sessions", token=key, json={"template": template["id"]}
    )
    assert status == 201
    before = await session_state(client, old)
    new_notes = [{"title": "Plan", "content": "rewritten"}]
    new_files = [{"path": "src/main.py", "content": "print('v2')\n"}]
    status, edited = await edit(
        client, ada, template["id"], 1, notes=new_notes, files=new_files, opening_message="v2"
    )
    assert (status, edited["version"]) == (200, 2), edited
    assert await session_state(client, old) == before
    status, read = await client.call(
        "GET", f"/api/sessions/{old['session']['id']}", token=old["agent_token"]
    )
    assert read["template_version"] == 1

    status, new = await client.call(
        "POST", "/api/sessions", token=key, json={"template": template["id"]}
    )
    assert new["session"]["template_version"] == 2
    assert await session_state(client, new) == {
        "notes": new_notes,
        "files": new_files,
        "messages": [("hub", "system", "system", "v2")],
    }
    status, again = await client.call(
        "POST",
        "/api/sessions",
        token=key,
        json={"template": template["id"], "template_version": 1},
    )
    assert (status, again["session"]["template_version"]) == (201, 1)
    assert await session_state(client, again) == before
    status, error = await client.call(
        "POST", "/api/sessions", token=key, json={"template": template["id"], "template_version": 3}
    )
    assert (status, error["code"]) == (404, "not_found")


async def _counts(conn: asyncpg.Connection, template_id: str) -> tuple[int, ...]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM notes)"
        " AS notes, (SELECT count(*) FROM files) AS files, (SELECT count(*) FROM activity)"
        " AS activity, (SELECT count(*) FROM messages) AS messages,"
        " (SELECT count(*) FROM tokens) AS tokens,"
        " (SELECT count(*) FROM sessions WHERE template_id = $1) AS from_template",
        template_id,
    )
    assert row is not None
    return tuple(row.values())


async def test_a_failing_create_leaves_no_half_session(
    client: HubClient, database_url: str
) -> None:
    """A session whose seeds fail to copy is not created at all: merged metadata over
    the limit is refused before anything is written, and a seed file PostgreSQL refuses
    mid-copy (after the session, its notes and a first file were written) rolls back the
    session, its tokens, notes, files and activity rows."""
    ada = await person(client)
    key = await verified_agent(client, ada)
    big = {"k" + str(i): "x" * 1000 for i in range(15)}
    template = await new_template(client, ada, metadata=big)
    boom = "boom-" + secrets.token_hex(4) + ".txt"
    exploding = await new_template(
        client, ada, files=[*FILES, {"path": boom, "content": "never"}], metadata={}
    )
    conn = await asyncpg.connect(database_url)
    try:
        before = await _counts(conn, template["id"])
        status, error = await client.call(
            "POST",
            "/api/sessions",
            token=key,
            json={"template": template["id"], "metadata": {"more": "y" * 2000}},
        )
        assert (status, error["code"]) == (400, "bad_request"), error
        assert await _counts(conn, template["id"]) == before

        # A real failure inside the transaction: PostgreSQL refuses the last seed file.
        await conn.execute(
            f"""CREATE FUNCTION refuse_{boom[5:13]}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.path = '{boom}' THEN RAISE EXCEPTION 'refused'; END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_{boom[5:13]} BEFORE INSERT ON files
                    FOR EACH ROW EXECUTE FUNCTION refuse_{boom[5:13]}();"""
        )
        try:
            before = await _counts(conn, exploding["id"])
            status, error = await client.call(
                "POST", "/api/sessions", token=key, json={"template": exploding["id"]}
            )
            assert (status, error["code"]) == (500, "internal"), error
            assert await _counts(conn, exploding["id"]) == before
        finally:
            await conn.execute(
                f"DROP TRIGGER refuse_{boom[5:13]} ON files; DROP FUNCTION refuse_{boom[5:13]}();"
            )
    finally:
        await conn.close()
    status, fine = await client.call(
        "POST", "/api/sessions", token=key, json={"template": exploding["id"]}
    )
    assert status == 201, fine
    assert len((await session_state(client, fine))["files"]) == 3


async def test_archiving_while_sessions_are_created(client: HubClient, database_url: str) -> None:
    """Sessions created from a template while it is archived: each either is created
    whole (before the archive) or refused (`forbidden`, after it), never half; once
    archived, the template takes no new session and no edit, and unarchived it does."""
    ada = await person(client)
    key = await verified_agent(client, ada)
    template = await new_template(client, ada)
    creates = [
        client.call("POST", "/api/sessions", token=key, json={"template": template["id"]})
        for _ in range(12)
    ]
    archive = client.call(
        "PUT", at(template["id"], "/archived"), token=ada, json={"archived": True}
    )
    results = await asyncio.gather(*creates[:6], archive, *creates[6:])
    archived, answers = results[6], results[:6] + results[7:]
    assert archived[0] == 200 and archived[1]["archived_at"] is not None
    made = [body for status, body in answers if status == 201]
    refused = [body for status, body in answers if status != 201]
    assert all(body["code"] == "forbidden" for body in refused), refused
    for created in made:
        state = await session_state(client, created)
        assert len(state["notes"]) == 2 and len(state["files"]) == 2, state
        assert len(state["messages"]) == 1
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE template_id = $1", template["id"]
        )
    finally:
        await conn.close()
    assert count == len(made)

    status, error = await client.call(
        "POST", "/api/sessions", token=key, json={"template": template["id"]}
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await edit(client, ada, template["id"], 1)
    assert (status, error["code"]) == (403, "forbidden")
    status, mine = await client.call("GET", "/api/templates", token=ada)
    assert template["id"] not in [t["id"] for t in mine["templates"]]
    status, mine = await client.call(
        "GET", "/api/templates", token=ada, params={"archived": "true"}
    )
    assert [t["id"] for t in mine["templates"]] == [template["id"]]
    status, back = await client.call(
        "PUT", at(template["id"], "/archived"), token=ada, json={"archived": False}
    )
    assert (status, back["archived_at"]) == (200, None)
    status, _ = await client.call(
        "POST", "/api/sessions", token=key, json={"template": template["id"]}
    )
    assert status == 201


async def test_versions_and_concurrent_editors(client: HubClient, database_url: str) -> None:
    """Each edit is version N+1 with its author; a stale `expected_version` gets
    `conflict` carrying the current template; of eight editors of one version exactly
    one wins; the history lists every version newest first, a page at a time, each
    readable; every change is in the account's audit log."""
    ada = await person(client)
    template = await new_template(client, ada)
    ref = template["ref"]
    status, second = await edit(client, ada, ref, 1, name="Review kit 2", public=True)
    assert (status, second["version"], second["public"], second["name"]) == (
        200,
        2,
        True,
        "Review kit 2",
    )
    status, error = await edit(client, ada, ref, 1, name="stale")
    assert (status, error["code"]) == (409, "conflict")
    assert (error["template"]["version"], error["template"]["name"]) == (2, "Review kit 2")

    answers = await asyncio.gather(
        *(edit(client, ada, ref, 2, name=f"editor {i}") for i in range(8))
    )
    winners = [body for status, body in answers if status == 200]
    assert len(winners) == 1, answers
    assert sorted(status for status, _ in answers) == [200] + [409] * 7
    status, current = await client.call("GET", at(ref), token=ada)
    assert (current["version"], current["name"]) == (3, winners[0]["name"])

    status, page = await client.call("GET", at(ref, "/versions"), token=ada, params={"limit": "2"})
    assert [v["version"] for v in page["versions"]] == [3, 2]
    assert page["next_before"] == 2
    status, rest = await client.call(
        "GET", at(ref, "/versions"), token=ada, params={"before": "2", "limit": "2"}
    )
    assert ([v["version"] for v in rest["versions"]], rest["next_before"]) == ([1], None)
    assert rest["versions"][0]["author"] == await username(client, ada)
    status, first = await client.call("GET", at(ref, "/versions/1"), token=ada)
    assert (status, first["name"], first["notes"], first["public"]) == (
        200,
        "Review kit",
        NOTES,
        False,
    )
    for bad in ("4", "0", "x", "²", "99999999999999999999"):
        status, error = await client.call("GET", at(ref, f"/versions/{bad}"), token=ada)
        assert (status, error["code"]) == (404, "not_found"), bad

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT action, detail->>'version' AS version FROM audit"
            " WHERE detail->>'template_id' = $1 ORDER BY id",
            template["id"],
        )
    finally:
        await conn.close()
    assert [(r["action"], r["version"]) for r in rows] == [
        ("template.created", None),
        ("template.revised", "2"),
        ("template.revised", "3"),
    ]


async def test_who_may_read_edit_and_use_a_template(client: HubClient) -> None:
    """A person's template is invisible to others (`not_found` by id, reference, list
    or use) until public, when anyone reads it and any caller creates sessions from it.
    A space's template: owners and members edit and use it, a viewer reads it only
    (`forbidden`), a non-member finds nothing."""
    ada, bob, cy, dee = [await person(client) for _ in range(4)]
    ada_key, bob_key, cy_key, dee_key = [
        await verified_agent(client, t) for t in (ada, bob, cy, dee)
    ]
    private = await new_template(client, ada)
    for ref in (private["id"], private["ref"]):
        status, error = await client.call("GET", at(ref), token=bob)
        assert (status, error["code"]) == (404, "not_found")
        status, error = await edit(client, bob, ref, 1)
        assert (status, error["code"]) == (404, "not_found")
        for token in (bob_key, None):
            status, error = await client.call(
                "POST", "/api/sessions", token=token, json={"template": ref}
            )
            assert (status, error["code"]) == (404, "not_found"), error
    status, listed = await client.call(
        "GET", "/api/templates", token=bob, params={"scope": "public"}
    )
    assert private["id"] not in [t["id"] for t in listed["templates"]]

    public = await new_template(client, ada, public=True)
    status, seen = await client.call("GET", at(public["ref"]), token=bob)
    assert (status, seen["id"]) == (200, public["id"])
    status, error = await edit(client, bob, public["ref"], 1)
    assert (status, error["code"]) == (403, "forbidden")
    for token in (bob_key, None):
        status, created = await client.call(
            "POST", "/api/sessions", token=token, json={"template": public["ref"]}
        )
        assert status == 201 and created["session"]["template_id"] == public["id"], created
    status, listed = await client.call(
        "GET", "/api/templates", token=bob, params={"scope": "public"}
    )
    assert public["id"] in [t["id"] for t in listed["templates"]]

    space = await new_space(client, ada)
    slug = space["slug"]
    assert (await add(client, ada, slug, await username(client, bob), "member"))[0] == 201
    assert (await add(client, ada, slug, await username(client, cy), "viewer"))[0] == 201
    status, shared = await client.call(
        "POST", "/api/templates", token=bob, json={"slug": "kit", "space": slug, **blueprint()}
    )
    assert status == 201, shared
    assert (shared["ref"], shared["owner"], shared["space"]) == (f"space:{slug}/kit", None, slug)
    status, error = await client.call(
        "POST", "/api/templates", token=cy, json={"slug": "kit2", "space": slug, **blueprint()}
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await client.call(
        "POST", "/api/templates", token=dee, json={"slug": "kit2", "space": slug, **blueprint()}
    )
    assert (status, error["code"]) == (404, "not_found")
    status, error = await client.call(
        "POST", "/api/templates", token=ada, json={"slug": "KIT", "space": slug, **blueprint()}
    )
    assert (status, error["code"]) == (409, "conflict")
    status, mine = await client.call(
        "POST", "/api/templates", token=ada, json={"slug": "kit", **blueprint()}
    )
    assert status == 201, mine  # the same slug, another owner

    status, edited = await edit(client, ada, shared["ref"], 1, name="Ada's edit")
    assert (status, edited["version"], edited["author"]) == (200, 2, await username(client, ada))
    status, seen = await client.call("GET", at(shared["ref"]), token=cy)
    assert (status, seen["name"]) == (200, "Ada's edit")
    status, error = await edit(client, cy, shared["ref"], 2)
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await client.call(
        "PUT", at(shared["ref"], "/archived"), token=cy, json={"archived": True}
    )
    assert (status, error["code"]) == (403, "forbidden")
    for token in (dee,):
        for path in (at(shared["ref"]), at(shared["id"]), at(shared["id"], "/versions")):
            status, error = await client.call("GET", path, token=token)
            assert (status, error["code"]) == (404, "not_found"), path
        status, error = await client.call(
            "GET", "/api/templates", token=token, params={"scope": "space", "space": slug}
        )
        assert (status, error["code"]) == (404, "not_found")
    status, listed = await client.call(
        "GET", "/api/templates", token=cy, params={"scope": "space", "space": slug}
    )
    assert [t["id"] for t in listed["templates"]] == [shared["id"]]

    for token, expected in ((ada_key, 201), (bob_key, 201), (cy_key, 403), (dee_key, 404)):
        status, answer = await client.call(
            "POST", "/api/sessions", token=token, json={"template": shared["id"]}
        )
        assert status == expected, answer


async def test_listing_pages_through_ones_templates(client: HubClient) -> None:
    """`GET /api/templates` lists one's own templates newest first, page by page with
    the `next` cursor, without their content, and nobody else's."""
    ada, bob = await person(client), await person(client)
    made = [(await new_template(client, ada))["id"] for _ in range(5)]
    await new_template(client, bob)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await client.call("GET", "/api/templates", token=ada, params=params)
        assert status == 200, page
        seen += [t["id"] for t in page["templates"]]
        assert all(t["note_count"] == 2 and "notes" not in t for t in page["templates"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == made[::-1]
    status, error = await client.call(
        "GET", "/api/templates", token=ada, params={"cursor": "nonsense"}
    )
    assert (status, error["code"]) == (400, "bad_request")
    status, error = await client.call("GET", "/api/templates", token=ada, params={"scope": "space"})
    assert (status, error["code"]) == (400, "bad_request")
    status, error = await client.call("GET", "/api/templates")
    assert (status, error["code"]) == (401, "unauthorized")


@pytest.mark.parametrize(
    "change",
    [
        {"files": [{"path": "../etc/passwd", "content": ""}]},
        {"files": [{"path": "/abs", "content": ""}]},
        {"files": [{"path": "a\x00b", "content": ""}]},
        {"files": [{"path": "a//b", "content": ""}]},
        {"files": [{"path": "x", "content": "1"}, {"path": "x", "content": "2"}]},
        {"files": [{"path": "big", "content": "x" * 512_001}]},
        {"notes": [{"title": "", "content": ""}]},
        {"notes": [{"title": "t", "content": "x" * 200_001}]},
        {"notes": [{"title": "t"}] * 33},
        {
            "notes": [{"title": "t", "content": "x" * 190_000}] * 3
            + [{"title": "u", "content": "y" * 440_000}]
        },
        {"opening_message": ""},
        {"opening_message": "x" * 64_001},
        {"metadata": {"a": "x" * 17_000}},
        {"mode": "sideways"},
        {"name": ""},
        {"surprise": 1},
        {"slug": "a"},
        {"space": "../x"},
    ],
)
async def test_nasty_templates_are_refused(client: HubClient, change: dict[str, Any]) -> None:
    """Bad paths, duplicate paths, oversized seeds, too many notes, unknown fields and
    malformed slugs are `bad_request`, and no template is created."""
    ada = await person(client)
    body = {"slug": fresh_slug(), **blueprint(), **change}
    status, error = await client.call("POST", "/api/templates", token=ada, json=body)
    assert (status, error["code"]) in ((400, "bad_request"), (413, "payload_too_large")), error
    status, listed = await client.call("GET", "/api/templates", token=ada)
    assert listed["templates"] == []


async def test_nasty_references_and_requests(client: HubClient) -> None:
    """Malformed template references (in the path and in a session request), a version
    without a template, NUL bytes and a huge expected version are refused with typed
    errors, and the template is unchanged."""
    ada = await person(client)
    key = await verified_agent(client, ada)
    template = await new_template(client, ada)
    for ref in ("..", "tpl_short", "a/b/c", "space:/kit", "x" * 300, "ada%00/kit", "ses_abc"):
        status, error = await client.call("GET", at(ref), token=ada)
        assert (status, error["code"]) == (404, "not_found"), ref
    for body in (
        {"template": "../../etc"},
        {"template": template["id"] + "x"},
        {"template_version": 1},
        {"template": template["id"], "template_version": 0},
        {"template": template["id"], "template_version": 2**31},
    ):
        status, error = await client.call("POST", "/api/sessions", token=key, json=body)
        assert (status, error["code"]) == (400, "bad_request"), body
    status, error = await client.call(
        "PUT", at(template["id"]), token=ada, data=b'{"name": "a\\u0000", "expected_version": 1}'
    )
    assert (status, error["code"]) == (400, "bad_request")
    status, error = await edit(client, ada, template["id"], 2**31)
    assert (status, error["code"]) == (400, "bad_request")
    status, error = await edit(client, ada, template["id"], 7)
    assert (status, error["code"], error["template"]["version"]) == (409, "conflict", 1)
    status, current = await client.call("GET", at(template["id"]), token=ada)
    assert current["version"] == 1
