"""Streams across real hub processes: deltas, the text so far for a participant joining
through another process, errors decided there, the abort of a stream whose author's
websocket closed, and of the streams of a process killed while holding them."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientSession

from tests.scale.conftest import client_for
from tests.web.test_streams import ended, stream_text

TIMEOUT = 30.0


async def test_streams_reach_and_catch_up_across_processes(hubs: Any, http: ClientSession) -> None:
    """A streams through process 1; an observer joining through process 2 mid-stream
    gets the text so far then the rest; B on process 2 cannot touch A's stream; the
    commit has the next gap-free id; a stream left by its author ends aborted there."""
    p1, p2 = await hubs(2, HUB_STREAM_ABORT_TIMEOUT="0.5")
    one, two = client_for(http, p1), client_for(http, p2)
    s = await one.session_with_b()
    a = await one.connect(s["a"])
    assert (await a.say("first"))["type"] == "ack"
    start = await a.request({"type": "stream_start", "stream_id": "s", "msg_type": "chat"})
    assert start["type"] == "ack", start
    delta = {"type": "stream_delta", "stream_id": "s", "text": "Hello, ", "offset": 0}
    assert (await a.request(delta))["type"] == "ack"
    watcher = await one.connect(s["obs"])
    await watcher.wait(lambda: stream_text(watcher, "s") == "Hello, ", timeout=TIMEOUT)

    late = await two.connect(s["obs"], since=0)  # the first connection to this session there
    kinds = [f["type"] for f in late.frames]
    assert kinds[:4] == ["hello", "message", "stream_started", "resumed"], kinds
    assert late.frames[2]["text"] == "Hello, "
    b = await two.connect(s["b"])
    other = await b.request({"type": "stream_delta", "stream_id": "s", "text": "x"})
    assert other["type"] == "error" and other["code"] == "forbidden", other
    taken = await b.request({"type": "stream_start", "stream_id": "s"})
    assert taken["type"] == "error" and taken["code"] == "conflict", taken
    assert (await b.say("meanwhile"))["type"] == "ack"

    await a.send({"type": "stream_delta", "stream_id": "s", "text": "world", "offset": 7})
    await late.wait(lambda: stream_text(late, "s") == "Hello, world", timeout=TIMEOUT)
    end = await a.request({"type": "stream_end", "stream_id": "s", "client_msg_id": "s"})
    assert end["message"]["id"] == 3 and end["message"]["content"] == "Hello, world"
    for peer in (late, b, watcher):
        await peer.wait(lambda p=peer: p.message_ids()[-1:] == [3], timeout=TIMEOUT)
        assert (await peer.wait(lambda p=peer: ended(p, "s"), timeout=TIMEOUT))["message_id"] == 3
    assert late.message_ids() == [1, 2, 3]

    await a.request({"type": "stream_start", "stream_id": "left"})
    await a.send({"type": "stream_delta", "stream_id": "left", "text": "half"})
    await late.wait(lambda: stream_text(late, "left") == "half", timeout=TIMEOUT)
    await a.close()
    aborted = await late.wait(lambda: ended(late, "left"), timeout=TIMEOUT)
    assert aborted["aborted"] is True and aborted["reason"] == "disconnected"
    again = await two.connect(s["obs"], since=3)
    assert [f["type"] for f in again.frames] == ["hello", "resumed"]


async def test_streams_of_a_killed_process_end_lost_to_watchers_elsewhere(
    hubs: Any, http: ClientSession
) -> None:
    """Process 1, holding two streams, is killed (-9): watchers on process 2, which
    heard of one from its live start and of the other from their catch-up, are each
    told once that it ended aborted (`lost`), within four heartbeats (1 s here) plus
    slack; a participant joining through process 2 afterwards sees no open stream."""
    p1, p2 = await hubs(2)
    one, two = client_for(http, p1), client_for(http, p2)
    s = await one.session_with_b()
    a = await one.connect(s["a"])
    author = a.frames[0]["you"]["participant_id"]
    await a.request({"type": "stream_start", "stream_id": "early", "msg_type": "chat"})
    await a.request({"type": "stream_delta", "stream_id": "early", "text": "half", "offset": 0})
    caught_up = await two.connect(s["obs"])  # the first connection to the session there
    assert stream_text(caught_up, "early") == "half", caught_up.frames
    live = await two.connect(s["b"])
    await a.request({"type": "stream_start", "stream_id": "later", "msg_type": "chat"})
    await a.send({"type": "stream_delta", "stream_id": "later", "text": "so far"})
    for peer in (caught_up, live):
        await peer.wait(lambda p=peer: stream_text(p, "later") == "so far", timeout=TIMEOUT)

    p1.kill()
    async with asyncio.timeout(4 * 1.0 + 10.0):
        for peer in (caught_up, live):
            for stream_id in ("early", "later"):
                lost = await peer.wait(lambda p=peer, i=stream_id: ended(p, i), timeout=TIMEOUT)
                assert lost["aborted"] is True and lost["reason"] == "lost", lost
                assert lost["message_id"] is None and lost["author_id"] == author

    late = await two.connect(s["obs"], since=0)
    # presence may arrive any time (the killed author going offline); no stream may
    seen = [f["type"] for f in late.frames if f["type"] != "presence"]
    assert seen == ["hello", "resumed"], late.frames
    assert (await live.say("after"))["type"] == "ack"
    await caught_up.wait(lambda: caught_up.message_ids() == [1], timeout=TIMEOUT)
    for peer in (caught_up, live):
        ends = [f["stream_id"] for f in peer.frames if f["type"] == "stream_ended"]
        assert sorted(ends) == ["early", "later"], ends
