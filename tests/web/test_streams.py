"""Streams over the websocket: live deltas, coalescing, the commit, late joiners, errors,
limits, and the abort of a stream whose author went away (on both buses)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec

from tests.helpers import HubClient, Peer

TIMEOUT = 10.0


def stream_text(peer: Peer, stream_id: str) -> str | None:
    """The stream's text as a client builds it from what it received: the text of its
    `stream_started` (the text so far in a catch-up), then each delta's new part (a
    delta overlapping what it holds is trimmed by `offset`). None before it started."""
    text: str | None = None
    for f in peer.frames:
        if f["type"] == "stream_started" and f["stream"]["id"] == stream_id and text is None:
            text = f["text"]
        elif f["type"] == "stream_delta" and f["stream_id"] == stream_id and text is not None:
            assert f["offset"] <= len(text), f"a hole before {f}"
            text += f["text"][len(text) - f["offset"] :]
    return text


def ended(peer: Peer, stream_id: str) -> dict[str, Any] | None:
    for f in peer.frames:
        if f["type"] == "stream_ended" and f["stream_id"] == stream_id:
            return f
    return None


async def open_stream(peer: Peer, stream_id: str, **extra: Any) -> dict[str, Any]:
    answer = await peer.request({"type": "stream_start", "stream_id": stream_id, **extra})
    assert answer["type"] == "ack", answer
    return answer


async def test_a_stream_is_relayed_live_and_committed_as_one_message(client: HubClient) -> None:
    """Deltas reach everyone while the author writes; the end commits one ordinary
    message with the whole text, acked like a send, and announces it."""
    s = await client.session_with_b()
    a, b, obs = [await client.connect(s[k]) for k in ("a", "b", "obs")]
    started = await open_stream(a, "s1", msg_type="status")
    assert (
        started["stream"]["id"] == "s1"
        and started["stream"]["author_id"] == a.frames[0]["you"]["participant_id"]
    )
    for word in ("Think", "ing ", "about ", "it"):
        await a.send({"type": "stream_delta", "stream_id": "s1", "text": word})
    for peer in (b, obs):
        await peer.wait(lambda p=peer: stream_text(p, "s1") == "Thinking about it")
    assert not b.message_ids(), "deltas are not messages"
    answer = await a.request({"type": "stream_end", "stream_id": "s1", "client_msg_id": "e1"})
    assert answer["type"] == "ack" and answer["duplicate"] is False
    message = answer["message"]
    assert (message["content"], message["msg_type"], message["client_msg_id"]) == (
        "Thinking about it",
        "status",
        "e1",
    )
    for peer in (a, b, obs):
        end = await peer.wait(lambda p=peer: ended(p, "s1"))
        assert end["message_id"] == message["id"] and end["aborted"] is False
        await peer.wait(lambda p=peer: p.message_ids() == [message["id"]])
    again = await a.request({"type": "stream_end", "stream_id": "s1", "client_msg_id": "e1"})
    assert again["type"] == "ack" and again["duplicate"] is True
    assert again["message"]["id"] == message["id"]


async def test_deltas_are_coalesced_per_interval(make_client: Any) -> None:
    """However fast the author sends, observers get at most one delta per interval,
    and together they hold every character once."""
    client: HubClient = await make_client(
        stream_delta_interval=0.05, rate_per_second=100_000.0, rate_burst=100_000
    )
    s = await client.session_with_b()
    a, obs = await client.connect(s["a"]), await client.connect(s["obs"])
    await open_stream(a, "fast")

    def events() -> list[float]:
        pairs = zip(obs.frames, obs.arrived, strict=True)
        return [t for f, t in pairs if f["type"] == "stream_delta"]

    sent = 0
    while len(events()) < 5:  # each delta acked: the author goes as fast as it can
        answer = await a.request({"type": "stream_delta", "stream_id": "fast", "text": "ab"})
        assert answer["type"] == "ack"
        sent += 1
    await obs.wait(lambda: stream_text(obs, "fast") == "ab" * sent)
    arrived = events()
    assert sent > 3 * len(arrived), f"{len(arrived)} delta events for {sent} deltas"
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrived)]
    assert min(gaps) >= 0.04, gaps


async def test_a_late_joiner_gets_history_then_the_text_so_far(client: HubClient) -> None:
    """A participant resuming mid-stream gets the committed history, the stream with its
    text so far, `resumed`, then the rest of the stream, and the text is whole."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    await a.say("before")
    await open_stream(a, "mid")
    await a.send({"type": "stream_delta", "stream_id": "mid", "text": "Hello, "})
    watcher = await client.connect(s["obs"])
    await watcher.wait(lambda: stream_text(watcher, "mid") == "Hello, ")
    late = await client.connect(s["b"], since=0)
    kinds = [f["type"] for f in late.frames]
    assert kinds[:4] == ["hello", "message", "stream_started", "resumed"], kinds
    assert late.frames[2]["text"] == "Hello, " and late.frames[2]["stream"]["size"] == 7
    await a.send({"type": "stream_delta", "stream_id": "mid", "text": "world"})
    await late.wait(lambda: stream_text(late, "mid") == "Hello, world")
    answer = await a.request({"type": "stream_end", "stream_id": "mid", "client_msg_id": "m"})
    await late.wait(lambda: late.message_ids() == [1, answer["message"]["id"]])


async def test_messages_sent_while_a_stream_is_open_keep_gap_free_ids(
    client: HubClient,
) -> None:
    """Messages sent by both agents while streams are open, and the streams' commits,
    take one gap-free order that every participant (and a resume) sees alike."""
    s = await client.session_with_b()
    a, b, obs = [await client.connect(s[k]) for k in ("a", "b", "obs")]
    await open_stream(a, "long")
    await open_stream(b, "other")

    async def chatter(peer: Peer, name: str, stream_id: str) -> None:
        for i in range(15):
            await peer.send({"type": "stream_delta", "stream_id": stream_id, "text": f"{i},"})
            assert (await peer.say(f"{name}-{i}"))["type"] == "ack"

    await asyncio.gather(chatter(a, "a", "long"), chatter(b, "b", "other"))
    for peer, stream_id in ((a, "long"), (b, "other")):
        answer = await peer.request(
            {"type": "stream_end", "stream_id": stream_id, "client_msg_id": stream_id}
        )
        assert answer["message"]["content"] == "".join(f"{i}," for i in range(15))
    total = 32
    for peer in (a, b, obs):
        await peer.wait(lambda p=peer: len(p.message_ids()) == total)
        assert peer.message_ids() == list(range(1, total + 1))
    resumed = await client.connect(s["obs"], since=10)
    await resumed.wait(lambda: len(resumed.message_ids()) == total - 10)
    assert resumed.message_ids() == list(range(11, total + 1))


async def test_stream_errors_are_typed(make_client: Any) -> None:
    """Unknown stream, another's stream, too big, too many open, observers, a gap, a
    taken id: each refused with its code, and the connection stays open."""
    client: HubClient = await make_client(max_streams_per_participant=2)
    s = await client.session_with_b()
    a, b, obs = [await client.connect(s[k]) for k in ("a", "b", "obs")]

    async def code(peer: Peer, frame: dict[str, Any]) -> str:
        answer = await peer.request(frame)
        assert answer["type"] == "error", answer
        return str(answer["code"])

    assert await code(a, {"type": "stream_delta", "stream_id": "nope", "text": "x"}) == (
        "not_found"
    )
    assert await code(a, {"type": "stream_end", "stream_id": "nope", "client_msg_id": "c"}) == (
        "not_found"
    )
    await open_stream(a, "mine")
    assert await code(b, {"type": "stream_delta", "stream_id": "mine", "text": "x"}) == (
        "forbidden"
    )
    assert await code(b, {"type": "stream_abort", "stream_id": "mine"}) == "forbidden"
    assert await code(b, {"type": "stream_start", "stream_id": "mine"}) == "forbidden"
    assert await code(obs, {"type": "stream_start", "stream_id": "o"}) == "forbidden"
    assert await code(b, {"type": "stream_start", "stream_id": "t", "msg_type": "system"}) == (
        "forbidden"
    )
    big = "x" * 40_000
    ok = await a.request({"type": "stream_delta", "stream_id": "mine", "text": big})
    assert ok["type"] == "ack" and ok["stream"]["size"] == 40_000
    assert await code(a, {"type": "stream_delta", "stream_id": "mine", "text": big}) == (
        "payload_too_large"
    )
    assert await code(
        a, {"type": "stream_delta", "stream_id": "mine", "text": "y", "offset": 40_001}
    ) == ("conflict")
    await open_stream(a, "second")
    assert await code(a, {"type": "stream_start", "stream_id": "third"}) == "rate_limited"
    assert await code(b, {"type": "stream_start", "stream_id": "second"}) == "forbidden"
    answer = await a.request({"type": "stream_end", "stream_id": "mine", "client_msg_id": "m"})
    assert len(answer["message"]["content"]) == 40_000
    await open_stream(a, "third")  # one closed: room for another
    assert (await a.request({"type": "ping"}))["type"] == "pong"


async def test_a_resent_delta_with_its_offset_is_applied_once(client: HubClient) -> None:
    """A delta re-sent after a reconnect (same offset) adds nothing twice; a delta that
    overlaps adds only what is new."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    await open_stream(a, "r")
    for frame in (
        {"text": "abc", "offset": 0},
        {"text": "abc", "offset": 0},
        {"text": "cdef", "offset": 2},
        {"text": "g"},
    ):
        answer = await a.request({"type": "stream_delta", "stream_id": "r", **frame})
        assert answer["type"] == "ack", answer
    assert answer["stream"]["size"] == 7
    await b.wait(lambda: stream_text(b, "r") == "abcdefg")
    end = await a.request({"type": "stream_end", "stream_id": "r", "client_msg_id": "r"})
    assert end["message"]["content"] == "abcdefg"


async def test_a_stream_whose_author_disconnects_ends_aborted(make_client: Any) -> None:
    """The author's websocket closes mid-stream: after the abort timeout everyone gets
    `stream_ended` aborted, and nothing is committed."""
    client: HubClient = await make_client(stream_abort_timeout=0.3)
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    await open_stream(a, "gone")
    await a.send({"type": "stream_delta", "stream_id": "gone", "text": "half a tho"})
    await b.wait(lambda: stream_text(b, "gone") == "half a tho")
    closed_at = asyncio.get_running_loop().time()
    await a.close()
    end = await b.wait(lambda: ended(b, "gone"), timeout=TIMEOUT)
    assert asyncio.get_running_loop().time() - closed_at >= 0.25
    assert end["aborted"] is True and end["reason"] == "disconnected"
    assert end["message_id"] is None
    status, page = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["b"])
    assert status == 200 and page["messages"] == []
    late = await client.connect(s["b"], since=0)
    assert [f["type"] for f in late.frames] == ["hello", "resumed"]
    a2 = await client.connect(s["a"])
    refused = await a2.request({"type": "stream_end", "stream_id": "gone", "client_msg_id": "x"})
    assert refused["type"] == "error" and refused["code"] == "not_found"


async def test_an_author_back_within_the_timeout_goes_on(make_client: Any) -> None:
    """The author reconnects before the abort timeout: the stream goes on and commits."""
    client: HubClient = await make_client(stream_abort_timeout=30.0)
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    await open_stream(a, "on")
    await a.send({"type": "stream_delta", "stream_id": "on", "text": "one ", "offset": 0})
    await a.close()
    a = await client.connect(s["a"])
    await a.send({"type": "stream_delta", "stream_id": "on", "text": "two", "offset": 4})
    await b.wait(lambda: stream_text(b, "on") == "one two")
    answer = await a.request({"type": "stream_end", "stream_id": "on", "client_msg_id": "on"})
    assert answer["message"]["content"] == "one two"
    end = await b.wait(lambda: ended(b, "on"))
    assert end["aborted"] is False


async def test_an_author_may_abort_its_stream(client: HubClient) -> None:
    """`stream_abort` ends the stream as aborted (cancelled) at once; nothing committed."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    await open_stream(a, "x")
    await a.send({"type": "stream_delta", "stream_id": "x", "text": "never mind"})
    assert (await a.request({"type": "stream_abort", "stream_id": "x"}))["type"] == "ack"
    end = await b.wait(lambda: ended(b, "x"))
    assert end["aborted"] is True and end["reason"] == "cancelled"
    assert b.message_ids() == []


async def test_a_completed_session_takes_no_stream(client: HubClient) -> None:
    """Starting a stream in a completed session is refused like a message."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"status": "completed"}
    )
    assert status == 200
    answer = await a.request({"type": "stream_start", "stream_id": "late"})
    assert answer["type"] == "error" and answer["code"] == "session_completed"


async def test_an_abort_and_an_end_sent_together_end_the_stream_once(client: HubClient) -> None:
    """`stream_abort` and `stream_end` sent back to back (read in one batch): one wins,
    the other is refused `conflict`, and the stream ends exactly once."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    for round_, first in enumerate(("abort", "end")):
        sid = f"x{round_}"
        await open_stream(a, sid)
        await a.send({"type": "stream_delta", "stream_id": sid, "text": "half a thought"})
        frames = {
            "abort": {"type": "stream_abort", "stream_id": sid, "ref": f"ab{round_}"},
            "end": {
                "type": "stream_end",
                "stream_id": sid,
                "client_msg_id": f"e{round_}",
                "ref": f"en{round_}",
            },
        }
        order = [first, "end" if first == "abort" else "abort"]
        await a.ws.send_str(msgspec.json.encode(frames[order[0]]).decode())
        await a.ws.send_str(msgspec.json.encode(frames[order[1]]).decode())
        answers = [
            await a.wait(
                lambda r=frames[k]["ref"]: next((f for f in a.frames if f.get("ref") == r), None)
            )
            for k in order
        ]
        assert sorted(x["type"] for x in answers) == ["ack", "error"], answers
        assert next(x for x in answers if x["type"] == "error")["code"] == "conflict"
        await b.wait(lambda s=sid: ended(b, s))
        marker = await b.say(f"after {sid}")  # everything before it has reached b by then
        await b.wait(lambda m=marker["message"]["id"]: m in b.message_ids())
        ends = [f for f in b.frames if f["type"] == "stream_ended" and f["stream_id"] == sid]
        assert len(ends) == 1, ends
        committed = [
            f
            for f in b.frames
            if f["type"] == "message" and f["message"]["content"] == "half a thought"
        ]
        assert len(committed) == (0 if ends[0]["aborted"] else 1)


async def test_stream_frames_are_rate_limited_like_messages(make_client: Any) -> None:
    """Stream frames draw on the connection's frame rate as sends do: past the burst a
    delta is refused `rate_limited` and is not part of the stream (the observer's text
    holds exactly the deltas acked, in order), and a send right after is refused too."""
    client: HubClient = await make_client(rate_per_second=0.5, rate_burst=8)
    s = await client.session_with_b()
    a, obs = await client.connect(s["a"]), await client.connect(s["obs"])
    await open_stream(a, "r")
    for i in range(10):
        await a.send({"type": "stream_delta", "stream_id": "r", "text": f"{i},", "ref": f"d{i}"})

    def answers() -> dict[str, dict[str, Any]] | None:
        got = {f["ref"]: f for f in a.frames if str(f.get("ref", "")).startswith("d")}
        return got if len(got) == 10 else None

    got = await a.wait(answers)
    acked = [i for i in range(10) if got[f"d{i}"]["type"] == "ack"]
    refused = [got[f"d{i}"] for i in range(10) if got[f"d{i}"]["type"] == "error"]
    assert acked == list(range(len(acked))) and 5 <= len(acked) <= 8, got
    assert refused and {f["code"] for f in refused} == {"rate_limited"}
    sent = await a.say("and a message")
    assert sent["type"] == "error" and sent["code"] == "rate_limited", sent
    text = "".join(f"{i}," for i in acked)
    await obs.wait(lambda: stream_text(obs, "r") == text)
    assert got[f"d{acked[-1]}"]["stream"]["size"] == len(text)
