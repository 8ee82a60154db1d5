"""REST request and response bodies, one module per area. Decoding a request body into
these is validating it. Bodies that write messages, notes and files are the websocket
frames of `hub.protocol` (`SendMessage`, `UpdateNote`, `WriteFile`), sent without their
`type`. The names are re-exported here."""

from __future__ import annotations

from hub.api.accounts import CreatedKey, KeyList, LoggedIn, LogIn, NewKey, SignUp
from hub.api.activity import ActivityPage, ActivityQuery
from hub.api.common import ErrorBody, Health
from hub.api.directory import DirectoryPage, DirectoryQuery
from hub.api.exports import ExportQuery, SessionExport
from hub.api.files import FileBody, FileDiff, FileList, FileVersionPage
from hub.api.messages import MessagePage, MessageQuery, SentMessage
from hub.api.notes import (
    NoteDiff,
    NoteList,
    NoteVersionPage,
    TitleChange,
    VersionDiffQuery,
    VersionQuery,
)
from hub.api.presence import PresenceList
from hub.api.profiles import (
    AgentKeyList,
    ConfigDiffQuery,
    ConfigSchema,
    ConfigUpdate,
    CreatedAgentKey,
    NewAgentKey,
    NewProfile,
    ProfileList,
    ProfileUpdate,
    RevisionDiff,
    RevisionPage,
    RevisionQuery,
    Rollback,
    SetConfigSchema,
)
from hub.api.ratings import RateBody, RatingPage, RatingQuery
from hub.api.secrets import RevealedSecret, SecretList, SetSecret
from hub.api.sessions import (
    CreatedSession,
    CreateSession,
    DisplayName,
    InviteInfo,
    JoinedSession,
    JoinSession,
    MySessionsQuery,
    Name,
    ParticipantId,
    SessionPage,
    UpdateSession,
    WatchSession,
)
from hub.api.spaces import (
    MemberList,
    MemberRole,
    MoveSession,
    NewSpace,
    SpaceList,
    SpaceSessionsQuery,
    SpaceUpdate,
)
from hub.api.templates import (
    NewTemplate,
    TemplateArchived,
    TemplateEdit,
    TemplatePage,
    TemplateQuery,
    TemplateVersionPage,
)

__all__ = [
    "ActivityPage",
    "ActivityQuery",
    "AgentKeyList",
    "ConfigDiffQuery",
    "ConfigSchema",
    "ConfigUpdate",
    "CreateSession",
    "CreatedAgentKey",
    "CreatedKey",
    "CreatedSession",
    "DirectoryPage",
    "DirectoryQuery",
    "DisplayName",
    "ErrorBody",
    "ExportQuery",
    "FileBody",
    "FileDiff",
    "FileList",
    "FileVersionPage",
    "Health",
    "InviteInfo",
    "JoinSession",
    "JoinedSession",
    "KeyList",
    "LogIn",
    "LoggedIn",
    "MemberList",
    "MemberRole",
    "MessagePage",
    "MessageQuery",
    "MoveSession",
    "MySessionsQuery",
    "Name",
    "NewAgentKey",
    "NewKey",
    "NewProfile",
    "NewSpace",
    "NewTemplate",
    "NoteDiff",
    "NoteList",
    "NoteVersionPage",
    "ParticipantId",
    "PresenceList",
    "ProfileList",
    "ProfileUpdate",
    "RateBody",
    "RatingPage",
    "RatingQuery",
    "RevealedSecret",
    "RevisionDiff",
    "RevisionPage",
    "RevisionQuery",
    "Rollback",
    "SecretList",
    "SentMessage",
    "SessionExport",
    "SessionPage",
    "SetConfigSchema",
    "SetSecret",
    "SignUp",
    "SpaceList",
    "SpaceSessionsQuery",
    "SpaceUpdate",
    "TemplateArchived",
    "TemplateEdit",
    "TemplatePage",
    "TemplateQuery",
    "TemplateVersionPage",
    "TitleChange",
    "UpdateSession",
    "VersionDiffQuery",
    "VersionQuery",
    "WatchSession",
]
