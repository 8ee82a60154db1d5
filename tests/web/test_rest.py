"""The REST API: sessions, joining, status, deletion, history, notes, files, activity."""

import asyncio
import base64
import hashlib
import logging
import re
import typing
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import hub
from hub.domain import ActivityAction
from hub.protocol import ClientFrame
from hub.web.rest import (
    accounts,
    operations,
    pools,
    profiles,
    ratings,
    runners,
    secrets,
    spaces,
    templates,
    webhooks,
)
from tests.helpers import HubClient, HubTestServer, Peer
from tests.web.test_profiles import agent_key, new_agent, person
from tests.web.test_spaces import new_space


async def test_create_session_returns_credentials_once(client: HubClient) -> None:
    """Creating a session returns agent A's token, the observer token and an invite."""
    created = await client.create_session(agent_id="alpha")
    session = created["session"]
    assert session["id"].startswith("ses_") and session["name"] == "New Session"
    assert session["status"] == "waiting" and session["agent_a_id"] == "alpha"
    assert created["agent_token"].startswith("agt_")
    assert created["observer_token"].startswith("obs_")
    status, read = await client.call(
        "GET", f"/api/sessions/{session['id']}", token=created["agent_token"]
    )
    assert status == 200 and "agent_token" not in read and "invite_code" not in read


def stored_forms(token: str) -> list[str]:
    """Ways a token could be written down and read back: as is, without its role prefix,
    and either of those as hex or base64 (as PostgreSQL prints bytea, in lower case)."""
    forms: list[str] = []
    for text in (token, token[4:]):
        raw = text.encode()
        forms += [text, raw.hex(), base64.b64encode(raw).decode().rstrip("=")]
        forms.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return [form.lower() for form in forms]


async def test_tokens_are_stored_only_as_hashes(client: HubClient, database_url: str) -> None:
    """Each token's row holds exactly its SHA-256, and no column of any table holds the
    token or a reversible form of it."""
    s = await client.session_with_b()
    status, observer = await client.join(s["invite"], role="observer", display_name="Ada")
    assert status == 201
    tokens = {s["a"]: "agent_a", s["b"]: "agent_b", s["obs"]: "observer"}
    tokens[observer["token"]] = "observer"
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetch(
            "SELECT token_hash, role FROM tokens WHERE session_id = $1", s["id"]
        )
        assert sorted((bytes(r["token_hash"]), r["role"]) for r in stored) == sorted(
            (hashlib.sha256(token.encode()).digest(), role) for token, role in tokens.items()
        )
        assert await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'token_hash'"
        )
        forms = [form for token in tokens for form in stored_forms(token)]
        tables = await conn.fetch(
            "SELECT t.table_name, EXISTS (SELECT FROM information_schema.columns c"
            "  WHERE c.table_schema = 'public' AND c.table_name = t.table_name"
            "  AND c.column_name = 'session_id') AS per_session"
            " FROM information_schema.tables t"
            " WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        )
        # One pass over each table, reading every column of a row at once (the row as
        # text); of a table whose rows belong to sessions, this session's rows (the
        # database holds the whole test run's data by now: 100,000s of messages).
        # Attachments' bytes are what their uploaders sent, verbatim (50 MB of them).
        for table in (t for t in tables if t["table_name"] != "attachment_chunks"):
            name, per_session = table["table_name"], table["per_session"]
            found = await conn.fetchval(
                f'SELECT count(*) FROM "{name}" AS t'
                + (" WHERE t.session_id = $2 AND" if per_session else " WHERE")
                + " EXISTS (SELECT FROM unnest($1::text[]) AS form"
                " WHERE strpos(lower(t::text), form) > 0)",
                forms,
                *([s["id"]] if per_session else []),
            )
            assert found == 0, name
    finally:
        await conn.close()


async def test_bad_bodies_get_typed_errors(client: HubClient) -> None:
    """Malformed JSON, wrong types and unknown fields are 400 bad_request."""
    for data in (b"{not json", b'{"mode": "turbo"}', b'{"name": 5}', b'{"bogus": 1}', b"[]"):
        status, body = await client.call("POST", "/api/sessions", data=data)
        assert status == 400 and body["code"] == "bad_request", (data, body)


async def test_oversized_body_is_refused(client: HubClient) -> None:
    """A request body over the limit gets 413 payload_too_large."""
    status, body = await client.call("POST", "/api/sessions", data=b"x" * (300 * 1024))
    assert status == 413 and body["code"] == "payload_too_large"


async def test_exactly_one_agent_takes_the_b_slot(client: HubClient) -> None:
    """Ten agents redeem one invite at once: one becomes B, nine get session_full."""
    created = await client.create_session()
    results = await asyncio.gather(
        *(client.join(created["invite_code"], agent_id=f"b{i}") for i in range(10))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 9
    assert all(body["code"] == "session_full" for status, body in results if status == 409)
    winner = next(body for status, body in results if status == 201)
    assert winner["role"] == "agent_b" and winner["session"]["status"] == "active"


async def test_observers_join_with_the_invite(client: HubClient) -> None:
    """Any number of observers redeem the invite, each with a token of their own."""
    created = await client.create_session()
    code = created["invite_code"].lower().replace("-", " ")
    joined = [await client.join(code, role="observer", display_name=f"h{i}") for i in range(3)]
    assert all(status == 201 for status, _ in joined)
    tokens = {body["token"] for _, body in joined}
    assert len(tokens) == 3 and all(t.startswith("obs_") for t in tokens)
    assert {body["role"] for _, body in joined} == {"observer"}


async def test_bad_and_expired_invites(client: HubClient, database_url: str) -> None:
    """Unknown codes are invite_invalid; expired ones invite_expired."""
    status, body = await client.join("NOPE-NOPE-1234")
    assert (status, body["code"]) == (404, "invite_invalid")
    status, body = await client.join("not a code at all")
    assert (status, body["code"]) == (404, "invite_invalid")
    created = await client.create_session()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE sessions SET invite_expires_at = now() - interval '1 second' WHERE id = $1",
            created["session"]["id"],
        )
    finally:
        await conn.close()
    status, body = await client.join(created["invite_code"])
    assert (status, body["code"]) == (410, "invite_expired")


async def test_rotating_the_invite_retires_the_old_code(client: HubClient) -> None:
    """After agent A rotates the invite, the old code opens nothing; B cannot rotate."""
    s = await client.session_with_b()
    status, body = await client.call("POST", f"/api/sessions/{s['id']}/invite", token=s["b"])
    assert (status, body["code"]) == (403, "forbidden")
    status, info = await client.call("POST", f"/api/sessions/{s['id']}/invite", token=s["a"])
    assert status == 200 and info["invite_code"] != s["invite"]
    assert (await client.join(s["invite"], role="observer"))[0] == 404
    assert (await client.join(info["invite_code"], role="observer"))[0] == 201


async def test_agent_a_reads_the_current_invite(client: HubClient) -> None:
    """Agent A reads the session's current invite code (also after a rotation); agent B
    and observers may not."""
    s = await client.session_with_b()
    url = f"/api/sessions/{s['id']}/invite"
    status, info = await client.call("GET", url, token=s["a"])
    assert status == 200 and info["invite_code"] == s["invite"]
    assert info["invite_expires_at"] == s["created"]["invite_expires_at"]
    for token in (s["b"], s["obs"]):
        assert (await client.call("GET", url, token=token))[0] == 403
    _, rotated = await client.call("POST", url, token=s["a"])
    assert (await client.call("GET", url, token=s["a"]))[1] == rotated


async def test_tokens_grant_nothing_elsewhere(client: HubClient) -> None:
    """A token of one session is refused on another; a missing or forged one is 401."""
    s1, s2 = await client.session_with_b(), await client.session_with_b()
    for token in (s1["a"], s1["b"], s1["obs"]):
        status, body = await client.call("GET", f"/api/sessions/{s2['id']}/messages", token=token)
        assert (status, body["code"]) == (403, "forbidden")
        status, _ = await client.call("DELETE", f"/api/sessions/{s2['id']}", token=token)
        assert status == 403
    for token in (None, "agt_" + "x" * 32, "garbage", s1["a"] + "x"):
        status, body = await client.call("GET", f"/api/sessions/{s1['id']}", token=token)
        assert (status, body["code"]) == (401, "unauthorized")


async def test_status_follows_the_state_machine(client: HubClient) -> None:
    """Agents pause, resume and complete; observers may not; completed is final."""
    s = await client.session_with_b()
    path = f"/api/sessions/{s['id']}"
    status, body = await client.call("PATCH", path, token=s["obs"], json={"status": "paused"})
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await client.call("PATCH", path, token=s["b"], json={"status": "paused"})
    assert status == 200 and body["status"] == "paused"
    status, body = await client.call("PATCH", path, token=s["a"], json={"status": "active"})
    assert status == 200 and body["status"] == "active"
    status, body = await client.call("PATCH", path, token=s["a"], json={"status": "completed"})
    assert status == 200 and body["status"] == "completed"
    status, body = await client.call("PATCH", path, token=s["a"], json={"status": "active"})
    assert (status, body["code"]) == (409, "invalid_transition")
    status, body = await client.call(
        "POST", path + "/messages", token=s["a"], json={"client_msg_id": "late", "content": "x"}
    )
    assert (status, body["code"]) == (409, "session_completed")


async def test_rename_sticks_and_stops_auto_naming(client: HubClient) -> None:
    """A session renamed by an agent keeps its name after the first chat message."""
    s = await client.session_with_b()
    path = f"/api/sessions/{s['id']}"
    status, body = await client.call("PATCH", path, token=s["a"], json={"name": "Chosen"})
    assert status == 200 and body["name"] == "Chosen"
    await client.call(
        "POST",
        path + "/messages",
        token=s["a"],
        json={"client_msg_id": "c1", "content": "Something else"},
    )
    assert (await client.call("GET", path, token=s["a"]))[1]["name"] == "Chosen"


async def test_soft_delete(client: HubClient, database_url: str) -> None:
    """Only agent A deletes; afterwards the session is gone for every token, rows stay."""
    s = await client.session_with_b()
    path = f"/api/sessions/{s['id']}"
    assert (await client.call("DELETE", path, token=s["b"]))[0] == 403
    assert (await client.call("DELETE", path, token=s["a"]))[0] == 204
    for token in (s["a"], s["b"], s["obs"]):
        status, body = await client.call("GET", path, token=token)
        assert (status, body["code"]) == (410, "session_deleted")
    assert (await client.join(s["invite"], role="observer"))[0] == 404
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sessions WHERE id = $1", s["id"]) == 1
    finally:
        await conn.close()


async def test_rest_messages_are_idempotent_and_paginated(client: HubClient) -> None:
    """POSTed messages dedupe on client_msg_id; GET pages with after/before/limit."""
    s = await client.session_with_b()
    path = f"/api/sessions/{s['id']}/messages"
    for i in range(1, 6):
        status, body = await client.call(
            "POST", path, token=s["a"], json={"client_msg_id": f"m{i}", "content": f"#{i}"}
        )
        assert status == 201 and body["message"]["id"] == i
    status, body = await client.call(
        "POST", path, token=s["a"], json={"client_msg_id": "m2", "content": "again"}
    )
    assert status == 200 and body["duplicate"] and body["message"]["content"] == "#2"
    status, page = await client.call("GET", path, token=s["obs"], params={"after": 1, "limit": 2})
    assert [m["id"] for m in page["messages"]] == [2, 3] and page["last_message_id"] == 5
    status, page = await client.call("GET", path, token=s["b"], params={"before": 3})
    assert [m["id"] for m in page["messages"]] == [1, 2]
    status, body = await client.call("GET", path, token=s["b"], params={"limit": "many"})
    assert (status, body["code"]) == (400, "bad_request")


async def test_observer_message_rights(client: HubClient) -> None:
    """Observers post chat but not handoff/status/action; nobody posts system messages."""
    s = await client.session_with_b()
    path = f"/api/sessions/{s['id']}/messages"
    status, body = await client.call(
        "POST", path, token=s["obs"], json={"client_msg_id": "o1", "content": "hi"}
    )
    assert status == 201 and body["message"]["author_role"] == "observer"
    for msg_type in ("handoff", "status", "action", "system"):
        status, body = await client.call(
            "POST",
            path,
            token=s["obs"],
            json={"client_msg_id": f"o-{msg_type}", "content": "x", "msg_type": msg_type},
        )
        assert (status, body["code"]) == (403, "forbidden")
    status, body = await client.call(
        "POST",
        path,
        token=s["b"],
        json={"client_msg_id": "b1", "content": "over to you", "msg_type": "handoff"},
    )
    assert status == 201 and body["message"]["msg_type"] == "handoff"


async def test_notes_over_rest(client: HubClient) -> None:
    """Notes are created, edited at their version, and a stale edit gets the current note."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}/notes"
    status, note = await client.call(
        "POST", base, token=s["a"], json={"title": "Plan", "content": "v1", "expected_version": 0}
    )
    assert status == 201 and note["version"] == 1
    url = f"{base}/{note['id']}"
    status, note2 = await client.call(
        "PUT", url, token=s["obs"], json={"content": "v2", "expected_version": 1}
    )
    assert status == 200 and note2["version"] == 2
    status, body = await client.call(
        "PUT", url, token=s["b"], json={"content": "stale", "expected_version": 1}
    )
    assert status == 409 and body["code"] == "conflict"
    assert body["note"]["content"] == "v2" and body["note"]["version"] == 2
    status, listed = await client.call("GET", base, token=s["obs"])
    assert [n["content"] for n in listed["notes"]] == ["v2"]
    assert (await client.call("GET", f"{base}/999999", token=s["a"]))[0] == 404
    assert (await client.call("GET", f"{base}/abc", token=s["a"]))[0] == 404


async def test_files_over_rest(client: HubClient) -> None:
    """Files are written by agents only, read by all, with hash-checked overwrites."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}/files"
    status, f = await client.call(
        "PUT", f"{base}/src/main.py", token=s["a"], json={"content": "print(1)\n"}
    )
    assert status == 200 and len(f["content_hash"]) == 64 and f["size"] == 9
    status, body = await client.call(
        "PUT", f"{base}/src/main.py", token=s["obs"], json={"content": "evil"}
    )
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await client.call(
        "PUT", f"{base}/src/main.py", token=s["b"], json={"content": "x", "expected_hash": "0" * 64}
    )
    assert status == 409 and body["file"]["content_hash"] == f["content_hash"]
    status, body = await client.call(
        "PUT",
        f"{base}/src/main.py",
        token=s["b"],
        json={"content": "print(2)\n", "expected_hash": f["content_hash"]},
    )
    assert status == 200
    status, body = await client.call(
        "PUT", f"{base}/src/main.py", token=s["b"], json={"content": "new", "expected_hash": ""}
    )
    assert status == 409
    status, body = await client.call("GET", f"{base}/src/main.py", token=s["obs"])
    assert status == 200 and body["content"] == "print(2)\n" and body["last_editor"] == "bee"
    status, listed = await client.call("GET", base, token=s["obs"])
    assert [x["path"] for x in listed["files"]] == ["src/main.py"]
    assert "content" not in listed["files"][0]
    for bad in ("a//b", "%0A", "x%00y"):
        status, body = await client.call("PUT", f"{base}/{bad}", token=s["a"], json={"content": ""})
        assert (status, body["code"]) == (400, "bad_request"), bad


# Client frames that change nothing lasting, so write no activity row: presence is
# ephemeral (it expires with the connection), ping is answered and forgotten, and a
# stream is relayed, never stored, until its end commits a message.
NOT_CHANGES = {"set_presence", "ping", "stream_start", "stream_delta", "stream_abort"}


def change_routes() -> set[str]:
    """Every REST route that may change a session: any method but GET and HEAD, but
    those of people's accounts, agent profiles, ratings, vaults, spaces themselves and
    templates (their audit rows: tests/web/test_accounts.py, test_profiles.py,
    test_ratings.py, test_secrets.py, test_spaces.py, test_templates.py)."""
    personal = [
        op
        for table in (
            accounts.routes,
            profiles.routes,
            ratings.routes,
            secrets.routes,
            templates.routes,
        )
        for op in table.operations
    ] + [op for op in spaces.routes.operations if op.path.startswith("/api/spaces")]
    personal += [op for op in webhooks.routes.operations if op.path == "/api/webhooks"]
    # a test event changes nothing (its attempt is in the endpoint's delivery log)
    personal += [op for op in webhooks.routes.operations if op.path.endswith("/test")]
    # pools (but refunds) and runner keys are a person's (audit rows: test_jobs.py); a
    # runner's heartbeat, progress and log lines are live events, not activity rows
    personal += [op for op in pools.routes.operations if op.path.startswith("/api/pools")]
    personal = [op for op in personal if not op.path.endswith("/refunds")]
    personal += [op for op in runners.routes.operations if op.path.startswith("/api/runner-")]
    personal += [
        op
        for op in runners.routes.operations
        if op.path.endswith(("/heartbeat", "/progress", "/log"))
    ]
    return {
        f"{op.method.upper()} {op.path}"
        for op in operations()
        if op.method.upper() not in ("GET", "HEAD") and op not in personal
    }


def frame_types() -> set[str]:
    return {str(t.__struct_config__.tag) for t in typing.get_args(ClientFrame)}


def actions_written_in_sql() -> set[str]:
    """Actions that SQL in the hub's code writes itself ('message.sent', say)."""
    found: set[str] = set()
    for source in Path(hub.__file__).parent.rglob("*.py"):
        found |= set(re.findall(r"'([a-z_]+\.[a-z_]+)'", source.read_text()))
    return found


async def test_every_change_writes_one_activity_row(client: HubClient, database_url: str) -> None:
    """Each change, by every REST route and websocket frame that makes one, writes exactly
    one activity row naming it; the table covers every route, frame and action there is."""
    sid = ""
    tokens: dict[str, str] = {}
    peers: dict[str, Peer] = {}
    ids: dict[str, int] = {}

    async def rest(method: str, path: str, token: str | None, body: Any) -> Any:
        status, answer = await client.call(method, path, token=token, json=body)
        assert status < 300, (method, path, answer)
        return answer

    async def frame(who: str, body: dict[str, Any]) -> Any:
        if who not in peers:
            peers[who] = await client.connect(tokens[who])
        answer = await peers[who].request(body)
        assert answer["type"] == "ack", answer
        return answer

    async def create() -> None:
        nonlocal sid
        user_key = await person(client)
        agent = await new_agent(client, user_key)
        tokens["user"] = user_key
        tokens["space"] = (await new_space(client, user_key))["slug"]
        key = (await agent_key(client, user_key, agent["slug"]))["token"]
        created = await rest("POST", "/api/sessions", key, {})
        sid = created["session"]["id"]
        tokens.update(a=created["agent_token"], invite=created["invite_code"])

    async def join_agent() -> None:
        joined = await rest("POST", "/api/join", None, {"invite_code": tokens["invite"]})
        tokens["b"] = joined["token"]

    async def join_observer() -> None:
        body = {"invite_code": tokens["invite"], "role": "observer", "display_name": "Ada"}
        tokens["obs"] = (await rest("POST", "/api/join", None, body))["token"]

    async def note_by_rest() -> None:
        body = {"title": "Plan", "content": "x", "expected_version": 0}
        ids["note"] = (await rest("POST", f"/api/sessions/{sid}/notes", tokens["a"], body))["id"]

    async def note_by_frame() -> None:
        body = {"type": "update_note", "title": "Log", "content": "y", "expected_version": 0}
        ids["note2"] = (await frame("b", body))["note"]["id"]

    async def upload() -> None:
        status, answer = await client.call(
            "POST", f"/api/sessions/{sid}/attachments", token=tokens["b"], data=b"bytes"
        )
        assert status == 201, answer

    async def artifact() -> None:
        body = {"title": "Result", "message_id": 1, "data": {"kind": "json", "value": {"score": 1}}}
        ids["artifact"] = (await rest("POST", f"/api/sessions/{sid}/artifacts", tokens["a"], body))[
            "id"
        ]

    async def fork() -> None:
        made = await rest("POST", f"/api/sessions/{sid}/fork", tokens["b"], {"at_message_id": 1})
        ids["fork"] = made["session"]["id"]

    def api(method: str, path: str, who: str, body: Any = None) -> Any:
        return lambda: rest(method, f"/api/sessions/{sid}{path}", tokens[who], body)

    async def session_webhook() -> None:
        body = {"url": "https://example.com/hook", "event_types": ["session.*"]}
        ids["hook"] = (await api("POST", "/webhooks", "a", body)())["webhook"]["id"]

    async def ask_approval(name: str) -> None:
        metadata = {"approval": {"description": name}}
        body = {"client_msg_id": name, "content": name, "msg_type": "action", "metadata": metadata}
        sent = await rest("POST", f"/api/sessions/{sid}/messages", tokens["b"], body)
        ids[name] = sent["message"]["id"]

    async def decide_by_rest() -> None:
        path = f"/api/sessions/{sid}/approvals/{ids['ask1']}/decision"
        await rest("POST", path, tokens["a"], {"decision": "approved"})

    async def decide_by_frame() -> None:
        await frame("obs", {"type": "decide", "message_id": ids["ask2"], "decision": "rejected"})

    async def pool_for_session() -> None:
        made = await rest("POST", "/api/pools", tokens["user"], {"name": "lab"})
        ids["pool"] = made["id"]
        await rest("POST", f"/api/pools/{made['id']}/grants", tokens["user"], {"amount": 10})
        body = {"name": "r", "kinds": ["echo"]}
        tokens["runner"] = (await rest("POST", "/api/runner-keys", tokens["user"], body))["token"]
        await api("PUT", "/pool", "a", {"pool_id": made["id"]})()

    def new_job(name: str) -> Any:
        async def create_job() -> None:
            body = {"kind": "echo", "estimated_cost": 2}
            ids[name] = (await rest("POST", f"/api/sessions/{sid}/jobs", tokens["b"], body))["id"]

        return create_job

    async def claim_job() -> None:
        claimed = await rest("POST", "/api/runner/claim", tokens["runner"], {})
        ids["job"], ids["attempt"] = claimed["claimed"]["job"]["id"], claimed["claimed"]["attempt"]

    def runner(what: str, **body: Any) -> Any:
        return lambda: rest(
            "POST",
            f"/api/runner/jobs/{ids['job']}/{what}",
            tokens["runner"],
            {"attempt": ids["attempt"], **body},
        )

    def hook(method: str, path: str, body: Any = None) -> Any:
        return lambda: rest(method, f"/api/webhooks/{ids['hook']}{path}", tokens["a"], body)

    # (route or frame, what it does, the one action its row names; None: no row)
    table: list[tuple[str, Any, ActivityAction | None]] = [
        ("POST /api/sessions", create, "session.created"),
        ("POST /api/join", join_agent, "agent_b.joined"),
        ("POST /api/join", join_observer, "observer.joined"),
        (
            "POST /api/sessions/{session_id}/watch",
            lambda: rest("POST", f"/api/sessions/{sid}/watch", tokens["user"], {}),
            "observer.joined",
        ),
        (
            "PUT /api/sessions/{session_id}/space",
            lambda: rest(
                "PUT", f"/api/sessions/{sid}/space", tokens["user"], {"space": tokens["space"]}
            ),
            "session.moved",
        ),
        (
            "PATCH /api/sessions/{session_id}",
            api("PATCH", "", "b", {"status": "paused"}),
            "session.updated",
        ),
        (
            "PATCH /api/sessions/{session_id}",
            api("PATCH", "", "a", {"status": "active"}),
            "session.updated",
        ),
        (
            "PATCH /api/sessions/{session_id}",
            api("PATCH", "", "a", {"name": "Renamed"}),
            "session.updated",
        ),
        ("POST /api/sessions/{session_id}/invite", api("POST", "/invite", "a"), "invite.rotated"),
        (
            "POST /api/sessions/{session_id}/messages",
            api("POST", "/messages", "obs", {"client_msg_id": "r", "content": "hi"}),
            "message.sent",
        ),
        (
            "send",
            lambda: frame("a", {"type": "send", "client_msg_id": "w", "content": "yo"}),
            "message.sent",
        ),
        ("send", lambda: ask_approval("ask1"), "message.sent"),
        ("send", lambda: ask_approval("ask2"), "message.sent"),
        # a decision and an interrupt each write a system message, named by their own row
        (
            "POST /api/sessions/{session_id}/approvals/{message_id}/decision",
            decide_by_rest,
            "approval.decided",
        ),
        ("decide", decide_by_frame, "approval.decided"),
        (
            "POST /api/sessions/{session_id}/interrupts",
            api("POST", "/interrupts", "a", {"reason": "stop"}),
            "session.interrupted",
        ),
        (
            "interrupt",
            lambda: frame("a", {"type": "interrupt", "reason": "stop"}),
            "session.interrupted",
        ),
        ("POST /api/sessions/{session_id}/notes", note_by_rest, "note.created"),
        (
            "PUT /api/sessions/{session_id}/notes/{note_id}",
            lambda: api(
                "PUT", f"/notes/{ids['note']}", "obs", {"content": "x2", "expected_version": 1}
            )(),
            "note.updated",
        ),
        ("update_note", note_by_frame, "note.created"),
        (
            "update_note",
            lambda: frame(
                "obs",
                {
                    "type": "update_note",
                    "note_id": ids["note2"],
                    "content": "y2",
                    "expected_version": 1,
                },
            ),
            "note.updated",
        ),
        (
            r"PUT /api/sessions/{session_id}/files/{path:[\s\S]+}",
            api("PUT", "/files/src/a.py", "a", {"content": "1"}),
            "file.written",
        ),
        (
            "write_file",
            lambda: frame("b", {"type": "write_file", "path": "src/b.py", "content": "2"}),
            "file.written",
        ),
        ("POST /api/sessions/{session_id}/attachments", upload, "attachment.uploaded"),
        ("POST /api/sessions/{session_id}/artifacts", artifact, "artifact.created"),
        (
            "PUT /api/sessions/{session_id}/artifacts/{artifact_id}",
            lambda: api(
                "PUT",
                f"/artifacts/{ids['artifact']}",
                "b",
                {"expected_version": 1, "data": {"kind": "json", "value": {"score": 2}}},
            )(),
            "artifact.updated",
        ),
        ("PUT /api/sessions/{session_id}/pool", pool_for_session, "session.pool_set"),
        ("POST /api/sessions/{session_id}/jobs", new_job("job1"), "job.created"),
        ("POST /api/runner/claim", claim_job, "job.claimed"),
        (
            "POST /api/runner/jobs/{job_id}/result",
            runner("result", status="succeeded", cost=1),
            "job.succeeded",
        ),
        (
            "POST /api/pools/{pool_id}/refunds",
            lambda: rest(
                "POST",
                f"/api/pools/{ids['pool']}/refunds",
                tokens["user"],
                {"job_id": ids["job"], "amount": 1},
            ),
            "job.refunded",
        ),
        ("POST /api/sessions/{session_id}/jobs", new_job("job2"), "job.created"),
        ("POST /api/runner/claim", claim_job, "job.claimed"),
        ("POST /api/runner/jobs/{job_id}/result", runner("result", status="failed"), "job.failed"),
        ("POST /api/sessions/{session_id}/jobs", new_job("job3"), "job.created"),
        (
            "POST /api/sessions/{session_id}/jobs/{job_id}/cancel",
            lambda: rest("POST", f"/api/sessions/{sid}/jobs/{ids['job3']}/cancel", tokens["a"], {}),
            "job.cancelled",
        ),
        # a stream is ephemeral until its end commits one ordinary message
        ("stream_start", lambda: frame("b", {"type": "stream_start", "stream_id": "s1"}), None),
        (
            "stream_delta",
            lambda: frame("b", {"type": "stream_delta", "stream_id": "s1", "text": "hel"}),
            None,
        ),
        (
            "stream_end",
            lambda: frame("b", {"type": "stream_end", "stream_id": "s1", "client_msg_id": "st"}),
            "message.sent",
        ),
        ("stream_start", lambda: frame("b", {"type": "stream_start", "stream_id": "s2"}), None),
        ("stream_abort", lambda: frame("b", {"type": "stream_abort", "stream_id": "s2"}), None),
        ("set_presence", lambda: frame("b", {"type": "set_presence", "status": "working"}), None),
        ("ping", lambda: peers["b"].request({"type": "ping"}), None),
        ("POST /api/sessions/{session_id}/webhooks", session_webhook, "webhook.created"),
        (
            "PATCH /api/webhooks/{webhook_id}",
            hook("PATCH", "", {"description": "ci"}),
            "webhook.updated",
        ),
        (
            "POST /api/webhooks/{webhook_id}/secret",
            hook("POST", "/secret", {}),
            "webhook.secret_rotated",
        ),
        (
            "POST /api/webhooks/{webhook_id}/redeliver",
            hook("POST", "/redeliver", {"since": "2026-01-01T00:00:00Z"}),
            "webhook.redelivered",
        ),
        ("DELETE /api/webhooks/{webhook_id}", hook("DELETE", ""), "webhook.deleted"),
        ("POST /api/sessions/{session_id}/fork", fork, "session.forked"),
        ("DELETE /api/sessions/{session_id}", api("DELETE", "", "a"), "session.deleted"),
    ]

    conn = await asyncpg.connect(database_url)
    try:
        last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM activity")
        for label, change, action in table:
            await change()
            rows = await conn.fetch(
                "SELECT id, session_id, action FROM activity WHERE id > $1 ORDER BY id", last
            )
            assert [(r["session_id"], r["action"]) for r in rows] == (
                [(sid, action)] if action else []
            ) + ([(ids["fork"], "session.forked_from")] if action == "session.forked" else []), (
                label
            )
            last = rows[-1]["id"] if rows else last
    finally:
        await conn.close()

    labels = {label for label, _, _ in table}
    assert labels == change_routes() | frame_types()
    assert NOT_CHANGES <= frame_types()
    assert {label for label, _, action in table if action is None} == NOT_CHANGES
    actions = {action for _, _, action in table if action}
    # a job whose lease ran out goes back to the queue or times out by the sweeper, not
    # by a request (tests/web/test_jobs.py checks their rows)
    swept = {"job.requeued", "job.timed_out"}
    assert actions | {"session.forked_from"} | swept == set(typing.get_args(ActivityAction))
    assert actions_written_in_sql() <= actions


async def test_health_endpoints(client: HubClient) -> None:
    """/healthz answers when up; /readyz when the database and bus answer."""
    assert (await client.call("GET", "/healthz"))[0] == 200
    status, body = await client.call("GET", "/readyz")
    assert status == 200 and body == {"status": "ready", "database": True, "bus": True}
    assert (await client.call("GET", "/api/nothing-here"))[0] == 404


async def test_invite_guessing_is_rate_limited(make_client: Any) -> None:
    """Past the per-address budget, redemption is refused with 429, even for a good code."""
    hub: HubClient = await make_client(invite_attempts_per_minute=3)
    created = await hub.create_session()
    for guess in ("BOLD-OAK-1111", "BOLD-OAK-2222", "BOLD-OAK-3333"):
        assert (await hub.join(guess, role="observer"))[0] == 404
    status, body = await hub.join(created["invite_code"], role="observer")
    assert (status, body["code"]) == (429, "rate_limited")


async def test_tokens_never_reach_the_logs(config: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A token passed in the query string is not written to the access log."""
    from aiohttp import ClientSession

    from hub.app import create_app
    from hub.web import AccessLogger

    server = HubTestServer(create_app(config, migrate=False), host="127.0.0.1")
    await server.start_server(access_log_class=AccessLogger)
    try:
        async with ClientSession() as http:
            hub = HubClient(http, str(server.make_url("")))
            s = await hub.session_with_b()
            with caplog.at_level(logging.DEBUG):
                await hub.call("GET", f"/api/sessions/{s['id']}", params={"token": s["a"]})
                peer = await hub.connect(None, params={"token": s["b"]})
                await peer.close()
    finally:
        await server.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"/api/sessions/{s['id']}" in logged
    assert s["a"] not in logged and s["b"] not in logged
