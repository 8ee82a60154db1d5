"""REST bodies of pipeline runs: an agent starts and cancels one; anyone in the session
lists and reads them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain.jobs import DEFAULT_MAX_ATTEMPTS, Job
from hub.domain.pipelines import PipelineRun, RunLogEntry, RunStatus
from hub.domain.pools import Credits

__all__ = ["NewRun", "RunDetail", "RunList", "RunQuery"]


class NewRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Run a pipeline artifact of the session, at its current version or at `version`:
    one job per node (kind: the node's `type`). Each node's estimated cost is
    `costs[node id]`, else its `config.estimated_cost`, else `default_cost`; the sum is
    reserved from the session's pool at once (`insufficient_credits` and nothing made if
    it holds less)."""

    artifact_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    costs: Annotated[dict[str, Credits], msgspec.Meta(max_length=500)] = {}
    default_cost: Credits = 0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = DEFAULT_MAX_ATTEMPTS
    """Of each node's job."""
    client_run_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    """Your id for this run: a start retried with it (by you, in this session) returns
    the run made the first time, and reserves nothing more."""


class RunQuery(msgspec.Struct, forbid_unknown_fields=False):
    """Query of GET /pipeline-runs: newest first."""

    status: RunStatus | None = None
    before: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class RunList(msgspec.Struct, kw_only=True):
    runs: list[PipelineRun]
    next_before: str | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class RunDetail(msgspec.Struct, kw_only=True):
    """A run with its nodes' jobs (their outputs, errors and costs) and its execution
    log, oldest first."""

    run: PipelineRun
    jobs: list[Job]
    """In the run's node order."""
    log: list[RunLogEntry]
