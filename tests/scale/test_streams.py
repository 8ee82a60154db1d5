"""Streams across real hub processes: deltas, the text so far for a participant joining
through another process, errors decided there, and the abort of a stream whose author's
websocket closed."""

from __future__ import annotations

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
