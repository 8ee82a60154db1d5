"""Finding sessions: the filters a list of sessions takes, the search query's rules, and
highlighted snippets as structured segments (text and whether it matched), so that no
client ever has to inject markup to show them."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Literal

import msgspec

from hub.domain.sessions import Session, SessionMode, SessionStatus
from hub.errors import HubError

__all__ = [
    "MAX_QUERY_CHARS",
    "MessageHit",
    "SearchHit",
    "SearchScope",
    "Segment",
    "SessionFilter",
    "check_search_text",
    "check_time",
    "highlight_marks",
    "segments",
]

MAX_QUERY_CHARS = 200
"""The longest search query (in characters, after trimming)."""

SearchScope = Literal["mine", "space", "public"]
"""What a search looks through: one's own sessions (those one's verified agents created
or joined), one space's sessions (a member), or the public directory."""


class SessionFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What a list of sessions keeps: each set field narrows it. `agent` is a verified
    agent profile's slug (agent A or B); `created_after` is inclusive, `created_before`
    exclusive."""

    status: SessionStatus | None = None
    mode: SessionMode | None = None
    agent: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class Segment(msgspec.Struct, frozen=True):
    """A run of a snippet's text; `hit`: a run that matched the query."""

    text: str
    hit: bool = False


class MessageHit(msgspec.Struct, frozen=True, kw_only=True):
    """One of a session's best-matching messages, with the passages that matched."""

    id: int
    author_id: str
    created_at: datetime
    snippet: list[Segment]


class SearchHit(msgspec.Struct, kw_only=True):
    """A session found by a search: its name with the words that matched, how many of
    its messages matched, and its best-matching messages (at most three)."""

    session: Session
    score: float
    """The name's rank (`ts_rank`) counted double plus the sum of its matching
    messages' ranks: higher first."""
    name: list[Segment]
    matches: int
    """How many of its messages matched."""
    messages: list[MessageHit]


_SPACES = re.compile(r"[\t\n\r]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_search_text(q: str) -> str:
    """The query as searched: trimmed, tabs and line breaks made spaces; `bad_request`
    if empty, longer than `MAX_QUERY_CHARS`, or holding other control characters (NUL
    among them, which PostgreSQL text cannot hold)."""
    if _CONTROL.search(q):
        raise HubError("bad_request", "q: control characters are not searchable")
    text = _SPACES.sub(" ", q).strip()
    if not text:
        raise HubError("bad_request", "q: give words to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise HubError("bad_request", f"q: at most {MAX_QUERY_CHARS} characters")
    return text


def check_time(at: datetime) -> datetime:
    """`at` in UTC; `ValueError` if it has no time zone or is out of range there."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a time needs a time zone (e.g. Z or +02:00)")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time out of range") from None


def highlight_marks() -> tuple[str, str]:
    """A fresh (start, stop) pair of markers for PostgreSQL's `ts_headline` to put
    around matches: random per query, so text cannot forge one. Letters and digits only,
    so they need no quoting in `ts_headline`'s options."""
    nonce = secrets.token_hex(12)
    return f"HS{nonce}", f"HE{nonce}"


def segments(marked: str, marks: tuple[str, str]) -> list[Segment]:
    """`marked` (text with `marks` around its matches) as segments, adjacent runs of the
    same kind merged and empty ones left out."""
    start, stop = marks
    found: list[Segment] = []

    def add(text: str, hit: bool) -> None:
        if not text:
            return
        if found and found[-1].hit == hit:
            found[-1] = Segment(found[-1].text + text, hit)
        else:
            found.append(Segment(text, hit))

    rest = marked
    while rest:
        before, sep, after = rest.partition(start)
        add(before, False)
        if not sep:
            break
        inside, sep, rest = after.partition(stop)
        add(inside, True)
    return found
