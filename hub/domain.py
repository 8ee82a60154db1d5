"""The domain of Hub: entities as msgspec structs and the pure rules over them.

Capabilities per role, session state transitions, identifiers, tokens and invite codes
live here. Nothing in this module does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any, Literal

import msgspec
from nanoid import generate as nanoid

from hub.errors import HubError

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_FILE_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_METADATA_BYTES",
    "MAX_NOTE_CHARS",
    "Action",
    "Activity",
    "ActivityAction",
    "AuthorRole",
    "FileEntry",
    "FileInfo",
    "Message",
    "MsgType",
    "Note",
    "NoteSummary",
    "Presence",
    "PresenceStatus",
    "Principal",
    "Role",
    "Session",
    "SessionStatus",
    "auto_name",
    "can",
    "check_metadata",
    "check_transition",
    "file_hash",
    "hash_token",
    "new_invite_code",
    "new_participant_id",
    "new_session_id",
    "new_token",
    "normalize_invite_code",
    "require",
    "token_matches",
    "validate_path",
]

Role = Literal["agent_a", "agent_b", "observer"]
AuthorRole = Literal["agent_a", "agent_b", "observer", "system"]
MsgType = Literal["chat", "handoff", "status", "action", "system"]
SessionStatus = Literal["waiting", "active", "paused", "completed"]
SessionMode = Literal["async", "realtime"]
CreatorType = Literal["agent", "human"]
PresenceStatus = Literal["online", "working", "idle", "offline"]

MAX_CONTENT_CHARS = 64_000
MAX_NOTE_CHARS = 200_000
MAX_FILE_CHARS = 512_000
MAX_METADATA_BYTES = 16_384
"""Encoded size of a message's or session's `metadata`: it is stored and sent with every
copy of the message, so it stays small; bulky data belongs in a file."""
MAX_JSON_DEPTH = 32
"""Levels of objects and arrays in `metadata` (the metadata object itself is level 1)."""


class Session(msgspec.Struct, kw_only=True):
    """A collaboration between agent A, agent B (once joined) and observers."""

    id: str
    name: str
    status: SessionStatus
    mode: SessionMode
    is_private: bool
    agent_a_id: str
    agent_b_id: str | None
    invite_expires_at: datetime
    workspace_id: str | None
    metadata: dict[str, Any]
    creator_type: CreatorType
    creator_name: str | None
    last_message_id: int
    created_at: datetime
    updated_at: datetime


class Message(msgspec.Struct, kw_only=True):
    """An immutable message; `id` is monotonic and gap-free within its session."""

    id: int
    session_id: str
    author_id: str
    author_role: AuthorRole
    content: str
    msg_type: MsgType
    metadata: dict[str, Any]
    parent_id: int | None
    client_msg_id: str | None
    token_count: int | None
    attachments: list[str]
    created_at: datetime


class Note(msgspec.Struct, kw_only=True):
    """A markdown document; `version` increases by one on every accepted edit."""

    id: int
    session_id: str
    title: str
    content: str
    version: int
    last_editor: str
    created_at: datetime
    updated_at: datetime


class NoteSummary(msgspec.Struct, kw_only=True):
    """A note without its content (as listed in `hello`); `size` is the content's length
    in characters. Read the content with GET /api/sessions/{id}/notes/{note_id}."""

    id: int
    title: str
    version: int
    size: int
    last_editor: str
    updated_at: datetime


class FileInfo(msgspec.Struct, kw_only=True):
    """A session file without its content."""

    session_id: str
    path: str
    content_hash: str
    size: int
    last_editor: str
    created_at: datetime
    updated_at: datetime


class FileEntry(FileInfo, kw_only=True):
    """A session file with its content."""

    content: str


class Presence(msgspec.Struct, kw_only=True):
    """Where a participant is: online/working/idle, or offline once gone."""

    participant_id: str
    role: Role
    status: PresenceStatus
    activity: str | None = None
    last_seen_at: datetime | None = None
    display_name: str | None = None


# Every kind of change, each written as one activity row in the change's own transaction.
ActivityAction = Literal[
    "session.created",
    "agent_b.joined",
    "observer.joined",
    "session.updated",
    "session.deleted",
    "invite.rotated",
    "message.sent",
    "note.created",
    "note.updated",
    "file.written",
]


class Activity(msgspec.Struct, kw_only=True):
    """One row of the append-only audit log."""

    id: int
    session_id: str
    actor_id: str
    actor_role: AuthorRole
    action: str
    detail: dict[str, Any]
    created_at: datetime


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a capability token speaks for: one role in one session."""

    session_id: str
    role: Role
    participant_id: str
    display_name: str | None = None


# --- capabilities -------------------------------------------------------------------

Action = Literal[
    "read",
    "post_chat",
    "post_typed",
    "edit_notes",
    "write_files",
    "set_presence",
    "rename",
    "pause_resume_complete",
    "start",
    "rotate_invite",
    "delete_session",
]

_OBSERVER: frozenset[Action] = frozenset({"read", "post_chat", "edit_notes", "set_presence"})
_AGENT_B: frozenset[Action] = _OBSERVER | {
    "post_typed",
    "write_files",
    "rename",
    "pause_resume_complete",
}
_AGENT_A: frozenset[Action] = _AGENT_B | {"start", "rotate_invite", "delete_session"}
_CAPABILITIES: dict[Role, frozenset[Action]] = {
    "agent_a": _AGENT_A,
    "agent_b": _AGENT_B,
    "observer": _OBSERVER,
}


def check_metadata(metadata: dict[str, Any]) -> None:
    """Refuse (ValueError) metadata nested deeper than `MAX_JSON_DEPTH` or larger than
    `MAX_METADATA_BYTES` encoded. Called by msgspec after decoding, so the error names
    the field."""
    if not metadata:
        return
    depth = 0
    level: list[Any] = [metadata]
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"metadata is nested more than {MAX_JSON_DEPTH} levels deep")
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, dict | list)
        ]
    if len(msgspec.json.encode(metadata)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes encoded")


def can(role: Role, action: Action) -> bool:
    """Whether `role` may perform `action` (the capability table of SPEC.md)."""
    return action in _CAPABILITIES[role]


def require(principal: Principal, action: Action) -> None:
    """Raise `forbidden` unless the principal's role may perform `action`."""
    if not can(principal.role, action):
        raise HubError("forbidden", f"{principal.role} may not {action.replace('_', ' ')}")


def message_action(msg_type: MsgType) -> Action:
    """The capability needed to post a message of `msg_type`."""
    return "post_chat" if msg_type == "chat" else "post_typed"


# --- session state machine ----------------------------------------------------------

_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    "waiting": frozenset({"active", "completed"}),
    "active": frozenset({"paused", "completed"}),
    "paused": frozenset({"active", "completed"}),
    "completed": frozenset(),
}


def check_transition(role: Role, current: SessionStatus, target: SessionStatus) -> None:
    """Raise unless `role` may move a session from `current` to `target`.

    waiting → active ↔ paused → completed; completed is final. Agent B may pause, resume
    and complete; only agent A may start a session nobody has joined yet.
    """
    if target == current:
        return
    if target not in _TRANSITIONS[current]:
        raise HubError("invalid_transition", f"a {current} session cannot become {target}")
    action: Action = (
        "start" if current == "waiting" and target == "active" else ("pause_resume_complete")
    )
    if not can(role, action):
        raise HubError("forbidden", f"{role} may not move a {current} session to {target}")


def auto_name(content: str) -> str:
    """A session name taken from the first chat message: its first line, shortened."""
    line = next((ln.strip() for ln in content.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line)
    if not line:
        return "New Session"
    return line if len(line) <= 60 else line[:59].rstrip() + "…"


# --- identifiers, tokens, invite codes ----------------------------------------------


def new_session_id() -> str:
    return "ses_" + str(nanoid(size=21))


def new_participant_id(prefix: str) -> str:
    return f"{prefix}_{nanoid(size=10)!s}"


def new_token(role: Role) -> str:
    """A capability token: a role prefix and 32 nanoid characters (192 bits)."""
    prefix = "obs_" if role == "observer" else "agt_"
    return prefix + str(nanoid(size=32))


def hash_token(token: str) -> bytes:
    """What is stored for a token: its SHA-256 (tokens carry enough entropy for this)."""
    return hashlib.sha256(token.encode()).digest()


def token_matches(token: str, stored_hash: bytes) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def file_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


_PATH = re.compile(r"^(?!/)(?!.*//)(?!.*(^|/)\.\.?(/|$))[^\x00-\x1f\\]{1,512}$")


def validate_path(path: str) -> str:
    """A file path: relative, no `.`/`..` segments, no empty segments, no control chars."""
    if not _PATH.match(path) or path.endswith("/"):
        raise HubError("bad_request", f"invalid file path {path!r}")
    return path


# 128 words each (7 bits): with two groups of four digits, 128 x 128 x 10^8 ~ 1.6 x 10^12
# (2^40.6) codes; README ("Guessing invite codes") has the arithmetic against the
# guessing rate the redemption limits allow.
_WORDS_A = (
    "AGILE ALERT AMBER AMPLE ARCTIC AZURE BALMY BLUE BOLD BRAVE BREEZY BRIGHT BRISK BUSY "
    "CALM CANDID CHEERY CIVIL CLEAR CLEVER COOL COPPER COSMIC COZY CRISP CURLY DAPPER "
    "DARING DEEP DIRECT DREAMY DUSTY EAGER EARLY ELDER EPIC EVEN EXACT FAIR FANCY FAST "
    "FIERCE FLEET FLUENT FOND FRANK FRESH FROSTY FUNNY GENTLE GIANT GLAD GOLDEN GOOD "
    "GRAND GREEN HANDY HAPPY HARDY HEARTY HONEST HUMBLE IDEAL IVORY JOLLY JUST KEEN KIND "
    "LARGE LEAFY LIGHT LITTLE LIVELY LONG LOYAL LUCID LUCKY MAGIC MELLOW MERRY MIGHTY "
    "MILD MINTY MODERN MOSSY NEAT NIMBLE NOBLE NORTH OPEN POLITE PRIME PROUD PURE QUICK "
    "QUIET RAPID RARE READY ROSY ROYAL RUSTIC SAFE SCARLET SERENE SHARP SILENT SILVER "
    "SIMPLE SLEEK SMART SOLID SONIC STEADY STILL STRONG SUNNY SWIFT TIDY TRUE VAST VIVID "
    "WARM WILD WISE WITTY YOUNG ZESTY"
).split()
_WORDS_B = (
    "ACORN ANCHOR APPLE ARROW ASPEN ATLAS BADGER BASIN BAY BEACON BEAR BERRY BIRCH BISON "
    "BLAZE BLOSSOM BOULDER BRANCH BRIDGE BROOK CANYON CASTLE CAVE CEDAR CHERRY CLIFF "
    "CLOUD CLOVER COMET CONDOR CORAL COVE CRANE CREEK CRYSTAL CYPRESS DAISY DAWN DELTA "
    "DOLPHIN DOVE DUNE EAGLE ELM EMBER FALCON FERN FIELD FINCH FJORD FLAME FLINT FOREST "
    "FOX FROST GALAXY GARDEN GEYSER GLACIER GLADE GROVE HARBOR HAVEN HAWK HERON HILL "
    "HOLLY IRIS ISLAND IVY JADE JAGUAR KESTREL LAGOON LAKE LANTERN LARK LILY LION LOTUS "
    "LYNX MAPLE MARBLE MARSH MEADOW MESA MINNOW MOON NEST NOVA OAK OASIS OCEAN OLIVE "
    "ORBIT OTTER OWL PANDA PEAK PEBBLE PELICAN PINE PLAIN PLUM POND POPPY PRISM QUARTZ "
    "RAIN RAVEN REEF RIDGE RIVER ROBIN SHORE SKY SPARK SPRING STAR STONE STORM SUMMIT "
    "TIDE TRAIL VALLEY WAVE WILLOW WIND"
).split()
# Today's codes (WORD-WORD-1234-5678) and the shorter ones issued before (WORD-WORD-1234).
_INVITE = re.compile(r"^[A-Z]+-[A-Z]+-(?:[0-9]{4}-[0-9]{4}|[0-9]{2,4})$")


def new_invite_code() -> str:
    """A readable code like `RAPID-DAWN-6942-0317`: two words and eight digits, about
    2^40 codes, so that at the redemption rate the hub allows, guessing a live one takes
    far longer than it lives."""
    words = f"{secrets.choice(_WORDS_A)}-{secrets.choice(_WORDS_B)}"
    return f"{words}-{secrets.randbelow(10_000):04d}-{secrets.randbelow(10_000):04d}"


def normalize_invite_code(code: str) -> str:
    """Invite codes are case-insensitive and tolerate spaces or underscores for dashes."""
    normal = re.sub(r"[\s_]+", "-", code.strip()).upper()
    if not _INVITE.match(normal):
        raise HubError("invite_invalid", "that is not an invite code (like RAPID-DAWN-6942-0317)")
    return normal
