"""Client frames: decoding is validation, and each failure says what kind it is."""

import pytest

from hub.errors import HubError
from hub.protocol import SendMessage, UpdateNote, decode_client_frame, frame_ref


def test_decodes_a_send_frame() -> None:
    """A well-formed send frame decodes with its defaults filled in."""
    frame = decode_client_frame(b'{"type":"send","client_msg_id":"c1","content":"hi"}')
    assert isinstance(frame, SendMessage)
    assert frame.msg_type == "chat" and frame.metadata == {}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not json", "bad_request"),
        (b"[1,2]", "bad_request"),
        (b'{"type":"dance"}', "unknown_frame"),
        (b'{"content":"no type"}', "unknown_frame"),
        (b'{"type":"send","client_msg_id":"c","content":5}', "bad_request"),
        (b'{"type":"send","content":"x"}', "bad_request"),
        (b'{"type":"send","client_msg_id":"","content":"x"}', "bad_request"),
        (b'{"type":"send","client_msg_id":"c","content":"x","msg_type":"shout"}', "bad_request"),
        (b'{"type":"send","client_msg_id":"c","content":"x","extra":1}', "bad_request"),
        (b'{"type":"update_note","content":"x","expected_version":-1}', "bad_request"),
        (b'{"type":"set_presence","status":"offline"}', "bad_request"),
    ],
)
def test_bad_frames_get_typed_errors(data: bytes, code: str) -> None:
    """Malformed JSON, unknown types and wrong fields each get their error code."""
    with pytest.raises(HubError) as err:
        decode_client_frame(data)
    assert err.value.code == code


def test_oversized_content_is_refused() -> None:
    """Message content has a length limit enforced at decoding."""
    with pytest.raises(HubError):
        decode_client_frame(
            b'{"type":"send","client_msg_id":"c","content":"' + b"x" * 70_000 + b'"}'
        )


def test_ref_is_recovered_from_a_bad_frame() -> None:
    """An error can answer the ref of a frame that failed validation."""
    assert frame_ref(b'{"type":"send","ref":"r9","content":1}') == "r9"
    assert frame_ref(b"garbage") is None
    assert isinstance(
        decode_client_frame(b'{"type":"update_note","content":"","expected_version":0}'),
        UpdateNote,
    )


def test_nul_characters_are_refused() -> None:
    """A NUL character (which PostgreSQL text cannot hold) is a bad_request; an escaped
    backslash followed by `u0000` is ordinary text."""
    with pytest.raises(HubError) as err:
        decode_client_frame('{"type":"send","client_msg_id":"c","content":"a\\u0000b"}')
    assert err.value.code == "bad_request"
    frame = decode_client_frame('{"type":"send","client_msg_id":"c","content":"a\\\\u0000b"}')
    assert isinstance(frame, SendMessage) and frame.content == "a\\u0000b"
