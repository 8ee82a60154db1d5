"""A person's sessions: the ones their verified agents created or joined, listed newest
first in keyset pages, and watched with an observer token of their own (no invite code);
to anyone else such a session does not exist."""

from __future__ import annotations

import asyncpg

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person
from tests.web.test_ratings import shared_session


async def mine(hub: HubClient, token: str, **params: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    return await hub.call("GET", "/api/me/sessions", token=token, params=params)


async def test_my_sessions_are_those_my_agents_created_or_joined(client: HubClient) -> None:
    """Ada's agent creates two sessions and joins Bob's; a free-typed agent's session
    and Bob's other session are not hers. The list is newest first, filters by status,
    pages by cursor to the end, and each session says which profile was which agent."""
    ada, bob = await person(client), await person(client)
    a = await new_agent(client, ada)
    b = await new_agent(client, bob)
    a_key = (await agent_key(client, ada, a["slug"]))["token"]
    b_key = (await agent_key(client, bob, b["slug"]))["token"]

    first, _ = await shared_session(client, a, a_key, b_key, complete=True)
    status, second = await client.call("POST", "/api/sessions", token=a_key, json={"name": "2"})
    assert status == 201, second
    joined_bobs, _ = await shared_session(client, b, b_key, a_key, complete=False)
    status, bobs_own = await client.call("POST", "/api/sessions", token=b_key, json={})
    assert status == 201
    await client.create_session(agent_id=a["slug"])  # free-typed: the same id, unverified

    status, page = await mine(client, ada)
    assert status == 200, page
    ids = [s["id"] for s in page["sessions"]]
    assert ids == [joined_bobs, second["session"]["id"], first]
    assert page["next"] is None
    joined = page["sessions"][0]
    assert (joined["agent_b_profile"], joined["agent_a_profile"]) == (a["slug"], b["slug"])
    assert joined["agent_b_verified"] and joined["agent_b_revision"] == 1

    status, page = await mine(client, bob)
    assert [s["id"] for s in page["sessions"]] == [
        bobs_own["session"]["id"],
        joined_bobs,
        first,
    ]

    status, done = await mine(client, ada, status="completed")
    assert [s["id"] for s in done["sessions"]] == [first]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        status, page = await mine(client, ada, **params)
        assert status == 200, page
        seen += [s["id"] for s in page["sessions"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids


async def test_my_sessions_refuse_bad_input_and_strangers(client: HubClient) -> None:
    ada = await person(client)
    assert (await mine(client, "usr_" + "x" * 40))[0] == 401
    status, error = await mine(client, ada, cursor="not-a-cursor")
    assert (status, error["code"]) == (400, "bad_request")
    status, error = await mine(client, ada, status="sleeping")
    assert (status, error["code"]) == (400, "bad_request")
    status, error = await mine(client, ada, limit="0")
    assert (status, error["code"]) == (400, "bad_request")
    status, page = await mine(client, ada)
    assert (status, page) == (200, {"sessions": [], "next": None})


async def test_the_owner_watches_without_an_invite_and_nobody_else_can(
    client: HubClient, database_url: str
) -> None:
    """Ada's agent created the session: her watch gives an observer token of her own,
    shown by her name, that reads the session and follows it live; the join is in the
    session's activity and her audit log. Bob (no agent in it), a wrong session id, a
    deleted session and a revoked key get nothing."""
    ada, bob = await person(client), await person(client)
    a = await new_agent(client, ada)
    a_key = (await agent_key(client, ada, a["slug"]))["token"]
    status, created = await client.call("POST", "/api/sessions", token=a_key, json={})
    assert status == 201
    sid = created["session"]["id"]

    status, watched = await client.call("POST", f"/api/sessions/{sid}/watch", token=ada)
    assert status == 201, watched
    assert watched["role"] == "observer" and watched["session"]["id"] == sid
    status, read = await client.call("GET", f"/api/sessions/{sid}", token=watched["token"])
    assert status == 200 and read["agent_a_profile"] == a["slug"]
    peer = await client.connect(watched["token"])
    sent = await client.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=created["agent_token"],
        json={"content": "hello, owner", "client_msg_id": "c1"},
    )
    assert sent[0] == 201, sent
    event = await peer.next("message")
    assert event["message"]["content"] == "hello, owner"

    status, named = await client.call(
        "POST", f"/api/sessions/{sid}/watch", token=ada, json={"display_name": "Ada at work"}
    )
    assert status == 201 and named["participant_id"] != watched["participant_id"]
    status, activity = await client.call(
        "GET", f"/api/sessions/{sid}/activity", token=created["agent_token"]
    )
    joins = [r for r in activity["activity"] if r["action"] == "observer.joined"]
    assert [r["detail"]["display_name"] for r in joins][-1] == "Ada at work"
    status, me = await client.call("GET", "/api/me", token=ada)
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT detail->>'session_id' AS sid FROM audit"
            " WHERE action = 'session.watched' AND user_id = $1",
            me["id"],
        )
    finally:
        await conn.close()
    assert [r["sid"] for r in rows] == [sid, sid]

    for token, path in (
        (bob, f"/api/sessions/{sid}/watch"),
        (ada, "/api/sessions/ses_doesnotexist/watch"),
    ):
        status, error = await client.call("POST", path, token=token)
        assert (status, error["code"]) == (404, "session_not_found"), error
    status, error = await client.call(
        "POST", f"/api/sessions/{sid}/watch", token=created["agent_token"]
    )
    assert status == 401, error  # a session token is not a user key
    status, error = await client.call(
        "POST", f"/api/sessions/{sid}/watch", token=ada, json={"display_name": ""}
    )
    assert (status, error["code"]) == (400, "bad_request")

    status, _ = await client.call("DELETE", f"/api/sessions/{sid}", token=created["agent_token"])
    assert status == 204
    status, error = await client.call("POST", f"/api/sessions/{sid}/watch", token=ada)
    assert (status, error["code"]) == (404, "session_not_found")
    status, page = await mine(client, ada)
    assert page["sessions"] == []
