"""Pure rules: capabilities, the session state machine, identifiers and invite codes."""

import pytest

from hub.domain import (
    auto_name,
    can,
    check_transition,
    new_invite_code,
    new_session_id,
    normalize_invite_code,
    validate_path,
)
from hub.errors import HubError
from hub.security import hash_token, new_token, token_matches

CAPABILITIES = [
    # action, agent_a, agent_b, observer  (the table of SPEC.md)
    ("read", True, True, True),
    ("post_chat", True, True, True),
    ("post_typed", True, True, False),
    ("edit_notes", True, True, True),
    ("write_files", True, True, False),
    ("set_presence", True, True, True),
    ("pause_resume_complete", True, True, False),
    ("rotate_invite", True, False, False),
    ("delete_session", True, False, False),
    ("set_privacy", True, False, False),
    ("stream", True, True, False),
]


@pytest.mark.parametrize(("action", "a", "b", "obs"), CAPABILITIES)
def test_capability_table(action: str, a: bool, b: bool, obs: bool) -> None:
    """Each role may do exactly what the capability table grants."""
    assert can("agent_a", action) is a  # type: ignore[arg-type]
    assert can("agent_b", action) is b  # type: ignore[arg-type]
    assert can("observer", action) is obs  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("waiting", "active"),
        ("active", "paused"),
        ("paused", "active"),
        ("active", "completed"),
        ("paused", "completed"),
        ("waiting", "completed"),
    ],
)
def test_allowed_transitions(current: str, target: str) -> None:
    """waiting → active ↔ paused → completed are allowed to agent A."""
    check_transition("agent_a", current, target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("completed", "active"),
        ("completed", "paused"),
        ("paused", "waiting"),
        ("active", "waiting"),
        ("waiting", "paused"),
        ("completed", "waiting"),
    ],
)
def test_forbidden_transitions(current: str, target: str) -> None:
    """A completed session stays completed; nothing goes back to waiting."""
    with pytest.raises(HubError) as err:
        check_transition("agent_a", current, target)  # type: ignore[arg-type]
    assert err.value.code == "invalid_transition"


def test_observer_cannot_change_status() -> None:
    """Observers may not pause a session; agent B may, but may not start one."""
    with pytest.raises(HubError) as err:
        check_transition("observer", "active", "paused")
    assert err.value.code == "forbidden"
    check_transition("agent_b", "active", "paused")
    with pytest.raises(HubError):
        check_transition("agent_b", "waiting", "active")


def test_tokens_are_prefixed_random_and_hashed() -> None:
    """Tokens carry their role prefix, differ every time, and match only their hash."""
    a, b = new_token("agent_a"), new_token("agent_a")
    assert a.startswith("agt_") and new_token("observer").startswith("obs_")
    assert a != b and len(a) >= 36
    assert token_matches(a, hash_token(a))
    assert not token_matches(b, hash_token(a))
    assert new_session_id().startswith("ses_")


def test_invite_codes_are_two_words_and_two_numbers() -> None:
    """Invite codes look like RAPID-DAWN-6942-0317 and are case- and spacing-insensitive;
    the shorter codes issued before (RAPID-DAWN-6942) still read as codes."""
    code = new_invite_code()
    first, second, number, more = code.split("-")
    assert first.isalpha() and second.isalpha()
    assert len(number) == len(more) == 4 and (number + more).isdigit()
    assert normalize_invite_code(code.lower()) == code
    assert normalize_invite_code("  rapid dawn 6942 0317 ") == "RAPID-DAWN-6942-0317"
    assert normalize_invite_code("  rapid dawn 6942 ") == "RAPID-DAWN-6942"
    for bad in ("", "RAPID", "RAPID-DAWN", "'; DROP TABLE", "RAPID-DAWN-X1", "A-B-1234-12"):
        with pytest.raises(HubError) as err:
            normalize_invite_code(bad)
        assert err.value.code == "invite_invalid"


def test_invite_code_space_outlasts_guessing_at_the_allowed_rate() -> None:
    """There are at least 2^40 codes: at the default hub-wide budget of failed
    redemptions, finding any one of 10,000 live codes takes longer than the 7-day
    default lifetime of a code (the README's arithmetic)."""
    from hub.config import Config
    from hub.domain.invites import _WORDS_A, _WORDS_B

    assert len(set(_WORDS_A)) == len(_WORDS_A) == 128 and len(set(_WORDS_B)) == 128
    assert all(word.isalpha() and word.isupper() for word in _WORDS_A + _WORDS_B)
    space = len(_WORDS_A) * len(_WORDS_B) * 10**8
    assert space >= 2**40
    config = Config()
    guesses_per_second = config.invite_failures_per_minute / 60
    assert space / (10_000 * guesses_per_second) > config.invite_ttl_seconds


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../x", "a/../b", "a//b", "a/", "", "a\x00b", "./a"]
)
def test_bad_paths_are_refused(path: str) -> None:
    """File paths are relative, without dot segments, empty segments or control chars."""
    with pytest.raises(HubError):
        validate_path(path)


def test_good_paths_pass() -> None:
    """Ordinary nested paths with dots in names are fine."""
    assert validate_path("src/app.py") == "src/app.py"
    assert validate_path("docs/v1.2/notes..md") == "docs/v1.2/notes..md"


def test_auto_name_takes_the_first_line() -> None:
    """A session is named from the first non-empty line of the first chat message."""
    assert auto_name("\n  Plan the   migration \nmore") == "Plan the migration"
    assert len(auto_name("x" * 500)) <= 60
    assert auto_name("   ") == "New Session"


def test_a_cursor_the_hub_did_not_give_is_a_bad_request() -> None:
    """Cursors round-trip; tampered ones (NUL or control characters, naive or
    out-of-range times, garbage) are `bad_request`, never a server error."""
    import base64
    from datetime import UTC, datetime

    from hub.domain.cursors import decode_time_cursor, encode_time_cursor

    at = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    assert decode_time_cursor(encode_time_cursor(at, "ses_x")) == (at, "ses_x")

    def forged(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode()

    for cursor in (
        forged(f"{at.isoformat()}|ses_\x00x"),
        forged(f"{at.isoformat()}|ses\nx"),
        forged("2026-11-29T04:00:00|ses_x"),
        forged("0001-01-01T00:00:00+14:00|ses_x"),
        forged("not a time|ses_x"),
        forged("no separator"),
        "!!!",
    ):
        with pytest.raises(HubError) as caught:
            decode_time_cursor(cursor)
        assert caught.value.code == "bad_request", cursor
