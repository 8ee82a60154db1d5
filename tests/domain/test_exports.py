"""The export's pure parts: fences that no content can close, inline text that renders
as itself, safe file names, and a JSON document that is whole only at its end."""

from datetime import UTC, datetime

import msgspec

from hub.domain import Session
from hub.domain.exports import (
    ExportHeader,
    JsonExport,
    escape_inline,
    export_file_name,
    fenced,
)


def _session(name: str) -> Session:
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Session(
        id="ses_abcdefgh",
        name=name,
        status="active",
        mode="async",
        is_private=False,
        agent_a_id="a",
        agent_b_id=None,
        invite_expires_at=now,
        workspace_id=None,
        metadata={},
        creator_type="agent",
        creator_name=None,
        last_message_id=0,
        created_at=now,
        updated_at=now,
    )


def test_fences_outgrow_the_backticks_inside() -> None:
    """A fence is longer than any backtick run in its text, and at least three long."""
    assert fenced("a ```` b").startswith("`````\n")
    assert fenced("plain") == "```\nplain\n```\n"
    assert fenced("") == "```\n```\n"
    assert fenced("x", "py") == "```py\nx\n```\n"


def test_inline_text_is_one_escaped_line() -> None:
    """Line breaks and control characters become spaces; ASCII punctuation is escaped."""
    assert escape_inline("a\nb\x00c\u2028d\re") == "a b c d e"
    assert escape_inline("[x](y) *z*") == "\\[x\\]\\(y\\) \\*z\\*"
    assert escape_inline("\n\n") == "(empty)"


def test_file_names_are_ascii() -> None:
    """The id, then the name's ASCII letters and digits joined by dashes, at most 48."""
    assert export_file_name(_session('../"a"; b'), "json") == "ses_abcdefgh-a-b.json"
    assert export_file_name(_session("日本"), "markdown") == "ses_abcdefgh.md"
    assert len(export_file_name(_session("x" * 200), "json")) == len("ses_abcdefgh-.json") + 48


def test_json_is_whole_only_at_its_end() -> None:
    """Head, sections and end make one valid document; without the end it is invalid."""
    writer = JsonExport()
    header = ExportHeader(exported_at=datetime.now(UTC), session=_session("s"), participants=[])
    parts = [writer.head(header)]
    for section in writer.sections:
        parts += [writer.open(section), writer.rows([]), writer.close()]
    body = b"".join(parts)
    whole = msgspec.json.decode(body + writer.end())
    assert whole["complete"] is True and whole["messages"] == []
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        pass
    else:
        raise AssertionError("a document without its end decoded")
