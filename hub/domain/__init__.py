"""The domain of Hub: entities as msgspec structs and the pure rules over them, one
module per area (access, identity, profiles, ratings, directory, secrets, sessions,
messages, notes, files, presence, activity, invites, metadata). Nothing here does I/O.
The names are re-exported here for the layers above."""

from __future__ import annotations

from hub.domain.access import (
    Action,
    AuthorRole,
    Principal,
    Role,
    can,
    require,
)
from hub.domain.activity import Activity, ActivityAction
from hub.domain.directory import (
    AgentCard,
    CardProvider,
    CardRatings,
    DirectoryEntry,
    DirectorySort,
)
from hub.domain.files import (
    MAX_FILE_CHARS,
    FileEntry,
    FileInfo,
    file_hash,
    validate_path,
)
from hub.domain.identity import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    AuditAction,
    Email,
    KeyName,
    Password,
    User,
    UserKey,
    Username,
    UserPrincipal,
)
from hub.domain.invites import new_invite_code, normalize_invite_code
from hub.domain.messages import (
    MAX_CONTENT_CHARS,
    Message,
    MsgType,
    message_action,
)
from hub.domain.metadata import MAX_JSON_DEPTH, MAX_METADATA_BYTES, check_metadata
from hub.domain.notes import MAX_NOTE_CHARS, Note, NoteSummary
from hub.domain.presence import Presence, PresenceStatus
from hub.domain.profiles import (
    AgentKey,
    AgentPrincipal,
    AgentProfile,
    ConfigDiff,
    ConfigRevision,
    Skill,
    Slug,
    Visibility,
    check_config,
    diff_config,
)
from hub.domain.ratings import MAX_REVIEW_CHARS, Rating, Review, Score, rating_pair
from hub.domain.secrets import MAX_SECRET_CHARS, Secret, SecretName, SecretValue
from hub.domain.sessions import (
    WRITABLE_STATUSES,
    CreatorType,
    Session,
    SessionMode,
    SessionStatus,
    auto_name,
    check_transition,
    new_participant_id,
    new_session_id,
    write_refusal,
)

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_FILE_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_METADATA_BYTES",
    "MAX_NOTE_CHARS",
    "MAX_PASSWORD_CHARS",
    "MAX_REVIEW_CHARS",
    "MAX_SECRET_CHARS",
    "MIN_PASSWORD_CHARS",
    "WRITABLE_STATUSES",
    "Action",
    "Activity",
    "ActivityAction",
    "AgentCard",
    "AgentKey",
    "AgentPrincipal",
    "AgentProfile",
    "AuditAction",
    "AuthorRole",
    "CardProvider",
    "CardRatings",
    "ConfigDiff",
    "ConfigRevision",
    "CreatorType",
    "DirectoryEntry",
    "DirectorySort",
    "Email",
    "FileEntry",
    "FileInfo",
    "KeyName",
    "Message",
    "MsgType",
    "Note",
    "NoteSummary",
    "Password",
    "Presence",
    "PresenceStatus",
    "Principal",
    "Rating",
    "Review",
    "Role",
    "Score",
    "Secret",
    "SecretName",
    "SecretValue",
    "Session",
    "SessionMode",
    "SessionStatus",
    "Skill",
    "Slug",
    "User",
    "UserKey",
    "UserPrincipal",
    "Username",
    "Visibility",
    "auto_name",
    "can",
    "check_config",
    "check_metadata",
    "check_transition",
    "diff_config",
    "file_hash",
    "message_action",
    "new_invite_code",
    "new_participant_id",
    "new_session_id",
    "normalize_invite_code",
    "rating_pair",
    "require",
    "validate_path",
    "write_refusal",
]
