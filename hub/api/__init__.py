"""REST request and response bodies, one module per area. Decoding a request body into
these is validating it. Bodies that write messages, notes and files are the websocket
frames of `hub.protocol` (`SendMessage`, `UpdateNote`, `WriteFile`), sent without their
`type`. The names are re-exported here."""

from __future__ import annotations

from hub.api.accounts import CreatedKey, KeyList, LoggedIn, LogIn, NewKey, SignUp
from hub.api.activity import ActivityPage, ActivityQuery
from hub.api.common import ErrorBody, Health
from hub.api.files import FileBody, FileList
from hub.api.messages import MessagePage, MessageQuery, SentMessage
from hub.api.notes import NoteList
from hub.api.presence import PresenceList
from hub.api.secrets import RevealedSecret, SecretList, SetSecret
from hub.api.sessions import (
    CreatedSession,
    CreateSession,
    DisplayName,
    InviteInfo,
    JoinedSession,
    JoinSession,
    Name,
    ParticipantId,
    UpdateSession,
)

__all__ = [
    "ActivityPage",
    "ActivityQuery",
    "CreateSession",
    "CreatedKey",
    "CreatedSession",
    "DisplayName",
    "ErrorBody",
    "FileBody",
    "FileList",
    "Health",
    "InviteInfo",
    "JoinSession",
    "JoinedSession",
    "KeyList",
    "LogIn",
    "LoggedIn",
    "MessagePage",
    "MessageQuery",
    "Name",
    "NewKey",
    "NoteList",
    "ParticipantId",
    "PresenceList",
    "RevealedSecret",
    "SecretList",
    "SentMessage",
    "SetSecret",
    "SignUp",
    "UpdateSession",
]
