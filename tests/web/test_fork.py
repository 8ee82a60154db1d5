"""Forks: a session forked at message N holds exactly messages 1..N of the original and
its notes and files as they stood after N (with their versions up to then), also while
the original is being written to; the fork goes on from N+1, the original is untouched
and lists its forks; agents fork, observers and strangers do not; a fork shares the
creation rate limit, and keeps the original's space only for a forker who may create
sessions there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from aiohttp.test_utils import TestServer

from hub.client import HubAPI, HubClientError
from tests.helpers import HubClient
from tests.test_cli import base_url, hub, quiet_env
from tests.web.test_attachments import png
from tests.web.test_limits import fresh_address
from tests.web.test_profiles import agent_key, new_agent, person
from tests.web.test_spaces import add, new_space, username

__all__ = ["quiet_env"]

Json = dict[str, Any]


async def call_ok(client: HubClient, method: str, path: str, token: str, body: Any = None) -> Any:
    status, answer = await client.call(method, path, token=token, json=body)
    assert status < 300, (method, path, status, answer)
    return answer


async def send(client: HubClient, sid: str, token: str, content: str, **more: Any) -> Json:
    body = {"client_msg_id": f"c-{content}", "content": content, **more}
    sent: Json = await call_ok(client, "POST", f"/api/sessions/{sid}/messages", token, body)
    return dict(sent["message"])


async def save_note(
    client: HubClient, sid: str, token: str, note: Json | None, content: str, **more: Any
) -> Json:
    base = f"/api/sessions/{sid}/notes"
    if note is None:
        body = {"title": more.pop("title"), "content": content, "expected_version": 0}
        return dict(await call_ok(client, "POST", base, token, body))
    body = {"content": content, "expected_version": note["version"], **more}
    return dict(await call_ok(client, "PUT", f"{base}/{note['id']}", token, body))


async def write(client: HubClient, sid: str, token: str, path: str, content: str) -> Json:
    url = f"/api/sessions/{sid}/files/{path}"
    return dict(await call_ok(client, "PUT", url, token, {"content": content}))


async def messages(client: HubClient, sid: str, token: str) -> list[Json]:
    page = await call_ok(client, "GET", f"/api/sessions/{sid}/messages?limit=1000", token)
    return [{k: v for k, v in m.items() if k != "session_id"} for m in page["messages"]]


async def state(client: HubClient, sid: str, token: str) -> Json:
    """The notes (by title) and files (by path) as they stand, with their versions."""
    notes = (await call_ok(client, "GET", f"/api/sessions/{sid}/notes", token))["notes"]
    files = (await call_ok(client, "GET", f"/api/sessions/{sid}/files", token))["files"]
    read = {}
    for f in files:
        entry = await call_ok(client, "GET", f"/api/sessions/{sid}/files/{f['path']}", token)
        read[f["path"]] = (entry["version"], entry["content"], entry["content_hash"])
    return {
        "notes": {n["title"]: (n["version"], n["content"], n["last_editor"]) for n in notes},
        "files": read,
    }


async def versions(client: HubClient, sid: str, token: str) -> Json:
    """Every note's and file's versions (without ids), as the history routes list them."""
    base = f"/api/sessions/{sid}"
    found: Json = {}
    for n in (await call_ok(client, "GET", f"{base}/notes", token))["notes"]:
        page = await call_ok(client, "GET", f"{base}/notes/{n['id']}/versions?limit=200", token)
        found[f"note {n['created_at']}"] = [
            {k: v for k, v in x.items() if k not in ("session_id", "note_id")}
            for x in page["versions"]
        ]
    for f in (await call_ok(client, "GET", f"{base}/files", token))["files"]:
        page = await call_ok(client, "GET", f"{base}/file-versions/{f['path']}?limit=200", token)
        found[f"file {f['path']}"] = [
            {k: v for k, v in x.items() if k != "session_id"} for x in page["versions"]
        ]
    return found


async def fork(client: HubClient, sid: str, token: str, **body: Any) -> tuple[int, Any]:
    return await client.call("POST", f"/api/sessions/{sid}/fork", token=token, json=body)


async def test_a_fork_at_every_message_is_the_state_then(client: HubClient) -> None:
    """Messages interleaved with note edits (a title change, edits after the last
    message) and file writes (one file created after N, one written again after N): a
    fork at each N holds messages 1..N as they were (authors, roles, types, times,
    replies, attachments) and each note and file at its latest version written by N,
    with the versions before it; a note or file first written after N is not there."""
    s = await client.session_with_b()
    sid, a, b, obs = s["id"], s["a"], s["b"], s["obs"]
    expected: list[Json] = []  # expected[n]: the state after message n

    async def message(token: str, content: str, **more: Any) -> None:
        expected.append(await state(client, sid, a))
        await send(client, sid, token, content, **more)

    plan = await save_note(client, sid, a, None, "step 1", title="Plan")
    await message(a, "hello")  # 1
    plan = await save_note(client, sid, b, plan, "step 1\nstep 2")
    await write(client, sid, b, "src/a.py", "a = 1\n")
    await message(b, "wrote a.py", parent_id=1, msg_type="status", attachments=["src/a.py"])  # 2
    await write(client, sid, a, "src/a.py", "a = 2\n")
    log = await save_note(client, sid, obs, None, "seen", title="Log")
    await message(obs, "observer here", metadata={"k": [1, 2]})  # 3
    await message(a, "handing off", msg_type="handoff")  # 4
    plan = await save_note(client, sid, a, plan, "step 3", title="Plan B")
    await write(client, sid, b, "src/b.py", "b\n")
    await message(b, "done")  # 5
    await save_note(client, sid, a, plan, "step 4")
    await save_note(client, sid, b, log, "seen twice")
    await write(client, sid, a, "src/a.py", "a = 3\n")
    await write(client, sid, a, "src/c.py", "late\n")
    expected.append(await state(client, sid, a))
    original = await messages(client, sid, a)
    original_versions = await versions(client, sid, a)
    assert [m["id"] for m in original] == [1, 2, 3, 4, 5]
    assert expected[0]["notes"] == {"Plan": (1, "step 1", s["created"]["participant_id"])}
    assert expected[0]["files"] == {}

    for n in range(6):
        status, made = await fork(client, sid, a if n % 2 else b, at_message_id=n)
        assert status == 201, made
        fid, token = made["session"]["id"], made["agent_token"]
        assert made["session"]["last_message_id"] == n
        assert (made["session"]["forked_from"], made["session"]["forked_at_message_id"]) == (
            sid,
            n,
        )
        assert await messages(client, fid, token) == original[:n], n
        assert await state(client, fid, token) == expected[n], n
        forked_versions = await versions(client, fid, token)
        for key, listed in forked_versions.items():
            assert listed == [v for v in original_versions[key] if v["at_message_id"] <= n], key
        assert len(forked_versions) == len(expected[n]["notes"]) + len(expected[n]["files"])

    status, whole = await fork(client, sid, a)
    assert status == 201 and whole["session"]["forked_at_message_id"] == 5
    assert await state(client, whole["session"]["id"], whole["agent_token"]) == expected[5]
    assert await messages(client, sid, a) == original
    assert await versions(client, sid, a) == original_versions


async def test_the_fork_goes_on_from_n_plus_one_and_the_original_is_untouched(
    client: HubClient,
) -> None:
    """A fork at 2 of 3 messages: its next message is #3 (and a websocket resumes from
    2), its notes are edited at the versions they had, its file is written over the hash
    it had; the original keeps its messages, notes and files. The forker (agent B here)
    is the fork's agent A, with a new token, observer token and invite; the fork copies
    the name, mode, privacy and metadata, and waits for its agent B. A completed session
    forks too, into a waiting one."""
    s = await client.session_with_b(
        name="Research", mode="realtime", is_private=True, metadata={"topic": "x"}
    )
    sid, a, b = s["id"], s["a"], s["b"]
    note = await save_note(client, sid, a, None, "v1", title="Plan")
    note = await save_note(client, sid, a, note, "v2")
    f = await write(client, sid, a, "notes.md", "one")
    for word in ("one", "two", "three"):
        await send(client, sid, a, word)
    status, made = await fork(client, sid, b, at_message_id=2, name="Research, take 2")
    assert status == 201, made
    fork_session = made["session"]
    fid, token = fork_session["id"], made["agent_token"]
    assert made["participant_id"] == "bee" == fork_session["agent_a_id"]
    assert token.startswith("agt_") and made["observer_token"].startswith("obs_")
    assert made["invite_code"] != s["invite"]
    assert fork_session["name"] == "Research, take 2" and fork_session["mode"] == "realtime"
    assert fork_session["is_private"] is True and fork_session["metadata"] == {"topic": "x"}
    assert fork_session["status"] == "waiting" and fork_session["agent_b_id"] is None

    peer = await client.connect(token, since=2)
    third = await send(client, fid, token, "another three")
    assert third["id"] == 3 and third["author_role"] == "agent_a"
    assert (await peer.next("message"))["message"]["id"] == 3
    (fork_note,) = (await call_ok(client, "GET", f"/api/sessions/{fid}/notes", token))["notes"]
    assert fork_note["id"] != note["id"] and fork_note["version"] == 2
    edited = await save_note(client, fid, token, fork_note, "v3 in the fork")
    assert edited["version"] == 3
    status, _ = await client.call(
        "PUT",
        f"/api/sessions/{fid}/files/notes.md",
        token=token,
        json={"content": "fork", "expected_hash": f["content_hash"]},
    )
    assert status == 200
    await call_ok(client, "PATCH", f"/api/sessions/{sid}", a, {"status": "completed"})
    status, again = await fork(client, sid, a, at_message_id=3)
    assert status == 201 and again["session"]["status"] == "waiting"
    assert again["session"]["agent_a_id"] == s["created"]["participant_id"]
    status, joined = await client.join(made["invite_code"], agent_id="cee")
    assert status == 201 and joined["session"]["id"] == fid

    assert [m["content"] for m in await messages(client, sid, a)] == ["one", "two", "three"]
    assert await state(client, sid, a) == {
        "notes": {"Plan": (2, "v2", s["created"]["participant_id"])},
        "files": {"notes.md": (1, "one", f["content_hash"])},
    }
    status, _ = await client.call("GET", f"/api/sessions/{fid}", token=a)
    assert status == 403  # the original's tokens open nothing in the fork


async def test_forks_are_listed_newest_first_in_pages(client: HubClient) -> None:
    """The original lists its forks (any token of it, observers too): newest first, with
    the message each was made at, a page at a time; a deleted fork is not listed, a
    fork's forks are the fork's, another session lists none."""
    s = await client.session_with_b()
    sid = s["id"]
    await send(client, sid, s["a"], "one")
    made = []
    for n in (0, 1, 1):
        status, forked = await fork(client, sid, s["a"], at_message_id=n)
        assert status == 201
        made.append(forked)
    status, grandchild = await fork(client, made[0]["session"]["id"], made[0]["agent_token"])
    assert status == 201 and grandchild["session"]["forked_from"] == made[0]["session"]["id"]
    base = f"/api/sessions/{sid}/forks"
    page = await call_ok(client, "GET", f"{base}?limit=2", s["obs"])
    assert [f["id"] for f in page["forks"]] == [m["session"]["id"] for m in made[:0:-1]]
    assert [f["at_message_id"] for f in page["forks"]] == [1, 1]
    rest = await call_ok(client, "GET", f"{base}?limit=2&cursor={page['next']}", s["b"])
    assert [f["id"] for f in rest["forks"]] == [made[0]["session"]["id"]]
    assert rest["next"] is None and set(rest["forks"][0]) == {
        "id",
        "name",
        "at_message_id",
        "created_at",
    }
    status, _ = await client.call(
        "DELETE", f"/api/sessions/{made[2]['session']['id']}", token=made[2]["agent_token"]
    )
    assert status == 204
    page = await call_ok(client, "GET", base, s["a"])
    assert [f["id"] for f in page["forks"]] == [m["session"]["id"] for m in made[1::-1]]
    other = await client.create_session()
    page = await call_ok(
        client, "GET", f"/api/sessions/{other['session']['id']}/forks", other["agent_token"]
    )
    assert page == {"forks": [], "next": None}
    status, answer = await client.call("GET", f"{base}?cursor=bm9wZQ", token=s["a"])
    assert (status, answer["code"]) == (400, "bad_request")


async def test_who_may_fork_and_bad_requests(client: HubClient, database_url: str) -> None:
    """Observers may not fork (403), nor another session's token (403), nor no token
    (401); N past the last message, negative or not a number, unknown fields and NUL
    bytes are 400 `bad_request`; a deleted session is 410. None of them makes a
    session."""
    s = await client.session_with_b()
    sid = s["id"]
    await send(client, sid, s["a"], "one")
    other = await client.create_session()
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM sessions")
        for token, body, code in [
            (s["obs"], {}, (403, "forbidden")),
            (other["agent_token"], {}, (403, "forbidden")),
            (other["observer_token"], {}, (403, "forbidden")),
            (None, {}, (401, "unauthorized")),
            ("agt_nothing", {}, (401, "unauthorized")),
            (s["a"], {"at_message_id": 2}, (400, "bad_request")),
            (s["a"], {"at_message_id": 2**62}, (400, "bad_request")),
            (s["a"], {"at_message_id": 2**63}, (400, "bad_request")),
            (s["a"], {"at_message_id": -1}, (400, "bad_request")),
            (s["a"], {"at_message_id": "1"}, (400, "bad_request")),
            (s["a"], {"at_message_id": 1.5}, (400, "bad_request")),
            (s["a"], {"name": ""}, (400, "bad_request")),
            (s["a"], {"name": "x" * 201}, (400, "bad_request")),
            (s["a"], {"name": "a\x00b"}, (400, "bad_request")),
            (s["a"], {"agent_id": "mallory"}, (400, "bad_request")),
            (s["a"], {"invite_ttl_seconds": 1}, (400, "bad_request")),
        ]:
            status, answer = await fork(client, sid, token, **body)  # type: ignore[arg-type]
            assert (status, answer["code"]) == code, (token, body, answer)
        status, answer = await client.call(
            "POST", f"/api/sessions/{sid}/fork", token=s["a"], data=b"[1"
        )
        assert (status, answer["code"]) == (400, "bad_request")
        status, answer = await client.call(
            "POST", "/api/sessions/ses_%00x/fork", token=s["a"], json={}
        )
        assert status in (403, 404), answer
        assert await conn.fetchval("SELECT count(*) FROM sessions") == before
        status, _ = await client.call("DELETE", f"/api/sessions/{sid}", token=s["a"])
        assert status == 204
        status, answer = await fork(client, sid, s["b"])
        assert (status, answer["code"]) == (410, "session_deleted")
        status, answer = await client.call("GET", f"/api/sessions/{sid}/forks", token=s["b"])
        assert (status, answer["code"]) == (410, "session_deleted")
        assert await conn.fetchval("SELECT count(*) FROM sessions") == before
    finally:
        await conn.close()


async def test_forks_write_activity_on_both_sessions(client: HubClient) -> None:
    """The original's log says `session.forked` (by the forker, naming the fork and N);
    the fork's log begins with `session.forked_from` (by its agent A, naming the
    original and N); the original's activity is not copied."""
    s = await client.session_with_b()
    await send(client, s["id"], s["a"], "one")
    status, made = await fork(client, s["id"], s["b"], at_message_id=1)
    assert status == 201
    fid = made["session"]["id"]
    log = (await call_ok(client, "GET", f"/api/sessions/{s['id']}/activity", s["a"]))["activity"]
    assert (log[-1]["action"], log[-1]["actor_id"], log[-1]["actor_role"]) == (
        "session.forked",
        "bee",
        "agent_b",
    )
    assert log[-1]["detail"] == {"fork_id": fid, "at_message_id": 1}
    log = (await call_ok(client, "GET", f"/api/sessions/{fid}/activity", made["agent_token"]))[
        "activity"
    ]
    assert [(r["action"], r["actor_id"], r["actor_role"]) for r in log] == [
        ("session.forked_from", "bee", "agent_a")
    ]
    assert log[0]["detail"]["session_id"] == s["id"] and log[0]["detail"]["at_message_id"] == 1


async def test_forks_share_the_creation_rate_limit(make_client: Any) -> None:
    """Forking counts against the address's session creations: past the budget it is
    429 `rate_limited` with a Retry-After, and no session is made."""
    hub_client: HubClient = await make_client(
        session_creations_per_minute=3, trusted_proxies="127.0.0.1"
    )
    address = fresh_address()

    async def post(path: str, token: str | None, body: Json) -> tuple[int, Any, Any]:
        headers = {"Content-Type": "application/json", "X-Forwarded-For": address}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with hub_client.http.post(
            hub_client.base + path, data=msgspec.json.encode(body), headers=headers
        ) as resp:
            return resp.status, msgspec.json.decode(await resp.read()), resp.headers

    status, created, _ = await post("/api/sessions", None, {})
    assert status == 201
    sid, token = created["session"]["id"], created["agent_token"]
    for _ in range(2):
        assert (await post(f"/api/sessions/{sid}/fork", token, {}))[0] == 201
    status, body, headers = await post(f"/api/sessions/{sid}/fork", token, {})
    assert (status, body["code"]) == (429, "rate_limited") and int(headers["Retry-After"]) >= 1
    assert (await post("/api/sessions", None, {}))[0] == 429
    page = await call_ok(hub_client, "GET", f"/api/sessions/{sid}/forks", token)
    assert len(page["forks"]) == 2


async def test_a_fork_stays_in_the_space_only_for_a_forker_who_may_create_there(
    client: HubClient,
) -> None:
    """A verified agent whose owner is a member of the original's space forks into that
    space (verified, as the same profile); agent B, unverified, forks into no space; once
    the owner is only a viewer, or the space is archived, agent A's forks go in none."""
    ada = await person(client)
    bob = await person(client)
    space = await new_space(client, ada)
    assert (await add(client, ada, space["slug"], await username(client, bob), "member"))[0] == 201
    agent = await new_agent(client, bob)
    key = (await agent_key(client, bob, agent["slug"]))["token"]
    status, created = await client.call(
        "POST", "/api/sessions", token=key, json={"workspace_id": space["slug"]}
    )
    assert status == 201, created
    sid, a = created["session"]["id"], created["agent_token"]
    status, joined = await client.join(created["invite_code"], agent_id="bee")
    assert status == 201
    status, made = await fork(client, sid, a)
    assert status == 201, made
    forked = made["session"]
    assert forked["workspace_id"] == space["id"] and forked["agent_a_id"] == agent["slug"]
    assert forked["agent_a_verified"] and forked["agent_a_profile"] == agent["slug"]
    status, made = await fork(client, sid, joined["token"])
    assert status == 201 and made["session"]["workspace_id"] is None
    assert not made["session"]["agent_a_verified"]
    assert (await add(client, ada, space["slug"], await username(client, bob), "viewer"))[0] == 200
    status, made = await fork(client, sid, a)
    assert status == 201 and made["session"]["workspace_id"] is None
    assert (await add(client, ada, space["slug"], await username(client, bob), "member"))[0] == 200
    status, _ = await client.call(
        "PATCH", f"/api/spaces/{space['slug']}", token=ada, json={"archived": True}
    )
    assert status == 200
    status, made = await fork(client, sid, a)
    assert status == 201 and made["session"]["workspace_id"] is None


async def test_a_fork_is_one_moment_while_the_original_is_written(client: HubClient) -> None:
    """Writers each send message i, then edit their note to i, then write their file
    to i, then update their artifact to i, over and over, while forks are taken at the
    original's last message: every fork holds exactly messages 1..N of the original and,
    for each writer whose last message there is i, a note, file and artifact from one
    moment of that writer's sequence (artifact ≤ file ≤ note ≤ i, all ≥ i - 1): never a
    later file beside an earlier note, nor a later artifact beside an earlier file."""
    s = await client.session_with_b()
    sid, a = s["id"], s["a"]
    writers, rounds = 3, 12
    notes = [await save_note(client, sid, a, None, "0", title=f"w{k}") for k in range(writers)]
    for k in range(writers):
        await write(client, sid, a, f"w{k}.txt", "0")
    await send(client, sid, a, "start")
    arts = [
        await call_ok(
            client,
            "POST",
            f"/api/sessions/{sid}/artifacts",
            a,
            {"message_id": 1, "title": f"w{k}", "data": {"kind": "json", "value": {"i": 0}}},
        )
        for k in range(writers)
    ]

    async def writer(k: int) -> None:
        note, art = notes[k], arts[k]
        token = s["a"] if k % 2 else s["b"]
        for i in range(1, rounds + 1):
            await send(client, sid, token, f"w{k}:{i}")
            note = await save_note(client, sid, token, note, str(i))
            await write(client, sid, token, f"w{k}.txt", str(i))
            art = await call_ok(
                client,
                "PUT",
                f"/api/sessions/{sid}/artifacts/{art['id']}",
                token,
                {"expected_version": art["version"], "data": {"kind": "json", "value": {"i": i}}},
            )

    async def forker() -> list[Json]:
        made = []
        for _ in range(10):
            status, forked = await fork(client, sid, s["a"] if len(made) % 2 else s["b"])
            assert status == 201, forked
            made.append(forked)
        return made

    results = await asyncio.gather(*(writer(k) for k in range(writers)), forker(), forker())
    forks: list[Json] = results[-1] + results[-2]
    original = await messages(client, sid, a)
    for made in forks:
        fid, token = made["session"]["id"], made["agent_token"]
        n = made["session"]["forked_at_message_id"]
        got = await messages(client, fid, token)
        assert got == original[:n]
        now = await state(client, fid, token)
        listed = await call_ok(client, "GET", f"/api/sessions/{fid}/artifacts", token)
        art_at = {x["title"]: x["data"]["value"]["i"] for x in listed["artifacts"]}
        for k in range(writers):
            sent = [
                int(m["content"].split(":")[1]) for m in got if m["content"].startswith(f"w{k}:")
            ]
            i = max(sent, default=0)
            note = int(now["notes"][f"w{k}"][1])
            file = int(now["files"][f"w{k}.txt"][1])
            art = art_at[f"w{k}"]
            assert max(i - 1, 0) <= art <= file <= note <= i, (n, k, i, note, file, art)
    assert len({made["session"]["forked_at_message_id"] for made in forks}) > 1


async def upload(client: HubClient, sid: str, token: str, data: bytes, name: str, mime: str) -> str:
    async with client.http.post(
        f"{client.base}/api/sessions/{sid}/attachments",
        data=data,
        params={"name": name},
        headers={"Authorization": f"Bearer {token}", "Content-Type": mime},
    ) as resp:
        created = await resp.json()
        assert resp.status == 201, created
        return str(created["id"])


async def download(client: HubClient, sid: str, token: str, path: str) -> tuple[int, bytes]:
    async with client.http.get(
        f"{client.base}/api/sessions/{sid}/attachments/{path}",
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, await resp.read()


async def uploads(client: HubClient, sid: str, token: str) -> Json:
    """The session's uploads by id (without the session), with their bytes."""
    page = await call_ok(client, "GET", f"/api/sessions/{sid}/attachments?limit=200", token)
    found = {}
    for a in page["attachments"]:
        status, data = await download(client, sid, token, f"{a['id']}/content")
        assert status == 200
        found[a["id"]] = ({k: v for k, v in a.items() if k != "session_id"}, data)
    return found


async def artifacts(client: HubClient, sid: str, token: str) -> Json:
    """The session's artifacts keyed by (message, title at creation order), each as it
    stands and with its versions (without ids)."""
    base = f"/api/sessions/{sid}/artifacts"
    page = await call_ok(client, "GET", f"{base}?limit=200", token)
    found = {}
    for i, art in enumerate(reversed(page["artifacts"])):
        listed = await call_ok(client, "GET", f"{base}/{art['id']}/versions?limit=200", token)
        history = []
        for v in listed["versions"]:
            one = await call_ok(client, "GET", f"{base}/{art['id']}/versions/{v['version']}", token)
            history.append({k: x for k, x in one.items() if k != "artifact_id"})
        fields = ("message_id", "kind", "title", "data", "size", "version", "creator")
        found[i] = ({k: art[k] for k in (*fields, "last_editor", "updated_at")}, history)
    return found


async def test_a_fork_carries_the_uploads_and_artifacts_of_its_messages(
    client: HubClient, database_url: str
) -> None:
    """Uploads named by messages or artifacts, and artifacts created and updated between
    messages: a fork at each N holds exactly the uploads its messages 1..N and its
    artifacts name (same ids, metadata and bytes; an unnamed upload and one first named
    after N stay behind), and each artifact of messages 1..N at its latest version
    written by N with the versions before it. The fork's blobs are rows of its own,
    counted in its quota, with no bytes copied; a fork of the fork still reads them, and
    the fork goes on writing its artifacts and uploading the same bytes."""
    s = await client.session_with_b()
    sid, a, b = s["id"], s["a"], s["b"]
    one = await upload(client, sid, a, b"one", "one.txt", "text/plain")
    pic = await upload(client, sid, b, png(8, 8), "pic.png", "image/png")
    pdb = await upload(client, sid, a, b"ATOM\nEND\n", "1abc.pdb", "chemical/x-pdb")
    again = await upload(client, sid, a, b"one", "again.txt", "text/plain")  # the same bytes
    late = await upload(client, sid, b, b"late", "late.txt", "text/plain")
    await upload(client, sid, a, b"never named", "unused.txt", "text/plain")
    expected: list[tuple[Json, Json]] = []  # (uploads, artifacts) after message n

    async def message(token: str, content: str, **more: Any) -> int:
        expected.append((await uploads(client, sid, a), await artifacts(client, sid, a)))
        return int((await send(client, sid, token, content, **more))["id"])

    async def artifact(token: str, message_id: int, title: str, data: Json) -> Json:
        body = {"message_id": message_id, "title": title, "data": data}
        return dict(await call_ok(client, "POST", f"/api/sessions/{sid}/artifacts", token, body))

    async def update(token: str, art: Json, data: Json) -> Json:
        url = f"/api/sessions/{sid}/artifacts/{art['id']}"
        body = {"expected_version": art["version"], "data": data}
        return dict(await call_ok(client, "PUT", url, token, body))

    def table(*rows: list[Any]) -> Json:
        return {"kind": "table", "columns": ["name", "score"], "rows": list(rows)}

    def scene(attachment_id: str) -> Json:
        return {"kind": "canvas3d", "structures": [{"id": "p", "attachment_id": attachment_id}]}

    m1 = await message(a, "see", attachment_ids=[one, pic])  # 1
    scores = await artifact(a, m1, "Scores", table(["x", 1]))
    m2 = await message(b, "a scene")  # 2
    view = await artifact(b, m2, "Scene", scene(pdb))
    scores = await update(b, scores, table(["x", 1], ["y", 2]))
    m3 = await message(a, "late and again", attachment_ids=[late, again])  # 3
    scores = await update(a, scores, table(["a much longer row name", 3]))
    await update(a, view, scene(pdb))
    await artifact(a, m3, "Picture", {"kind": "image", "attachment_id": pic})
    await message(b, "done")  # 4
    await update(b, scores, table())
    expected.append((await uploads(client, sid, a), await artifacts(client, sid, a)))
    named = [set(), {one, pic}, {one, pic, pdb}, {one, pic, pdb, late, again}]
    named.append(named[3])
    named.append(named[3])

    db = await asyncpg.connect(database_url)
    try:
        for n in range(5):
            status, made = await fork(client, sid, a if n % 2 else b, at_message_id=n)
            assert status == 201, made
            fid, token = made["session"]["id"], made["agent_token"]
            carried = await uploads(client, fid, token)
            everything = expected[-1][0]
            assert carried == {i: everything[i] for i in named[n]}, n
            assert await artifacts(client, fid, token) == expected[n][1], n
            status, _ = await download(client, fid, token, f"{pic}/thumbnail")
            assert status == (200 if pic in named[n] else 404)
            row = await db.fetchrow(
                """SELECT (SELECT count(*) FROM attachment_chunks WHERE session_id = $1) AS chunks,
                          (SELECT bytes FROM attachment_usage WHERE session_id = $1) AS used""",
                fid,
            )
            sizes = {carried[i][0]["sha256"]: carried[i][0]["size"] for i in carried}
            assert (row["chunks"], row["used"]) == (0, sum(sizes.values()) or None), n
    finally:
        await db.close()

    listed = await call_ok(client, "GET", f"/api/sessions/{fid}/artifacts", token)
    scores_fork, view_fork, _ = sorted(listed["artifacts"], key=lambda x: int(x["id"]))
    assert scores_fork["title"] == "Scores" and scores_fork["id"] != scores["id"]
    edited = await call_ok(
        client,
        "PUT",
        f"/api/sessions/{fid}/artifacts/{scores_fork['id']}",
        token,
        {"expected_version": scores_fork["version"], "data": table(["fork", 9])},
    )
    assert edited["version"] == scores_fork["version"] + 1
    assert view_fork["data"]["structures"][0]["attachment_id"] == pdb
    same = await upload(client, fid, token, b"ATOM\nEND\n", "copy.pdb", "chemical/x-pdb")
    assert (await download(client, fid, token, f"{same}/content")) == (200, b"ATOM\nEND\n")
    status, grandchild = await fork(client, fid, token)
    assert status == 201
    gid, gtoken = grandchild["session"]["id"], grandchild["agent_token"]
    assert (await download(client, gid, gtoken, f"{late}/content")) == (200, b"late")
    status, body = await client.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=a,
        json={"client_msg_id": "x", "content": "x", "attachment_ids": [same]},
    )
    assert (status, body["code"]) == (400, "bad_request")  # the fork's upload is not the origin's


async def test_fork_by_sdk_and_cli(
    hub_server: TestServer, client: HubClient, tmp_path: Path
) -> None:
    """`HubAPI.fork` and `forks`, and `hub session fork SESSION --at N` (prints the fork's
    credentials like `hub session create`) and `hub session forks SESSION`; an observer's
    token is a one-line `forbidden`, N past the end a `bad_request`."""
    url = base_url(hub_server)
    s = await client.session_with_b()
    sid = s["id"]
    for word in ("one", "two"):
        await send(client, sid, s["a"], word)
    async with HubAPI(client.base) as api:
        made = await api.fork(sid, s["b"], at_message_id=1, name="Side")
        assert made.session.forked_from == sid and made.session.forked_at_message_id == 1
        assert made.session.name == "Side" and made.participant_id == "bee"
        assert [m.content async for m in api.all_messages(made.session.id, made.agent_token)] == [
            "one"
        ]
        page = await api.forks(sid, s["obs"])
        assert [f.id for f in page.forks] == [made.session.id] and page.next is None
        try:
            await api.fork(sid, s["obs"])
            raise AssertionError("an observer forked")
        except HubClientError as exc:
            assert exc.code == "forbidden"
        try:
            await api.fork(sid, s["a"], at_message_id=3)
            raise AssertionError("forked past the end")
        except HubClientError as exc:
            assert exc.code == "bad_request"

    (tmp_path / "token").write_text(s["a"])
    auth = ("--url", url, "--token-file", str(tmp_path / "token"))
    code, out, err = await hub("session", "fork", sid, "--at", "2", *auth)
    assert code == 0, err
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["forked from"].strip() == f"{sid} at message #2"
    fid, token = lines["session"].strip(), lines["agent token"].strip()
    assert token.startswith("agt_") and lines["invite code"].strip()
    assert [m["content"] for m in await messages(client, fid, token)] == ["one", "two"]
    code, out, err = await hub("session", "forks", sid, *auth)
    assert code == 0, err
    assert [line.split()[:3] for line in out.splitlines()] == [
        [fid, "at", "#2"],
        [made.session.id, "at", "#1"],
    ]
    (tmp_path / "obs").write_text(s["obs"])
    code, out, err = await hub(
        "session", "fork", sid, "--url", url, "--token-file", str(tmp_path / "obs")
    )
    assert code == 1 and err.startswith("hub: forbidden:"), err
    code, out, err = await hub("session", "fork", sid, "--at", "9", *auth)
    assert code == 1 and err.startswith("hub: bad_request:"), err
