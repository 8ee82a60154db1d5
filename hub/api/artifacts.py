"""REST bodies of artifacts: create one on a message of the session (or with a new
message, the `send` frame without its `type`), update one at a version, the gallery's
query and pages, and an artifact's versions."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.api.notes import Version
from hub.domain import Artifact, ArtifactData, ArtifactKind, ArtifactVersionInfo
from hub.domain.artifacts import check_size
from hub.protocol import SendMessage

__all__ = ["ArtifactList", "ArtifactQuery", "ArtifactUpdate", "ArtifactVersionPage", "NewArtifact"]

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
MessageId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class NewArtifact(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An artifact on message `message_id` of the session, or on `message`, sent first
    (exactly one of the two). `data` is tagged by `kind`."""

    title: Title
    data: ArtifactData
    message_id: MessageId | None = None
    message: SendMessage | None = None
    """A message to send and attach the artifact to (idempotent on its `client_msg_id`:
    a retry returns the artifact made the first time)."""

    def __post_init__(self) -> None:
        if (self.message_id is None) == (self.message is None):
            raise ValueError("give exactly one of message_id and message")
        check_size(self.data)


class ArtifactUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new version of an artifact, based on `expected_version` (its kind stays)."""

    expected_version: Version
    data: ArtifactData
    title: Title | None = None

    def __post_init__(self) -> None:
        check_size(self.data)


class ArtifactQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """The gallery: the session's artifacts newest first, of one kind (or message) if
    given, those with ids below `before`."""

    kind: ArtifactKind | None = None
    message_id: MessageId | None = None
    before: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class ArtifactList(msgspec.Struct, kw_only=True):
    artifacts: list[Artifact]
    next_before: int | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class ArtifactVersionPage(msgspec.Struct, kw_only=True):
    versions: list[ArtifactVersionInfo]
    """Newest first, without data (read one with …/versions/{version})."""
    next_before: int | None
