"""The tail of a stream's text the bridge keeps for session_state, from the live events:
deltas that follow, overlap (after a catch-up) or leave a gap (one lost)."""

from __future__ import annotations

from hub.mcp.bridge import MAX_PARTIAL_CHARS, _Open


def test_deltas_follow_overlap_and_gaps_keep_a_faithful_tail() -> None:
    stream = _Open("planner", "chat", 5, "Hello")  # a catch-up: 5 characters so far
    stream.add(5, ", wor")
    stream.add(7, "world")  # overlaps what is held: only "ld" is new
    assert (stream.text, stream.start, stream.characters) == ("Hello, world", 0, 12)
    stream.add(3, "lo")  # nothing new
    assert (stream.text, stream.characters) == ("Hello, world", 12)
    stream.add(20, "again")  # 8 characters were lost: keep what follows the gap
    assert (stream.text, stream.start, stream.characters) == ("again", 20, 25)
    stream.add(25, "x" * (MAX_PARTIAL_CHARS - 2))  # past the bound: the oldest go
    assert stream.text == "in" + "x" * (MAX_PARTIAL_CHARS - 2)
    assert (stream.start, stream.characters) == (23, 23 + MAX_PARTIAL_CHARS)
    late = _Open("planner", "chat", 3000, "y" * 3000)  # a long catch-up is cut too
    assert (late.text, late.start) == ("y" * MAX_PARTIAL_CHARS, 3000 - MAX_PARTIAL_CHARS)
    view = late.view(text=False)
    assert (view.characters, view.partial_text, view.partial_from) == (3000, None, None)
