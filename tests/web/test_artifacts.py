"""Artifacts over real HTTP and PostgreSQL: created on a message of the session (or with
a new one, idempotently), validated per kind with nothing stored on a refusal, updated
under optimistic locking (a stale update gets `conflict` with the current artifact; of
concurrent updates at one version exactly one wins), every version kept, the gallery
filtered by kind and keyset paginated, capability rules, and the live event."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from tests.helpers import HubClient

PDB = b"ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\nEND\n"


def pipeline(*edges: tuple[str, str], nodes: str = "abc") -> dict[str, Any]:
    return {
        "kind": "pipeline",
        "nodes": [{"id": n, "type": "step", "label": n.upper()} for n in nodes],
        "edges": [{"source": s, "target": t} for s, t in edges],
    }


def table(*rows: list[Any]) -> dict[str, Any]:
    return {"kind": "table", "columns": ["name", "score"], "rows": list(rows)}


async def say(client: HubClient, s: dict[str, Any], text: str, token: str | None = None) -> int:
    status, sent = await client.call(
        "POST",
        f"/api/sessions/{s['id']}/messages",
        token=token or s["a"],
        json={"client_msg_id": text, "content": text},
    )
    assert status == 201, sent
    return int(sent["message"]["id"])


async def upload(client: HubClient, s: dict[str, Any], data: bytes, name: str, mime: str) -> str:
    async with client.http.post(
        f"{client.base}/api/sessions/{s['id']}/attachments",
        data=data,
        params={"name": name},
        headers={"Authorization": f"Bearer {s['a']}", "Content-Type": mime},
    ) as resp:
        created = await resp.json()
        assert resp.status == 201, created
        return str(created["id"])


async def create(
    client: HubClient, s: dict[str, Any], token: str | None = None, **body: Any
) -> tuple[int, Any]:
    return await client.call(
        "POST", f"/api/sessions/{s['id']}/artifacts", token=token or s["a"], json=body
    )


@pytest.fixture
async def db(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def counts(db: asyncpg.Connection, session_id: str) -> tuple[int, int]:
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM artifacts WHERE session_id = $1) AS artifacts,
                  (SELECT count(*) FROM artifact_versions v JOIN artifacts a
                       ON a.id = v.artifact_id WHERE a.session_id = $1) AS versions""",
        session_id,
    )
    return row["artifacts"], row["versions"]


async def test_an_artifact_is_created_on_a_message_read_and_updated(client: HubClient) -> None:
    """Agent A attaches a pipeline to its message: the answer has version 1, the kind
    and the data as sent; an observer reads it; agent B updates it at version 1 to
    version 2; both versions are listed newest first and readable with their data."""
    s = await client.session_with_b()
    mid = await say(client, s, "plan")
    status, made = await create(
        client, s, title="Plan", message_id=mid, data=pipeline(("a", "b"), ("b", "c"))
    )
    assert status == 201, made
    assert (made["kind"], made["version"], made["message_id"]) == ("pipeline", 1, mid)
    assert made["data"]["edges"] == [
        {"source": "a", "target": "b", "label": None},
        {"source": "b", "target": "c", "label": None},
    ]
    author = (await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"]))[1]
    creator = author["messages"][0]["author_id"]
    assert (made["creator"], made["last_editor"]) == (creator, creator)
    base = f"/api/sessions/{s['id']}/artifacts/{made['id']}"
    status, read = await client.call("GET", base, token=s["obs"])
    assert status == 200 and read == made

    status, updated = await client.call(
        "PUT",
        base,
        token=s["b"],
        json={"expected_version": 1, "title": "Plan v2", "data": pipeline(("a", "c"))},
    )
    assert status == 200, updated
    assert (updated["version"], updated["title"], updated["last_editor"]) == (2, "Plan v2", "bee")
    assert updated["creator"] == made["creator"]

    status, page = await client.call("GET", base + "/versions", token=s["obs"])
    assert status == 200
    assert [(v["version"], v["title"]) for v in page["versions"]] == [(2, "Plan v2"), (1, "Plan")]
    assert page["next_before"] is None
    status, first = await client.call("GET", base + "/versions/1", token=s["obs"])
    assert status == 200 and first["data"] == made["data"]
    status, _ = await client.call("GET", base + "/versions/3", token=s["obs"])
    assert status == 404


async def test_invalid_artifacts_are_refused_and_nothing_is_stored(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A cyclic pipeline, a dangling edge, a ragged table, a message the session does
    not have, another session's attachment and an unknown kind are each refused with
    `bad_request` naming the fault; nothing is stored."""
    s, other = await client.session_with_b(), await client.session_with_b()
    mid = await say(client, s, "results")
    foreign = await upload(client, other, b"\x89PNG not really", "x.png", "image/png")
    cases = [
        (pipeline(("a", "b"), ("b", "a")), mid, "cycle: a -> b -> a"),
        (pipeline(("a", "x")), mid, "no node of the pipeline: 'x'"),
        (table(["a", 1], ["b"]), mid, "row 1 has 1 cells"),
        (table(["a", 1]), mid + 1, f"no message {mid + 1} in this session"),
        ({"kind": "image", "attachment_id": foreign}, mid, "not this session's: " + foreign),
        ({"kind": "hologram"}, mid, "hologram"),
    ]
    for data, message_id, needle in cases:
        status, err = await create(client, s, title="bad", message_id=message_id, data=data)
        assert status == 400 and err["code"] == "bad_request", err
        assert needle in err["message"], err
    assert await counts(db, s["id"]) == (0, 0)


async def test_a_json_artifact_may_hold_a_number_or_any_json_value(client: HubClient) -> None:
    """A `json` artifact whose `value` is a number, a string, a boolean or null is made
    and read back as given."""
    s = await client.session_with_b()
    mid = await say(client, s, "results")
    for value in (42, 0.5, "done", True, None, [1, 2]):
        status, made = await create(
            client, s, title="scalar", message_id=mid, data={"kind": "json", "value": value}
        )
        assert status == 201, made
        status, got = await client.call(
            "GET", f"/api/sessions/{s['id']}/artifacts/{made['id']}", token=s["b"]
        )
        assert status == 200 and got["data"] == {"kind": "json", "value": value}


async def test_an_artifact_references_attachments_of_its_session(client: HubClient) -> None:
    """A scene on an uploaded PDB file and an image on an uploaded picture are
    accepted; updating the scene to name another session's upload is refused."""
    s, other = await client.session_with_b(), await client.session_with_b()
    mid = await say(client, s, "structure")
    pdb = await upload(client, s, PDB, "1abc.pdb", "chemical/x-pdb")
    foreign = await upload(client, other, PDB, "1abc.pdb", "chemical/x-pdb")
    scene = {
        "kind": "canvas3d",
        "structures": [{"id": "p", "attachment_id": pdb, "format": "pdb"}],
        "representations": [{"structure": "p", "style": "stick"}],
    }
    status, made = await create(client, s, title="Scene", message_id=mid, data=scene)
    assert status == 201, made
    status, image = await create(
        client,
        s,
        title="Pic",
        message_id=mid,
        data={"kind": "image", "attachment_id": pdb, "caption": "c"},
    )
    assert status == 201, image
    moved = {**scene, "structures": [{"id": "p", "attachment_id": foreign}]}
    status, err = await client.call(
        "PUT",
        f"/api/sessions/{s['id']}/artifacts/{made['id']}",
        token=s["a"],
        json={"expected_version": 1, "data": moved},
    )
    assert status == 400 and foreign in err["message"]


async def test_created_with_a_message_once_per_client_msg_id(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """An artifact created with a new message sends it and attaches to it; the same
    request again (a retry) returns the same artifact (200), and there is one message."""
    s = await client.session_with_b()
    body = {
        "title": "Scores",
        "data": table(["x", 1.5], ["y", None]),
        "message": {"client_msg_id": "m-1", "content": "the scores"},
    }
    status, made = await create(client, s, token=s["b"], **body)
    assert status == 201, made
    status, again = await create(client, s, token=s["b"], **body)
    assert status == 200 and again == made
    status, history = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    assert [m["id"] for m in history["messages"]] == [made["message_id"]]
    assert history["messages"][0]["content"] == "the scores"
    assert await counts(db, s["id"]) == (1, 1)


async def test_concurrent_retries_of_a_create_with_its_message_make_one(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Four copies of one create-with-message sent at once (a client retrying before
    the first answer): one message, one artifact; one answer 201, the others 200 with
    the same artifact."""
    s = await client.session_with_b()
    body = {
        "title": "Once",
        "data": table(["x", 1]),
        "message": {"client_msg_id": "race-1", "content": "once"},
    }
    answers = await asyncio.gather(*(create(client, s, **body) for _ in range(4)))
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201], answers
    assert len({a["id"] for _, a in answers}) == 1
    assert await counts(db, s["id"]) == (1, 1)
    status, history = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    assert status == 200 and len(history["messages"]) == 1


async def test_a_gallery_page_holds_at_most_a_mebibyte_of_data(client: HubClient) -> None:
    """Six artifacts of about 200 KB each: a page of up to 50 holds the newest five
    (their data under 1 MiB together) and names the next page, which holds the sixth;
    each artifact tells its `size`."""
    s = await client.session_with_b()
    mid = await say(client, s, "big")
    ids = []
    for n in range(6):
        data = {"kind": "json", "value": str(n) * 200_000}
        status, made = await create(client, s, title=f"B{n}", message_id=mid, data=data)
        assert status == 201, made
        assert made["size"] == len('{"kind":"json","value":""}') + 200_000
        ids.append(made["id"])
    url = f"/api/sessions/{s['id']}/artifacts"
    status, first = await client.call("GET", url, token=s["obs"])
    assert status == 200
    assert [a["id"] for a in first["artifacts"]] == ids[:0:-1]
    assert first["next_before"] == ids[1]
    _, second = await client.call(
        "GET", url, token=s["obs"], params={"before": first["next_before"]}
    )
    assert [a["id"] for a in second["artifacts"]] == [ids[0]]
    assert second["next_before"] is None


async def test_a_stale_update_gets_conflict_with_the_current_artifact(client: HubClient) -> None:
    """An update naming version 1 of an artifact at version 2 is refused with
    `conflict` carrying the current artifact; another kind's data is `bad_request`."""
    s = await client.session_with_b()
    mid = await say(client, s, "t")
    _, made = await create(client, s, title="T", message_id=mid, data=table(["a", 1]))
    url = f"/api/sessions/{s['id']}/artifacts/{made['id']}"
    status, current = await client.call(
        "PUT", url, token=s["a"], json={"expected_version": 1, "data": table(["b", 2])}
    )
    assert status == 200
    status, err = await client.call(
        "PUT", url, token=s["b"], json={"expected_version": 1, "data": table(["c", 3])}
    )
    assert status == 409 and err["code"] == "conflict"
    assert err["artifact"] == current
    status, err = await client.call(
        "PUT", url, token=s["a"], json={"expected_version": 2, "data": pipeline()}
    )
    assert status == 400 and "is a table, not a pipeline" in err["message"]


async def test_concurrent_updates_at_one_version_exactly_one_wins(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Eight clients update one artifact at version 1 at once: exactly one gets 200
    (version 2), seven get `conflict` carrying version 2; two versions are kept."""
    s = await client.session_with_b()
    mid = await say(client, s, "race")
    _, made = await create(client, s, title="R", message_id=mid, data=table(["a", 0]))
    url = f"/api/sessions/{s['id']}/artifacts/{made['id']}"

    async def update(n: int) -> tuple[int, Any]:
        token = s["a"] if n % 2 else s["b"]
        body = {"expected_version": 1, "data": table([f"w{n}", n])}
        return await client.call("PUT", url, token=token, json=body)

    answers = await asyncio.gather(*(update(n) for n in range(8)))
    wins = [a for status, a in answers if status == 200]
    conflicts = [a for status, a in answers if status == 409]
    assert len(wins) == 1 and len(conflicts) == 7, answers
    assert all(c["artifact"] == wins[0] for c in conflicts)
    assert wins[0]["version"] == 2
    assert await counts(db, s["id"]) == (1, 2)


async def test_the_gallery_filters_by_kind_and_pages_by_keyset(client: HubClient) -> None:
    """Five artifacts of two kinds: the gallery lists them newest first, two a page,
    following `next_before` to the end with none twice; `kind` keeps one kind; another
    session's gallery is empty."""
    s, other = await client.session_with_b(), await client.session_with_b()
    mid = await say(client, s, "many")
    ids = []
    for n in range(5):
        data = table([str(n), n]) if n % 2 == 0 else pipeline(("a", "b"))
        status, made = await create(client, s, title=f"A{n}", message_id=mid, data=data)
        assert status == 201
        ids.append(made["id"])
    url = f"/api/sessions/{s['id']}/artifacts"
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        status, page = await client.call("GET", url, token=s["obs"], params=params)
        assert status == 200 and len(page["artifacts"]) <= 2
        seen += [a["id"] for a in page["artifacts"]]
        if page["next_before"] is None:
            break
        params["before"] = page["next_before"]
    assert seen == ids[::-1]
    status, tables = await client.call("GET", url, token=s["obs"], params={"kind": "table"})
    assert [a["id"] for a in tables["artifacts"]] == [ids[4], ids[2], ids[0]]
    status, _ = await client.call("GET", url, token=s["obs"], params={"kind": "movie"})
    assert status == 400
    status, empty = await client.call(
        "GET", f"/api/sessions/{other['id']}/artifacts", token=other["a"]
    )
    assert status == 200 and empty["artifacts"] == []
    status, _ = await client.call("GET", f"{url}/{ids[0]}", token=other["a"])
    assert status == 403 or status == 404


async def test_agents_write_observers_and_watchers_read(client: HubClient) -> None:
    """The observer and a public session's watch-only passer-by read the gallery and
    an artifact, but creating or updating one is `forbidden` for both."""
    s = await client.session_with_b()
    mid = await say(client, s, "x")
    _, made = await create(client, s, title="T", message_id=mid, data=table(["a", 1]))
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"is_private": False}
    )
    assert status == 200
    status, passer = await client.call("POST", f"/api/sessions/{s['id']}/watch", json={})
    assert status == 201 and passer["watch_only"]
    url = f"/api/sessions/{s['id']}/artifacts"
    for token in (s["obs"], passer["token"]):
        status, listed = await client.call("GET", url, token=token)
        assert status == 200 and [a["id"] for a in listed["artifacts"]] == [made["id"]]
        status, err = await create(client, s, token=token, title="no", message_id=mid, data=table())
        assert status == 403 and err["code"] == "forbidden"
        status, err = await client.call(
            "PUT", f"{url}/{made['id']}", token=token, json={"expected_version": 1, "data": table()}
        )
        assert status == 403 and err["code"] == "forbidden"


async def test_artifacts_appear_live(client: HubClient) -> None:
    """An observer and agent B connected get one `artifact` event for a create and one
    for an update, each carrying the artifact as the writer's answer has it."""
    s = await client.session_with_b()
    observer, agent_b = await client.connect(s["obs"]), await client.connect(s["b"])
    mid = await say(client, s, "live")
    _, made = await create(client, s, title="L", message_id=mid, data=table(["a", 1]))
    for peer in (observer, agent_b):
        assert (await peer.next("artifact"))["artifact"] == made
    status, updated = await client.call(
        "PUT",
        f"/api/sessions/{s['id']}/artifacts/{made['id']}",
        token=s["a"],
        json={"expected_version": 1, "data": table(["b", 2])},
    )
    assert status == 200
    for peer in (observer, agent_b):
        assert (await peer.next("artifact"))["artifact"] == updated


async def test_a_completed_session_takes_no_artifacts(client: HubClient) -> None:
    """Once the session is completed, creating or updating an artifact is refused with
    `session_completed`; reading it still works."""
    s = await client.session_with_b()
    mid = await say(client, s, "done soon")
    _, made = await create(client, s, title="T", message_id=mid, data=table(["a", 1]))
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"status": "completed"}
    )
    assert status == 200
    status, err = await create(client, s, title="late", message_id=mid, data=table())
    assert (status, err["code"]) == (409, "session_completed")
    url = f"/api/sessions/{s['id']}/artifacts/{made['id']}"
    body = {"expected_version": 1, "data": table(["b", 2])}
    status, err = await client.call("PUT", url, token=s["a"], json=body)
    assert (status, err["code"]) == (409, "session_completed")
    status, read = await client.call("GET", url, token=s["obs"])
    assert status == 200 and read == made
