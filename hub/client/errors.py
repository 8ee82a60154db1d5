"""The SDK's exceptions: one per situation an application must handle, and the mapping
from the hub's error codes to them (for REST answers and websocket error frames alike)."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.domain import Artifact, ConfigRevision, FileInfo, Note, Template
from hub.domain.approvals import Approval

__all__ = [
    "AuthFailed",
    "Conflict",
    "HubClientError",
    "HubTimeout",
    "HubUnavailable",
    "InsufficientCredits",
    "LeaseLost",
    "PayloadTooLarge",
    "SessionDeleted",
    "SessionFull",
    "from_code",
    "too_large",
]


class HubClientError(Exception):
    """An error answered by the hub: `code` is one of the hub's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AuthFailed(HubClientError):
    """The token is missing, unknown or revoked; retrying with it will not help."""


class SessionDeleted(HubClientError):
    """The session was deleted."""


class HubUnavailable(HubClientError):
    """The hub cannot be reached (or could not be reached again within the time given)."""


class HubTimeout(HubClientError):
    """The hub did not answer in time; the change may or may not have been made."""


class PayloadTooLarge(HubClientError):
    """The frame is larger than the hub accepts; it was not sent."""


class SessionFull(HubClientError):
    """Agent B has already joined that session."""


class Conflict(HubClientError):
    """A note, file, artifact, agent configuration or template changed since the version you based
    your edit on (or, creating one, its name is taken); carries the current one when
    there is one."""

    def __init__(
        self,
        message: str,
        note: Note | None = None,
        file: FileInfo | None = None,
        revision: ConfigRevision | None = None,
        template: Template | None = None,
        artifact: Artifact | None = None,
        approval: Approval | None = None,
    ):
        super().__init__("conflict", message)
        self.artifact = artifact
        self.note = note
        self.file = file
        self.revision = revision
        self.template = template
        self.approval = approval
        """On an approval `conflict`: the decision made first (or the expiry)."""


class InsufficientCredits(HubClientError):
    """The session's pool holds fewer credits than the job's estimate: nothing was
    reserved or queued."""


class LeaseLost(HubClientError):
    """The runner no longer holds that job (its lease ran out, it was cancelled, or
    another claim holds it): stop working on it."""


_BY_CODE: dict[str, type[HubClientError]] = {
    "unauthorized": AuthFailed,
    "unavailable": HubUnavailable,
    "payload_too_large": PayloadTooLarge,
    "session_deleted": SessionDeleted,
    "session_full": SessionFull,
    "insufficient_credits": InsufficientCredits,
    "lease_lost": LeaseLost,
}


def from_code(
    code: str,
    message: str,
    note: Note | None = None,
    file: Any = None,
    revision: Any = None,
    template: Any = None,
    artifact: Any = None,
    approval: Any = None,
) -> HubClientError:
    """The exception for one of the hub's error codes; a `conflict` carries the current
    note, file, configuration revision, template, artifact or approval decision (`file`,
    `revision`, `template`, `artifact` and `approval` may still be the decoded JSON of a
    REST answer)."""
    if code == "conflict":
        info = msgspec.convert(file, FileInfo) if isinstance(file, dict) else file
        current = msgspec.convert(revision, ConfigRevision) if revision else None
        latest = msgspec.convert(template, Template) if template else None
        art = msgspec.convert(artifact, Artifact) if isinstance(artifact, dict) else artifact
        decided = msgspec.convert(approval, Approval) if isinstance(approval, dict) else approval
        return Conflict(
            message,
            note=note,
            file=info,
            revision=current,
            template=latest,
            artifact=art,
            approval=decided,
        )
    return _BY_CODE.get(code, HubClientError)(code, message)


def too_large(size: int, limit: int) -> PayloadTooLarge:
    """A frame of `size` bytes over the hub's `limit`: refused without sending it."""
    return PayloadTooLarge(
        "payload_too_large", f"the frame is {size} bytes; the hub takes at most {limit}"
    )
