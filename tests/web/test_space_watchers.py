"""Watching a space's sessions without an invite: a viewer's token only watches; a
token taken through a space lasts as long as the grounds it was taken on (membership,
role, the session being in the space), and its open connections close when they go."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.protocol import CLOSE_AUTH_FAILED
from tests.helpers import HubClient
from tests.web.test_profiles import person
from tests.web.test_spaces import add, new_space, username, verified_agent


async def space_session(client: HubClient) -> dict[str, Any]:
    """Ada's space holding a session of her agent's, with Bob a member and Cy a viewer."""
    ada, bob, cy = [await person(client) for _ in range(3)]
    space = await new_space(client, ada)
    slug = space["slug"]
    assert (await add(client, ada, slug, await username(client, bob), "member"))[0] == 201
    assert (await add(client, ada, slug, await username(client, cy), "viewer"))[0] == 201
    status, created = await client.call(
        "POST",
        "/api/sessions",
        token=await verified_agent(client, ada),
        json={"workspace_id": slug},
    )
    assert status == 201, created
    return {"ada": ada, "bob": bob, "cy": cy, "slug": slug, "created": created}


async def watch(client: HubClient, user_key: str, session_id: str) -> dict[str, Any]:
    status, watched = await client.call("POST", f"/api/sessions/{session_id}/watch", token=user_key)
    assert status == 201, watched
    return watched  # type: ignore[no-any-return]


async def test_a_viewer_only_watches(client: HubClient) -> None:
    """A viewer's watch token reads (REST and live) but may not chat or edit notes,
    and says so in the answer and in `hello`; a member's token takes part."""
    s = await space_session(client)
    sid = s["created"]["session"]["id"]
    viewer = await watch(client, s["cy"], sid)
    member = await watch(client, s["bob"], sid)
    assert (viewer["watch_only"], member["watch_only"]) == (True, False)

    peer = await client.connect(viewer["token"])
    hello = next(f for f in peer.frames if f["type"] == "hello")
    assert hello["you"]["watch_only"] is True
    said = await peer.say("let me in")
    assert (said["type"], said["code"]) == ("error", "forbidden"), said
    edit = await peer.request(
        {"type": "update_note", "title": "Plan", "content": "x", "expected_version": 0}
    )
    assert (edit["type"], edit["code"]) == ("error", "forbidden"), edit
    status, error = await client.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=viewer["token"],
        json={"content": "by rest", "client_msg_id": "v1"},
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, _ = await client.call("GET", f"/api/sessions/{sid}/messages", token=viewer["token"])
    assert status == 200
    presence = await peer.request({"type": "set_presence", "status": "online"})
    assert presence["type"] == "ack", presence

    taker = await client.connect(member["token"])
    said = await taker.say("a member takes part")
    assert said["type"] == "ack", said
    assert (await peer.next("message"))["message"]["content"] == "a member takes part"
    await peer.close()
    await taker.close()


async def test_leaving_or_changing_role_revokes_watch_tokens(client: HubClient) -> None:
    """Removed, the member's watch token opens nothing and their open connection is
    closed with 4001; a changed role does the same (they watch again on the new
    role's terms). Another member's token and the agent owner's are untouched."""
    s = await space_session(client)
    sid, slug = s["created"]["session"]["id"], s["slug"]
    bob_token = (await watch(client, s["bob"], sid))["token"]
    cy_token = (await watch(client, s["cy"], sid))["token"]
    ada_token = (await watch(client, s["ada"], sid))["token"]
    bob_peer, cy_peer, ada_peer = [
        await client.connect(t) for t in (bob_token, cy_token, ada_token)
    ]

    bob_name = await username(client, s["bob"])
    status, _ = await client.call(
        "DELETE", f"/api/spaces/{slug}/members/{bob_name}", token=s["ada"]
    )
    assert status == 204
    assert await bob_peer.closed() == CLOSE_AUTH_FAILED
    status, error = await client.call("GET", f"/api/sessions/{sid}", token=bob_token)
    assert (status, error["code"]) == (401, "unauthorized")
    status, error = await client.call("POST", f"/api/sessions/{sid}/watch", token=s["bob"])
    assert (status, error["code"]) == (404, "session_not_found")

    cy_name = await username(client, s["cy"])
    assert (await add(client, s["ada"], slug, cy_name, "member"))[0] == 200
    assert await cy_peer.closed() == CLOSE_AUTH_FAILED
    status, _ = await client.call("GET", f"/api/sessions/{sid}", token=cy_token)
    assert status == 401
    again = await watch(client, s["cy"], sid)
    assert again["watch_only"] is False

    # Ada owns agent A: her token does not hang on the space.
    said = await ada_peer.say("still here")
    assert said["type"] == "ack", said
    status, _ = await client.call("GET", f"/api/sessions/{sid}", token=again["token"])
    assert status == 200
    await ada_peer.close()


async def test_moving_a_session_out_revokes_the_space_watchers(client: HubClient) -> None:
    """A session leaving the space takes the space's watch tokens with it; the watch
    token of the person whose agent is in the session stays."""
    s = await space_session(client)
    sid = s["created"]["session"]["id"]
    bob_token = (await watch(client, s["bob"], sid))["token"]
    ada_token = (await watch(client, s["ada"], sid))["token"]
    bob_peer = await client.connect(bob_token)
    status, moved = await client.call(
        "PUT", f"/api/sessions/{sid}/space", token=s["ada"], json={"space": None}
    )
    assert (status, moved["workspace_id"]) == (200, None)
    assert await bob_peer.closed() == CLOSE_AUTH_FAILED
    assert (await client.call("GET", f"/api/sessions/{sid}", token=bob_token))[0] == 401
    assert (await client.call("GET", f"/api/sessions/{sid}", token=ada_token))[0] == 200


async def test_watching_while_being_removed_leaves_no_token(client: HubClient) -> None:
    """A watch racing the watcher's removal either fails or is revoked by it: once the
    removal is answered, no token taken through the space opens the session."""
    for _ in range(5):
        s = await space_session(client)
        sid, slug = s["created"]["session"]["id"], s["slug"]
        bob_name = await username(client, s["bob"])
        watched, removed = await asyncio.gather(
            client.call("POST", f"/api/sessions/{sid}/watch", token=s["bob"]),
            client.call("DELETE", f"/api/spaces/{slug}/members/{bob_name}", token=s["ada"]),
        )
        assert removed[0] == 204, removed
        if watched[0] == 201:
            status, _ = await client.call("GET", f"/api/sessions/{sid}", token=watched[1]["token"])
            assert status == 401
        else:
            assert watched[1]["code"] == "session_not_found", watched


async def test_session_ids_that_cannot_be_are_not_found(client: HubClient) -> None:
    """A session id of the wrong shape (NUL, control characters, too long) in a path is
    `session_not_found`, never a server error; so is a deleted session to a stranger
    who asks to move it."""
    ada, eve = await person(client), await person(client)
    for bad in ("%00", "ses_%00", "ses_a%0Ab", "ses_" + "a" * 80, "nope"):
        for method, path, body in (
            ("POST", f"/api/sessions/{bad}/watch", {}),
            ("PUT", f"/api/sessions/{bad}/space", {"space": None}),
        ):
            status, error = await client.call(method, path, token=ada, json=body)
            assert (status, error["code"]) == (404, "session_not_found"), (bad, error)
    status, created = await client.call(
        "POST", "/api/sessions", token=await verified_agent(client, ada), json={}
    )
    sid = created["session"]["id"]
    status, _ = await client.call("DELETE", f"/api/sessions/{sid}", token=created["agent_token"])
    assert status == 204
    status, error = await client.call(
        "PUT", f"/api/sessions/{sid}/space", token=eve, json={"space": None}
    )
    assert (status, error["code"]) == (404, "session_not_found")
