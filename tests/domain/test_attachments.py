"""The pure rules of attachments: names and declared types."""

from __future__ import annotations

import pytest

from hub.domain.attachments import parse_content_type, validate_name
from hub.errors import HubError


def test_a_name_is_its_last_segment_normalised() -> None:
    """Paths are cut to their last segment (either slash), NFC-normalised, trimmed."""
    assert validate_name("../../etc/passwd") == "passwd"
    assert validate_name("C:\\Users\\me\\plot.png") == "plot.png"
    assert validate_name("cafe\u0301.txt") == "café.txt"
    assert validate_name(None) == "attachment"


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "a" * 256,
        "bell\x07.txt",
        "csi\x9b31m.txt",  # a C1 control: a terminal escape
        "evil\u202egnp.exe",  # a right-to-left override hides the real extension
        "zero\u200bwidth.txt",
        "line\u2028break.txt",
    ],
)
def test_unprintable_or_unusable_names_are_refused(name: str) -> None:
    """Controls (C0 and C1), bidi and zero-width format characters, separators, an empty
    or dot name and over 255 characters: `bad_request`."""
    with pytest.raises(HubError) as refused:
        validate_name(name)
    assert refused.value.code == "bad_request"


def test_a_declared_type_is_its_mime_type_in_lower_case() -> None:
    """Parameters are dropped; nothing declared is octet-stream; junk is refused."""
    assert parse_content_type("Image/PNG; charset=x") == "image/png"
    assert parse_content_type(None) == "application/octet-stream"
    with pytest.raises(HubError):
        parse_content_type("not a type")
