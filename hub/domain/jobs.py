"""Jobs and runners: work agents ask for, done by programs holding runner keys.

A job's life: `queued` → `running` (a runner claimed it and holds a lease it renews by
heartbeat) → `succeeded` | `failed` (the runner's result), or `cancelled` (by an agent
of the session, queued or running). A lease that runs out puts a running job back in the
queue, once per expiry, until it has been tried `max_attempts` times: then it ends
`timed_out`. A runner reports only on the job it holds: the same key, the attempt it
claimed, a lease not run out (`lease_lost` otherwise). Pure rules: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from nanoid import generate as nanoid

from hub.domain.access import Role
from hub.domain.metadata import check_json
from hub.errors import HubError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "FINISHED",
    "HUB_AUTHOR",
    "JOB_ID_PREFIX",
    "KIND_PATTERN",
    "MAX_INPUT_BYTES",
    "MAX_LOG_BATCH",
    "MAX_LOG_ENTRIES",
    "MAX_LOG_TEXT",
    "MAX_NEW_ARTIFACTS",
    "MAX_OUTPUT_BYTES",
    "RUNNER_KEY_PREFIX",
    "Job",
    "JobKind",
    "JobLogEntry",
    "JobStatus",
    "LogLevel",
    "RunnerKey",
    "RunnerPrincipal",
    "after_expiry",
    "check_cancel",
    "check_held",
    "check_input",
    "check_output",
    "end_content",
    "new_job_id",
    "result_charge",
]

JOB_ID_PREFIX = "job_"
RUNNER_KEY_PREFIX = "rnk_"
KIND_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
JobKind = Annotated[
    str,
    msgspec.Meta(
        pattern=KIND_PATTERN,
        description="1-64 lower-case letters, digits, '_', '.' or '-', like fold.protein",
    ),
]
MAX_INPUT_BYTES = 16 * 1024
MAX_OUTPUT_BYTES = 64 * 1024
MAX_LOG_TEXT = 4000
MAX_LOG_ENTRIES = 10_000
"""Log entries one job keeps; more are refused (`quota_exceeded`)."""
MAX_LOG_BATCH = 100
DEFAULT_MAX_ATTEMPTS = 3
MAX_NEW_ARTIFACTS = 8
"""Artifacts one result may make (on the hub's message announcing the job's end)."""
HUB_AUTHOR = "hub"
"""The author of the system message announcing a job's end."""

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "timed_out"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
LogLevel = Literal["debug", "info", "warning", "error"]


def new_job_id() -> str:
    return JOB_ID_PREFIX + str(nanoid(size=21))


class Job(msgspec.Struct, kw_only=True):
    """A job as the session (and the runner holding it) sees it."""

    id: str
    session_id: str
    pool_id: str
    kind: str
    input: Any
    input_attachments: list[str]
    requested_by: str
    requested_role: Role
    client_job_id: str | None
    """The requester's id for it: a create retried with it returns this job."""
    status: JobStatus
    progress: int
    """0-100, as the runner last reported."""
    progress_message: str
    output: Any
    output_attachments: list[str]
    output_artifacts: list[int]
    error: str | None
    cost_reserved: int
    """The estimate reserved from the pool when the job was created."""
    cost_used: int
    """What the runner last reported as used (at most the reservation)."""
    cost_charged: int | None
    """What the pool was charged when the job finished (null until then)."""
    cost_refunded: int
    """What the pool's owner gave back of the charge since."""
    attempts: int
    max_attempts: int
    runner_key_id: str | None
    """The runner key that holds it (or last held it)."""
    lease_until: datetime | None
    log_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class JobLogEntry(msgspec.Struct, kw_only=True):
    seq: int
    attempt: int
    level: LogLevel
    text: str
    at: datetime


class RunnerKey(msgspec.Struct, kw_only=True):
    """A runner key as listed: its id, name and kinds, never its text."""

    id: str
    name: str
    kinds: list[str]
    owner_kind: Literal["user", "space"]
    owner: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class RunnerPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a runner key speaks for: a program serving its owner's pools, for some kinds."""

    key_id: str
    name: str
    kinds: tuple[str, ...]
    owner_user_id: str | None
    owner_space_id: str | None


def check_input(value: Any) -> None:
    """Refuse (ValueError) job input nested too deep or over `MAX_INPUT_BYTES` encoded."""
    _check_json(value, "input", MAX_INPUT_BYTES)


def check_output(value: Any) -> None:
    """Refuse (ValueError) output nested too deep or over `MAX_OUTPUT_BYTES` encoded."""
    _check_json(value, "output", MAX_OUTPUT_BYTES)


def _check_json(value: Any, what: str, max_bytes: int) -> None:
    if isinstance(value, dict | list):
        check_json(value, what, max_bytes)
    elif len(msgspec.json.encode(value)) > max_bytes:
        raise ValueError(f"{what} is larger than {max_bytes} bytes encoded")


def check_cancel(status: JobStatus) -> None:
    """Raise `invalid_transition` unless a job in `status` may be cancelled (queued or
    running)."""
    if status in FINISHED:
        raise HubError("invalid_transition", f"the job is already {status}")


def check_held(
    *,
    status: JobStatus,
    holder: str | None,
    attempts: int,
    lease_until: datetime | None,
    now: datetime,
    runner: RunnerPrincipal,
    attempt: int,
) -> None:
    """Raise `lease_lost` unless `runner` holds the job at `attempt`: running, claimed by
    this key at this attempt, its lease not run out."""
    if status != "running" or holder != runner.key_id or attempts != attempt:
        why = f"the job is {status}" if status != "running" else "another claim holds it"
        raise HubError("lease_lost", f"you do not hold this job ({why})")
    if lease_until is None or lease_until <= now:
        raise HubError("lease_lost", "your lease on this job ran out")


def result_charge(
    status: Literal["succeeded", "failed"], reported: int | None, used: int, reserved: int
) -> int:
    """What a result charges (`settle` caps it at the reservation): what the runner
    reports; if it reports nothing, a success everything reserved, a failure what was
    last reported as used."""
    if reported is not None:
        return reported
    return reserved if status == "succeeded" else used


def after_expiry(attempts: int, max_attempts: int) -> JobStatus:
    """Where a running job goes when its lease runs out: back to the queue, or, tried
    `max_attempts` times, `timed_out`."""
    return "queued" if attempts < max_attempts else "timed_out"


def end_content(job_id: str, kind: str, status: JobStatus, files: int, artifacts: int) -> str:
    """The text of the hub's message announcing a job's end with its output files and
    artifacts: "job job_… (fold.protein) succeeded: 2 files, 1 artifact"."""
    parts = [
        f"{n} {what}{'' if n == 1 else 's'}"
        for n, what in ((files, "file"), (artifacts, "artifact"))
        if n
    ]
    return f"job {job_id} ({kind}) {status.replace('_', ' ')}" + (
        ": " + ", ".join(parts) if parts else ""
    )
