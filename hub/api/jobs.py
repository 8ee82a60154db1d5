"""REST bodies of jobs (an agent creates, lists, cancels; anyone in the session reads)
and of runners (runner keys, claiming, and reporting on the job held)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.domain import ArtifactData, AttachmentId
from hub.domain.artifacts import check_size
from hub.domain.jobs import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_LOG_BATCH,
    MAX_LOG_TEXT,
    MAX_NEW_ARTIFACTS,
    Job,
    JobKind,
    JobLogEntry,
    JobStatus,
    LogLevel,
    RunnerKey,
    check_input,
    check_output,
)
from hub.domain.pools import Credits
from hub.domain.spaces import SPACE_REF_PATTERN

__all__ = [
    "AttemptQuery",
    "Claim",
    "ClaimResult",
    "Claimed",
    "CreatedRunnerKey",
    "Heartbeat",
    "JobList",
    "JobLogPage",
    "JobLogQuery",
    "JobQuery",
    "Lease",
    "LogCount",
    "LogLine",
    "LogLines",
    "NewJob",
    "NewRunnerKey",
    "OutputArtifact",
    "ProgressReport",
    "ResultReport",
    "RunnerKeyList",
    "RunnerKeyQuery",
    "RunnerUploadQuery",
]

Attempt = Annotated[int, msgspec.Meta(ge=1, le=10, description="the attempt you claimed")]


class NewJob(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Ask for work of `kind`: `estimated_cost` credits are reserved from the session's
    pool at once (`insufficient_credits` if it holds fewer)."""

    kind: JobKind
    input: Any = None
    """Free JSON (at most 16 KiB encoded, 32 levels deep)."""
    attachments: Annotated[list[AttachmentId], msgspec.Meta(max_length=32)] = []
    """Uploads of the session the job works on."""
    estimated_cost: Credits = 0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = DEFAULT_MAX_ATTEMPTS
    client_job_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    """Your id for this job: a create retried with it (by you, in this session) returns
    the job made the first time, and reserves nothing more."""

    def __post_init__(self) -> None:
        check_input(self.input)


class JobQuery(msgspec.Struct, forbid_unknown_fields=False):
    """Query of GET /jobs: newest first."""

    status: JobStatus | None = None
    kind: JobKind | None = None
    before: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class JobList(msgspec.Struct, kw_only=True):
    jobs: list[Job]
    next_before: str | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class JobLogQuery(msgspec.Struct, forbid_unknown_fields=False):
    after: Annotated[int, msgspec.Meta(ge=0, le=2**31, description="entries after this seq")] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200


class JobLogPage(msgspec.Struct, kw_only=True):
    entries: list[JobLogEntry]


class NewRunnerKey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A runner key serving the job `kinds` of your pools, or, with `space`, of a space
    you own."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    kinds: Annotated[list[JobKind], msgspec.Meta(min_length=1, max_length=32)]
    space: Annotated[str, msgspec.Meta(max_length=80, pattern=SPACE_REF_PATTERN)] | None = None


class CreatedRunnerKey(msgspec.Struct, kw_only=True):
    key: RunnerKey
    token: str
    """The key's text, `rnk_…`: shown this once."""


class RunnerKeyQuery(msgspec.Struct, forbid_unknown_fields=False):
    space: Annotated[str, msgspec.Meta(max_length=80, pattern=SPACE_REF_PATTERN)] | None = None


class RunnerKeyList(msgspec.Struct, kw_only=True):
    keys: list[RunnerKey]


class Claim(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Claim the oldest queued job of these kinds (default: all the key's kinds)."""

    kinds: Annotated[list[JobKind], msgspec.Meta(max_length=32)] | None = None


class Claimed(msgspec.Struct, kw_only=True):
    job: Job
    attempt: int
    """Name it in every report on this job."""
    lease_until: datetime
    lease_seconds: float
    """Heartbeat well within this (the SDK's Runner does every third of it)."""


class ClaimResult(msgspec.Struct, kw_only=True):
    claimed: Claimed | None
    """Null when no job of those kinds is waiting: ask again later."""


class AttemptQuery(msgspec.Struct, forbid_unknown_fields=False):
    attempt: Annotated[int, msgspec.Meta(ge=1, le=10, description="the attempt you claimed")]


class RunnerUploadQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """Query of a runner's upload: the attempt it claimed, and the file name (a multipart
    part's own name wins)."""

    attempt: Annotated[int, msgspec.Meta(ge=1, le=10, description="the attempt you claimed")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None


class Lease(msgspec.Struct, kw_only=True):
    lease_until: datetime


class Heartbeat(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    attempt: Attempt


class ProgressReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Progress (0-100) and a message; `used`: credits used so far (charged if the job
    is cancelled or fails without saying). Renews the lease."""

    attempt: Attempt
    progress: Annotated[int, msgspec.Meta(ge=0, le=100)]
    message: Annotated[str, msgspec.Meta(max_length=500)] = ""
    used: Credits | None = None


class LogCount(msgspec.Struct, kw_only=True):
    log_count: int
    """The job's log entries after these."""


class LogLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(max_length=MAX_LOG_TEXT)]
    level: LogLevel = "info"


class LogLines(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Log entries to append (renews the lease)."""

    attempt: Attempt
    entries: Annotated[list[LogLine], msgspec.Meta(min_length=1, max_length=MAX_LOG_BATCH)]


class OutputArtifact(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An artifact a result makes, on the hub's message announcing the job's end."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    data: ArtifactData

    def __post_init__(self) -> None:
        check_size(self.data)


class ResultReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The job's end: `succeeded` or `failed`. `cost`: credits to charge (capped at the
    reservation; default: all of it on success, what was reported `used` on failure).
    `attachments`: uploads of the job's session (the runner's own, `…/attachments`);
    `artifacts`: ids of the session's artifacts; `new_artifacts`: artifacts to make on the
    hub's system message announcing the end (written when the result names attachments
    or new artifacts)."""

    attempt: Attempt
    status: Literal["succeeded", "failed"]
    output: Any = None
    attachments: Annotated[list[AttachmentId], msgspec.Meta(max_length=32)] = []
    artifacts: Annotated[list[Annotated[int, msgspec.Meta(ge=1)]], msgspec.Meta(max_length=32)] = []
    new_artifacts: Annotated[list[OutputArtifact], msgspec.Meta(max_length=MAX_NEW_ARTIFACTS)] = []
    cost: Credits | None = None
    error: Annotated[str, msgspec.Meta(max_length=2000)] | None = None

    def __post_init__(self) -> None:
        check_output(self.output)
