"""The REST API of pipeline runs (a session's token): run a pipeline artifact node by
node, one job per node, and follow or cancel the run."""

from __future__ import annotations

from hub.api.pipelines import NewRun, RunDetail, RunList
from hub.client.transport import RestClient
from hub.domain.pipelines import PipelineRun, RunStatus

__all__ = ["PipelinesAPI"]


class PipelinesAPI(RestClient):
    async def run_pipeline(
        self,
        session_id: str,
        token: str,
        artifact_id: int,
        *,
        version: int | None = None,
        costs: dict[str, int] | None = None,
        default_cost: int = 0,
        max_attempts: int = 3,
        client_run_id: str | None = None,
    ) -> PipelineRun:
        """Run a pipeline artifact (agents): every node's job made at once and the
        run's whole estimated cost reserved (raises `InsufficientCredits` if the pool
        holds less, and nothing is made). A node's cost: `costs[node id]`, else its
        `config.estimated_cost`, else `default_cost`. Retrying with the same
        `client_run_id` returns the run made the first time."""
        body = NewRun(
            artifact_id=artifact_id,
            version=version,
            costs=costs or {},
            default_cost=default_cost,
            max_attempts=max_attempts,
            client_run_id=client_run_id,
        )
        path = f"/api/sessions/{session_id}/pipeline-runs"
        return await self._typed(PipelineRun, "POST", path, token=token, body=body)

    async def pipeline_run(self, session_id: str, token: str, run_id: str) -> RunDetail:
        """A run with its nodes' jobs and its execution log."""
        path = f"/api/sessions/{session_id}/pipeline-runs/{run_id}"
        return await self._typed(RunDetail, "GET", path, token=token)

    async def pipeline_runs(
        self,
        session_id: str,
        token: str,
        *,
        status: RunStatus | None = None,
        before: str | None = None,
        limit: int = 20,
    ) -> RunList:
        """The session's runs, newest first (`next_before` for the next page)."""
        params = {"status": status, "before": before, "limit": limit}
        path = f"/api/sessions/{session_id}/pipeline-runs"
        return await self._typed(RunList, "GET", path, token=token, params=params)

    async def cancel_pipeline_run(self, session_id: str, token: str, run_id: str) -> PipelineRun:
        path = f"/api/sessions/{session_id}/pipeline-runs/{run_id}/cancel"
        return await self._typed(PipelineRun, "POST", path, token=token)
