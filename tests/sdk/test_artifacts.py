"""The SDK's artifacts: create on a new message or an existing one (a kind's Struct or
its JSON), the gallery by kind, updates at a version with `Conflict` carrying the current
artifact, the versions, and refusals raised before anything is sent."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from hub.client import Conflict, HubAPI, HubClientError, connect
from hub.config import Config, load_config
from hub.domain.artifacts import Pipeline, PipelineEdge, PipelineNode, Table
from hub.protocol import ArtifactEvent, AttachmentEvent, MessageEvent
from tests.helpers import TEST_SECRET_KEY


@pytest.fixture
def config(database_url: str) -> Config:
    """One bus is enough for the SDK's side."""
    return load_config({}, database_url=database_url, secret_key=TEST_SECRET_KEY)


async def test_artifacts_through_the_sdk(hub_server: TestServer) -> None:
    """An agent creates a pipeline with a message and a table on it, lists the gallery
    (all, and tables only), updates the table, gets `Conflict` with the current one for
    a stale update, and reads both versions; an observer reads but may not write; a
    cyclic pipeline is refused before it is sent."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        token, sid = created.agent_token, created.session.id
        async with connect(base, token) as session:
            graph = Pipeline(
                nodes=[PipelineNode(id="fetch", type="io"), PipelineNode(id="fit", type="ml")],
                edges=[PipelineEdge(source="fetch", target="fit")],
            )
            flow = await session.create_artifact("Flow", graph, message="the workflow")
            assert flow.kind == "pipeline" and flow.data == graph
            scores = await session.create_artifact(
                "Scores",
                {"kind": "table", "columns": ["m", "r2"], "rows": [["a", 0.9]]},
                message_id=flow.message_id,
            )
            assert isinstance(scores.data, Table) and scores.message_id == flow.message_id
            assert [a.id for a in await session.list_artifacts()] == [scores.id, flow.id]
            assert [a.id for a in await session.list_artifacts("table")] == [scores.id]

            newer = await session.update_artifact(
                scores.id, Table(columns=["m", "r2"], rows=[["b", 0.95]]), expected_version=1
            )
            assert newer.version == 2
            with pytest.raises(Conflict) as caught:
                await session.update_artifact(
                    scores.id, Table(columns=["m"], rows=[]), expected_version=1
                )
            assert caught.value.artifact == newer
            versions = await session.artifact_versions(scores.id)
            assert [v.version for v in versions] == [2, 1]
            first = await rest.artifact_version(sid, token, scores.id, 1)
            assert first.data == scores.data

            cyclic = {
                "kind": "pipeline",
                "nodes": [{"id": "a", "type": "t"}],
                "edges": [{"source": "a", "target": "a"}],
            }
            with pytest.raises(HubClientError) as refused:
                await session.create_artifact("Loop", cyclic, message_id=flow.message_id)
            assert refused.value.code == "bad_request" and "cycle" in str(refused.value)

        observer = created.observer_token
        assert (await rest.artifact(sid, observer, flow.id)).title == "Flow"
        with pytest.raises(HubClientError) as forbidden:
            await rest.create_artifact(
                sid, observer, title="x", data=Table(columns=["a"]), message_id=1
            )
        assert forbidden.value.code == "forbidden"


async def test_the_other_agent_hears_uploads_and_artifacts(hub_server: TestServer) -> None:
    """Agent B's live session yields an `AttachmentEvent` for A's upload and an
    `ArtifactEvent` for each version of A's artifact, in order with the messages."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        joined = await rest.join(created.invite_code)
        async with (
            connect(base, created.agent_token) as a,
            connect(base, joined.token) as b,
        ):
            sent = await a.send("data", attachments=[b"1,2\n"])
            table = await a.create_artifact(
                "T", Table(columns=["x"], rows=[[1]]), message_id=sent.id
            )
            await a.update_artifact(table.id, Table(columns=["x"], rows=[[2]]), expected_version=1)
            await a.send("done")
            seen: list[object] = []
            async with asyncio.timeout(10):
                async for event in b:
                    seen.append(event)
                    if isinstance(event, MessageEvent) and event.message.content == "done":
                        break
            uploads = [e.attachment.id for e in seen if isinstance(e, AttachmentEvent)]
            versions = [
                (e.artifact.id, e.artifact.version) for e in seen if isinstance(e, ArtifactEvent)
            ]
            assert uploads == sent.attachment_ids
            assert versions == [(table.id, 1), (table.id, 2)]
