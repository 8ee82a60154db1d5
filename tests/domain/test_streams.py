"""The pure rules of streams: who may stream, and how a re-sent delta is trimmed."""

import pytest

from hub.domain import Principal, check_stream_author, fresh_part
from hub.errors import HubError


def test_a_delta_at_the_end_is_taken_whole() -> None:
    """A delta without an offset, or at the stream's end, adds all its text."""
    assert fresh_part(3, None, "def") == "def"
    assert fresh_part(3, 3, "def") == "def"


def test_an_overlapping_delta_adds_only_what_is_new() -> None:
    """A re-sent delta adds nothing; one overlapping the end adds its tail."""
    assert fresh_part(6, 0, "abc") == ""
    assert fresh_part(6, 4, "efgh") == "gh"


def test_a_delta_past_the_end_is_a_conflict() -> None:
    """A delta that would leave a hole is refused with `conflict`."""
    with pytest.raises(HubError) as caught:
        fresh_part(3, 5, "x")
    assert caught.value.code == "conflict"


@pytest.mark.parametrize(
    ("role", "watch_only", "msg_type", "allowed"),
    [
        ("agent_a", False, "chat", True),
        ("agent_b", False, "action", True),
        ("agent_a", False, "system", False),
        ("observer", False, "chat", False),
        ("observer", True, "chat", False),
    ],
)
def test_only_agents_stream(role: str, watch_only: bool, msg_type: str, allowed: bool) -> None:
    """Agents stream the types they may post; observers (watch-only or not) do not."""
    who = Principal(session_id="s", role=role, participant_id="p", watch_only=watch_only)  # type: ignore[arg-type]
    if allowed:
        check_stream_author(who, msg_type)  # type: ignore[arg-type]
        return
    with pytest.raises(HubError) as caught:
        check_stream_author(who, msg_type)  # type: ignore[arg-type]
    assert caught.value.code == "forbidden"
