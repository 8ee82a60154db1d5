"""Bodies every route shares: an error, and the health of the process."""

from __future__ import annotations

import msgspec

from hub.domain import Artifact, ConfigRevision, FileInfo, Note, Template
from hub.domain.approvals import Approval


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str
    database: bool | None = None
    bus: bool | None = None


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: str
    message: str
    note: Note | None = None
    file: FileInfo | None = None
    revision: ConfigRevision | None = None
    """On an agent configuration `conflict`: the current revision."""
    template: Template | None = None
    """On a template `conflict`: the current template."""
    artifact: Artifact | None = None
    """On an artifact `conflict`: the current artifact."""
    approval: Approval | None = None
    """On an approval `conflict`: the decision that was made first (or the expiry)."""
