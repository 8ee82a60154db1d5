"""Artifacts: typed results on messages, written by agents and read by any token of the
session. Created on a message of the session (or with a new one, sent first through the
ordinary message path), updated at the version the editor read (a stale update gets
`conflict` carrying the current artifact), every version kept and listable. Each change
is published as an `artifact` event so observers see it appear."""

from __future__ import annotations

from hub import api
from hub.domain import Artifact, ArtifactVersion, Message, Principal, require
from hub.domain.artifacts import GALLERY_PAGE_BYTES, referenced_attachments
from hub.protocol import ArtifactEvent, SendMessage
from hub.services.events import Events
from hub.services.messages import Messages
from hub.store import Store, changes
from hub.store import artifacts as artifact_store
from hub.store import attachments as attachment_store
from hub.store import sessions as session_store

__all__ = ["Artifacts"]

ARTIFACT_REFUSAL = "the artifact references attachments that are not this session's"


class Artifacts:
    def __init__(self, store: Store, events: Events, messages: Messages) -> None:
        self._store = store
        self._events = events
        self._messages = messages

    async def create(self, principal: Principal, new: api.NewArtifact) -> tuple[Artifact, bool]:
        """Create an artifact; (artifact, whether it was a retry). With `message`, the
        message is sent first (idempotent on its `client_msg_id`), and the message holds
        one artifact made with it: a retry, even concurrent with the first attempt,
        returns that one instead of making a second."""
        require(principal, "write_artifacts")
        references = referenced_attachments(new.data)
        client_msg_id = None
        if new.message is not None:
            async with self._store.connection() as conn:
                await attachment_store.check_session_uploads(
                    conn, principal.session_id, references, ARTIFACT_REFUSAL
                )
            message, _ = await self._send(principal, new.message)
            message_id, client_msg_id = message.id, new.message.client_msg_id
        else:
            assert new.message_id is not None
            message_id = new.message_id
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, principal.session_id)
            await attachment_store.check_session_uploads(
                conn, principal.session_id, references, ARTIFACT_REFUSAL
            )
            artifact = await artifact_store.create_artifact(
                conn,
                principal.session_id,
                message_id=message_id,
                title=new.title,
                data=new.data,
                creator=principal.participant_id,
                client_msg_id=client_msg_id,
            )
            if artifact is None:  # a retry: the artifact made with this message then
                earlier = await artifact_store.made_with_message(
                    conn, principal.session_id, message_id
                )
                assert earlier is not None
                return earlier, True
            event = ArtifactEvent(artifact=artifact)
            await changes.record_as(
                conn,
                principal,
                "artifact.created",
                {"artifact_id": artifact.id, "kind": artifact.kind, "message_id": message_id},
                outbox=("artifact.created", event),
            )
        await self._events.publish(principal.session_id, event)
        return artifact, False

    async def _send(self, principal: Principal, frame: SendMessage) -> tuple[Message, bool]:
        return await self._messages.send(principal, frame)

    async def update(
        self, principal: Principal, artifact_id: int, change: api.ArtifactUpdate
    ) -> Artifact:
        """A new version at `expected_version`; `conflict` (with the current artifact)
        if it moved on. Of concurrent updates at one version exactly one wins."""
        require(principal, "write_artifacts")
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, principal.session_id)
            await attachment_store.check_session_uploads(
                conn, principal.session_id, referenced_attachments(change.data), ARTIFACT_REFUSAL
            )
            artifact = await artifact_store.update_artifact(
                conn,
                principal.session_id,
                artifact_id,
                title=change.title,
                data=change.data,
                expected_version=change.expected_version,
                editor=principal.participant_id,
            )
            event = ArtifactEvent(artifact=artifact)
            await changes.record_as(
                conn,
                principal,
                "artifact.updated",
                {"artifact_id": artifact.id, "version": artifact.version},
                outbox=("artifact.updated", event),
            )
        await self._events.publish(principal.session_id, event)
        return artifact

    async def get(self, principal: Principal, artifact_id: int) -> Artifact:
        async with self._store.connection() as conn:
            return await artifact_store.get_artifact(conn, principal.session_id, artifact_id)

    async def list(self, principal: Principal, query: api.ArtifactQuery) -> api.ArtifactList:
        """The gallery, newest first, a page at a time (keyset: `before` an id): at most
        `limit` artifacts, whose data come to at most 1 MiB (or one artifact)."""
        async with self._store.connection() as conn:
            found, more = await artifact_store.list_artifacts(
                conn,
                principal.session_id,
                kind=query.kind,
                message_id=query.message_id,
                before=query.before,
                limit=query.limit,
                max_bytes=GALLERY_PAGE_BYTES,
            )
        more = more and bool(found)
        return api.ArtifactList(artifacts=found, next_before=found[-1].id if more else None)

    async def versions(
        self, principal: Principal, artifact_id: int, query: api.VersionQuery
    ) -> api.ArtifactVersionPage:
        """An artifact's versions newest first (keyset: `before` a version)."""
        async with self._store.connection() as conn:
            versions = await artifact_store.list_artifact_versions(
                conn, principal.session_id, artifact_id, before=query.before, limit=query.limit
            )
        last = versions[-1].version if versions else 1
        more = len(versions) == query.limit and last > 1
        return api.ArtifactVersionPage(versions=versions, next_before=last if more else None)

    async def version(
        self, principal: Principal, artifact_id: int, version: int
    ) -> ArtifactVersion:
        async with self._store.connection() as conn:
            return await artifact_store.get_artifact_version(
                conn, principal.session_id, artifact_id, version
            )
