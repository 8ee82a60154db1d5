"""Pure rules of search: the query's checks, highlight markers and snippet segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.domain import Segment, check_search_text, highlight_marks, segments
from hub.domain.search import check_time
from hub.errors import HubError


def test_query_is_trimmed_and_checked() -> None:
    """Tabs and line breaks become spaces; empty, too long or control characters are
    bad requests."""
    assert check_search_text("  a\tb\r\nc ") == "a b c"
    for bad in ("", "  \n ", "x" * 201, "a\x00b", "a\x1bb", "\x7f"):
        with pytest.raises(HubError) as caught:
            check_search_text(bad)
        assert caught.value.code == "bad_request"
    assert check_search_text("x" * 200) == "x" * 200


def test_segments_split_on_fresh_marks_only() -> None:
    """Marked runs become hits, the rest plain text; another query's marks are text."""
    marks = highlight_marks()
    other = highlight_marks()
    assert marks != other and marks[0].isalnum() and marks[1].isalnum()
    start, stop = marks
    marked = f"a {start}cat{stop}{start}s{stop} and {other[0]}dog{other[1]}"
    assert segments(marked, marks) == [
        Segment("a "),
        Segment("cats", True),
        Segment(f" and {other[0]}dog{other[1]}"),
    ]
    assert segments("", marks) == []
    assert segments(f"{start}all{stop}", marks) == [Segment("all", True)]


def test_times_need_a_zone_and_a_range() -> None:
    assert check_time(datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == datetime(
        2024, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="time zone"):
        check_time(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="range"):
        check_time(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
