"""The websocket: hello, ordered live delivery, resume, idempotency, notes, presence."""

import asyncio
from typing import Any

import asyncpg
import msgspec

from tests.helpers import HubClient, Peer
from tests.web.test_streams import stream_text


async def test_hello_describes_the_connection(client: HubClient) -> None:
    """hello carries who you are, the session, last id, heartbeat, presence, notes, files."""
    s = await client.session_with_b()
    await client.call(
        "PUT", f"/api/sessions/{s['id']}/files/a.txt", token=s["a"], json={"content": "A"}
    )
    await client.call(
        "POST",
        f"/api/sessions/{s['id']}/messages",
        token=s["a"],
        json={"client_msg_id": "x", "content": "first"},
    )
    b = await client.connect(s["b"])
    hello = b.frames[0]
    assert hello["type"] == "hello"
    assert hello["you"] == {
        "participant_id": "bee",
        "role": "agent_b",
        "display_name": None,
        "watch_only": False,
    }
    assert hello["session"]["id"] == s["id"] and hello["last_message_id"] == 1
    assert hello["heartbeat_interval"] > 0
    assert [f["path"] for f in hello["files"]] == ["a.txt"]
    assert b.frames[1] == {"type": "resumed", "last_message_id": 1}


async def test_hello_says_what_rest_says(client: HubClient) -> None:
    """hello's session, notes, files and presence are exactly what REST returns."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}"
    for title in ("plan", "log"):
        note = {"title": title, "content": title, "expected_version": 0}
        assert (await client.call("POST", f"{base}/notes", token=s["a"], json=note))[0] == 201
    for path in ("b/z.txt", "a.txt"):
        await client.call("PUT", f"{base}/files/{path}", token=s["a"], json={"content": path})
    a = await client.connect(s["a"])
    hello = (await client.connect(s["b"])).frames[0]
    rest = {
        key: (await client.call("GET", base + suffix, token=s["b"]))[1]
        for key, suffix in (("session", ""), ("notes", "/notes"), ("files", "/files"))
    }
    assert hello["session"] == rest["session"]
    summaries = [
        {k: n[k] for k in ("id", "title", "version", "last_editor", "updated_at")}
        | {"size": len(n["content"])}
        for n in rest["notes"]["notes"]
    ]
    assert hello["notes"] == summaries and len(hello["notes"]) == 2
    assert hello["files"] == rest["files"]["files"]
    assert [f["path"] for f in hello["files"]] == ["a.txt", "b/z.txt"]
    me = a.frames[0]["you"]["participant_id"]
    assert {p["participant_id"]: p["status"] for p in hello["presence"]}[me] == "online"


async def test_hello_stays_small_with_many_notes(client: HubClient, database_url: str) -> None:
    """With 2,000 notes of 2 KB, hello lists each note without its content and stays far
    under 512 KiB; a note's content is read on demand."""
    s = await client.session_with_b()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO notes (session_id, title, content, last_editor)"
            " SELECT $1, 'Note ' || n, repeat('x', 2000), 'planner'"
            " FROM generate_series(1, 2000) AS n",
            s["id"],
        )
    finally:
        await conn.close()
    b = await client.connect(s["b"])
    hello = b.frames[0]
    size = len(msgspec.json.encode(hello))
    assert len(hello["notes"]) == 2000 and size < 400 * 1024, size
    assert "content" not in hello["notes"][0] and hello["notes"][0]["size"] == 2000
    status, note = await client.call(
        "GET", f"/api/sessions/{s['id']}/notes/{hello['notes'][0]['id']}", token=s["b"]
    )
    assert status == 200 and note["content"] == "x" * 2000


async def test_bad_token_closes_with_4001(client: HubClient) -> None:
    """A missing or unknown token gets one `unauthorized` error, then close 4001."""
    for token in (None, "agt_unknownunknownunknownunknown00"):
        peer = await client.connect(token, hello=False)
        assert await peer.closed() == 4001
        assert [(f["type"], f["code"]) for f in peer.frames] == [("error", "unauthorized")]


async def test_ack_means_committed(client: HubClient, database_url: str) -> None:
    """When the ack arrives, the message is already in PostgreSQL."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    conn = await asyncpg.connect(database_url)
    try:
        for i in range(5):
            ack = await a.say(f"m{i}")
            row = await conn.fetchrow(
                "SELECT content FROM messages WHERE session_id = $1 AND id = $2",
                s["id"],
                ack["message"]["id"],
            )
            assert row is not None and row["content"] == f"m{i}"
    finally:
        await conn.close()


async def test_concurrent_senders_see_one_gap_free_order(client: HubClient) -> None:
    """A and B send 150 messages each at once; everyone sees ids 1..300, in order, once."""
    s = await client.session_with_b()
    a, b, obs = [await client.connect(s[k]) for k in ("a", "b", "obs")]
    n = 150

    async def blast(peer: Peer, who: str) -> None:
        for i in range(n):
            await peer.send({"type": "send", "client_msg_id": f"{who}{i}", "content": f"{who}{i}"})

    await asyncio.gather(blast(a, "a"), blast(b, "b"))
    for peer in (a, b, obs):
        await peer.wait(lambda p=peer: len(p.message_ids()) >= 2 * n)
        assert peer.message_ids() == list(range(1, 2 * n + 1))
    contents = [
        [f["message"]["content"] for f in p.frames if f["type"] == "message"] for p in (a, b, obs)
    ]
    assert contents[0] == contents[1] == contents[2]
    # each sender's own messages keep the order it sent them in
    assert [c for c in contents[0] if c.startswith("a")] == [f"a{i}" for i in range(n)]
    acks = await a.wait(
        lambda: (
            [f for f in a.frames if f["type"] == "ack"][n - 1 :]
            and [f for f in a.frames if f["type"] == "ack"]
        )
    )
    assert len(acks) == n and all(not f["duplicate"] for f in acks)


async def test_retry_with_same_client_msg_id_is_one_message(client: HubClient) -> None:
    """Re-sending a client_msg_id acks the original and delivers nothing new."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    first = await a.request({"type": "send", "client_msg_id": "once", "content": "hello"})
    again = await a.request({"type": "send", "client_msg_id": "once", "content": "hello?"})
    assert again["duplicate"] is True and again["message"] == first["message"]
    after = await a.say("next")
    assert after["message"]["id"] == first["message"]["id"] + 1
    await b.wait(lambda: len(b.message_ids()) == 2)
    assert b.message_ids() == [1, 2]


async def test_resume_with_since_has_no_gap_and_no_duplicate(client: HubClient) -> None:
    """An observer that keeps reconnecting with since=<last seen> while A keeps sending
    ends with every id exactly once, in order, with `resumed` after each catch-up."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    total = 300
    done = asyncio.Event()

    async def keep_sending() -> None:
        for i in range(total):
            frame = {"type": "send", "client_msg_id": f"k{i}", "content": str(i)}
            if i % 10 == 9:
                await a.request(frame)  # pace the sender so reconnects interleave
            else:
                await a.send(frame)
        done.set()

    sender = asyncio.create_task(keep_sending())
    seen: list[int] = []
    reconnects = 0
    while seen[-1:] != [total]:  # (the last message may reach obs before `done` is set)
        obs = await client.connect(s["obs"], since=seen[-1] if seen else 0)
        await obs.wait(lambda o=obs: len(o.message_ids()) >= 7 or total in o.message_ids())
        if done.is_set():
            await obs.wait(lambda o=obs, seen=seen: (seen + o.message_ids())[-1:] == [total])
        types = [f["type"] for f in obs.frames]
        assert types[:1] == ["hello"] and "resumed" in types
        await obs.close()
        seen += obs.message_ids()
        reconnects += 1
    await sender
    assert seen == list(range(1, total + 1))
    assert reconnects > 3


async def test_resume_has_no_gap_with_streams_and_approvals_in_flight(client: HubClient) -> None:
    """The resume test with streams and approvals in flight: while A keeps sending, B
    streams message after message and asks for approvals that A decides, and an observer
    keeps reconnecting with since=<last seen>. It ends with every id exactly once, in
    order (streams' commits, requests and decisions among them); each request has one
    decision replying to it; each catch-up brings the open stream's text so far, which
    with that connection's deltas is a prefix of what the stream commits."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    rounds, deltas = 5, 30
    requests: list[int] = []

    async def agent_a() -> None:
        for i in range(150):
            frame = {"type": "send", "client_msg_id": f"a{i}", "content": str(i)}
            if i % 10 == 9:
                assert (await a.request(frame))["type"] == "ack"
            else:
                await a.send(frame)

    async def agent_b() -> None:
        for r in range(rounds):
            sid = f"s{r}"
            assert (await b.request({"type": "stream_start", "stream_id": sid}))["type"] == "ack"
            for j in range(deltas):
                frame = {"type": "stream_delta", "stream_id": sid, "text": f"{r}.{j} "}
                if j % 5 == 4:
                    assert (await b.request(frame))["type"] == "ack"
                else:
                    await b.send(frame)
                if j == 5:  # an approval asked, pending for a while, decided mid-stream
                    asked = await b.request(
                        {
                            "type": "send",
                            "client_msg_id": f"ask{r}",
                            "content": f"step {r}",
                            "msg_type": "action",
                            "metadata": {"approval": {"description": f"Run step {r}"}},
                        }
                    )
                    requests.append(asked["message"]["id"])
                elif j == 25:
                    decided = await a.request(
                        {"type": "decide", "message_id": requests[-1], "decision": "approved"}
                    )
                    assert decided["type"] == "ack", decided
            end = {"type": "stream_end", "stream_id": sid, "client_msg_id": sid}
            assert (await b.request(end))["type"] == "ack"

    last: list[int] = []

    async def agents() -> None:
        await asyncio.gather(agent_a(), agent_b())
        last.append((await a.say("the end"))["message"]["id"])

    writers = asyncio.create_task(agents())
    seen: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    caught_up_mid_stream = 0

    def the_end(peer: Peer) -> bool:
        return any(
            f["type"] == "message" and f["message"]["content"] == "the end" for f in peer.frames
        )

    while not (order and seen[order[-1]]["content"] == "the end"):
        obs = await client.connect(s["obs"], since=order[-1] if order else 0)
        try:
            await obs.wait(lambda o=obs: len(o.message_ids()) >= 7 or the_end(o))
        finally:
            if writers.done():
                writers.result()  # a writer's failure shows here
        types = [f["type"] for f in obs.frames]
        resumed_at = types.index("resumed")
        before = types[1:resumed_at]  # the history, then the open streams' text so far
        caught = before.count("stream_started")
        assert (
            types[0] == "hello"
            and before == ["message"] * (len(before) - caught) + ["stream_started"] * caught
        ), before
        caught_up_mid_stream += caught
        await obs.close()
        for f in obs.frames:
            if f["type"] == "message":
                order.append(f["message"]["id"])
                seen[f["message"]["id"]] = f["message"]
        for f in obs.frames:  # each stream's text, as this connection built it
            if f["type"] == "stream_started":
                sid = f["stream"]["id"]
                whole = "".join(f"{sid[1:]}.{j} " for j in range(deltas))
                text = stream_text(obs, sid)
                assert text is not None and whole.startswith(text), (sid, text)
    await writers
    end = last[0]
    assert order == list(range(1, end + 1)), "every id once, in order, across resumes"
    assert caught_up_mid_stream > 0, "some resume came while a stream was open"
    committed = [
        m["content"]
        for m in seen.values()
        if m.get("client_msg_id", "") in {f"s{r}" for r in range(rounds)}
    ]
    assert committed == ["".join(f"{r}.{j} " for j in range(deltas)) for r in range(rounds)]
    assert len(requests) == rounds
    for request in requests:
        decisions = [m for m in seen.values() if m["parent_id"] == request]
        assert len(decisions) == 1 and decisions[0]["msg_type"] == "system", decisions
    await b.wait(lambda: sum(f["type"] == "approval" for f in b.frames) == rounds)


async def test_resume_marker_separates_history_from_live(client: HubClient) -> None:
    """History after `since` comes before `resumed`; live messages after it."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    for i in range(5):
        await a.say(f"old{i}")
    obs = await client.connect(s["obs"], since=2)
    await a.say("live")
    await obs.wait(lambda: 6 in obs.message_ids())
    types = [
        (f["type"], f.get("message", {}).get("id"))
        for f in obs.frames
        if f["type"] in ("message", "resumed")
    ]
    assert types == [
        ("message", 3),
        ("message", 4),
        ("message", 5),
        ("resumed", None),
        ("message", 6),
    ]


async def test_concurrent_note_editors_exactly_one_wins(client: HubClient) -> None:
    """Eight editors of one note version: one ack, seven conflicts carrying the winner."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    created = await a.request(
        {"type": "update_note", "title": "Plan", "content": "v1", "expected_version": 0}
    )
    note_id = created["note"]["id"]
    editors = [await client.connect(s[k]) for k in ("a", "b", "obs", "a", "b", "obs", "a", "b")]
    answers = await asyncio.gather(
        *(
            e.request(
                {
                    "type": "update_note",
                    "note_id": note_id,
                    "content": f"edit {i}",
                    "expected_version": 1,
                }
            )
            for i, e in enumerate(editors)
        )
    )
    wins = [x for x in answers if x["type"] == "ack"]
    losses = [x for x in answers if x["type"] == "error"]
    assert len(wins) == 1 and len(losses) == 7
    winner = wins[0]["note"]
    assert winner["version"] == 2
    assert all(x["code"] == "conflict" and x["note"] == winner for x in losses)
    await a.wait(lambda: any(f["type"] == "note" and f["note"]["version"] == 2 for f in a.frames))


async def test_capabilities_over_the_websocket(client: HubClient) -> None:
    """Observers chat and edit notes but cannot post typed messages or write files."""
    s = await client.session_with_b()
    obs = await client.connect(s["obs"])
    assert (await obs.say("hi from a human"))["type"] == "ack"
    denied = await obs.say("take over", msg_type="handoff")
    assert (denied["type"], denied["code"]) == ("error", "forbidden")
    denied = await obs.request({"type": "write_file", "path": "x.txt", "content": "x"})
    assert (denied["type"], denied["code"]) == ("error", "forbidden")
    note = await obs.request({"type": "update_note", "content": "n", "expected_version": 0})
    assert note["type"] == "ack"
    here = await obs.request({"type": "set_presence", "status": "idle", "activity": "reading"})
    assert here["type"] == "ack" and here["presence"]["role"] == "observer"
    b = await client.connect(s["b"])
    written = await b.request({"type": "write_file", "path": "x.txt", "content": "x"})
    assert written["type"] == "ack" and written["file"]["path"] == "x.txt"
    await obs.wait(lambda: any(f["type"] == "file" for f in obs.frames))


async def test_bad_frames_get_errors_and_the_connection_survives(client: HubClient) -> None:
    """Garbage, unknown types and wrong fields each get a typed error; nothing breaks."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    await a.ws.send_str("{not json")
    await a.ws.send_str('{"type":"teleport","ref":"t1"}')
    await a.ws.send_str('{"type":"send","ref":"t2","client_msg_id":"c","content":42}')
    await a.ws.send_str(
        '{"type":"update_note","ref":"t3","note_id":"x","content":"","expected_version":0}'
    )
    await a.ws.send_bytes(b"\x00\x01binary")
    errors = await a.wait(
        lambda: (
            [f for f in a.frames if f["type"] == "error"][4:]
            and [f for f in a.frames if f["type"] == "error"]
        )
    )
    assert [(e["code"], e.get("ref")) for e in errors] == [
        ("bad_request", None),
        ("unknown_frame", "t1"),
        ("bad_request", "t2"),
        ("bad_request", "t3"),
        ("bad_request", None),
    ]
    pong = await a.request({"type": "ping"})
    assert pong["type"] == "pong"
    assert (await a.say("still here"))["message"]["id"] == 1


async def test_reply_to_unknown_parent_is_refused(client: HubClient) -> None:
    """parent_id must name an earlier message of the session."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    assert (await a.say("root"))["message"]["id"] == 1
    reply = await a.say("reply", parent_id=1)
    assert reply["message"]["parent_id"] == 1
    bad = await a.say("orphan", parent_id=50)
    assert (bad["type"], bad["code"]) == ("error", "bad_request")


async def test_oversized_frame_closes_with_1009(client: HubClient) -> None:
    """A frame over the size limit closes that connection with 1009; others carry on."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    await a.ws.send_str('{"type":"ping","ref":"' + "x" * (300 * 1024) + '"}')
    assert await a.closed() == 1009
    assert (await b.say("fine"))["type"] == "ack"


async def test_presence_follows_connections(client: HubClient) -> None:
    """A participant is online while connected, shows what it set, offline when gone."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    b = await client.connect(s["b"])

    def presence_of(pid: str, status: str) -> object:
        return [
            f
            for f in a.frames
            if f["type"] == "presence"
            and f["presence"]["participant_id"] == pid
            and f["presence"]["status"] == status
        ]

    await a.wait(lambda: presence_of("bee", "online"))
    ack = await b.request({"type": "set_presence", "status": "working", "activity": "tests"})
    assert ack["presence"]["status"] == "working"
    await a.wait(lambda: presence_of("bee", "working"))
    _, listed = await client.call("GET", f"/api/sessions/{s['id']}/presence", token=s["obs"])
    bee = next(p for p in listed["presence"] if p["participant_id"] == "bee")
    assert (bee["status"], bee["activity"]) == ("working", "tests")
    await b.close()
    await a.wait(lambda: presence_of("bee", "offline"))
    _status, listed = await client.call("GET", f"/api/sessions/{s['id']}/presence", token=s["obs"])
    assert (
        next(p for p in listed["presence"] if p["participant_id"] == "bee")["status"] == "offline"
    )


async def test_two_connections_of_one_participant(client: HubClient) -> None:
    """Presence goes offline only when the participant's last connection drops."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    b1, b2 = await client.connect(s["b"]), await client.connect(s["b"])
    await b1.close()
    await a.say("marker")
    await b2.wait(lambda: 1 in b2.message_ids())
    assert not [
        f for f in a.frames if f["type"] == "presence" and f["presence"]["status"] == "offline"
    ]
    await b2.close()
    await a.wait(
        lambda: [
            f for f in a.frames if f["type"] == "presence" and f["presence"]["status"] == "offline"
        ]
    )


async def test_deleting_a_session_closes_its_connections(client: HubClient) -> None:
    """Live connections get the deletion event and close 4004; new ones are refused."""
    s = await client.session_with_b()
    b, obs = await client.connect(s["b"]), await client.connect(s["obs"])
    assert (await client.call("DELETE", f"/api/sessions/{s['id']}", token=s["a"]))[0] == 204
    for peer in (b, obs):
        assert await peer.closed() == 4004
        assert any(f["type"] == "session" and f["deleted"] for f in peer.frames)
    late = await client.connect(s["a"], hello=False)
    assert await late.closed() == 4004


async def test_status_change_reaches_everyone(client: HubClient) -> None:
    """Pausing over REST shows up live as a session event."""
    s = await client.session_with_b()
    obs = await client.connect(s["obs"])
    await client.call("PATCH", f"/api/sessions/{s['id']}", token=s["b"], json={"status": "paused"})
    event = await obs.next("session")
    assert event["session"]["status"] == "paused"


async def test_first_chat_message_renames_live(client: HubClient) -> None:
    """An unnamed session is renamed from its first chat message, announced live."""
    s = await client.session_with_b()
    obs = await client.connect(s["obs"])
    a = await client.connect(s["a"])
    await a.say("Refactor the parser\nDetails follow")
    event = await obs.next("session")
    assert event["session"]["name"] == "Refactor the parser"


async def test_bad_since_is_refused(client: HubClient) -> None:
    """since must be a non-negative integer."""
    s = await client.session_with_b()
    status, body = await client.call("GET", "/ws", token=s["a"], params={"since": "-1"})
    assert (status, body["code"]) == (400, "bad_request")
