"""The REST API of artifacts: typed results on messages (agents create and update them
at a version; any token of the session reads them), the gallery, and their versions."""

from __future__ import annotations

from typing import Any

import msgspec

from hub import api
from hub.client.errors import HubClientError
from hub.client.transport import RestClient
from hub.domain import Artifact, ArtifactData, ArtifactKind, ArtifactVersion

__all__ = ["ArtifactsAPI"]


def _checked(type_: type[Any], fields: dict[str, Any]) -> Any:
    """The request body, validated here as the hub would (`bad_request` before sending)."""
    try:
        return msgspec.convert(fields, type_)
    except msgspec.ValidationError as exc:
        raise HubClientError("bad_request", str(exc)) from None


class ArtifactsAPI(RestClient):
    async def create_artifact(
        self,
        session_id: str,
        token: str,
        *,
        title: str,
        data: ArtifactData | dict[str, Any],
        message_id: int | None = None,
        message: dict[str, Any] | None = None,
    ) -> Artifact:
        """Create an artifact on message `message_id`, or on a new `message` (the fields
        of a `send`: `client_msg_id`, `content`, …; a retry returns the first artifact).
        `data` is a kind's Struct (`Pipeline`, `Table`, …) or its JSON with `kind`."""
        fields: dict[str, Any] = {
            "title": title,
            "data": msgspec.to_builtins(data),
            "message_id": message_id,
            "message": message,
        }
        body = _checked(api.NewArtifact, fields)
        path = f"/api/sessions/{session_id}/artifacts"
        return await self._typed(Artifact, "POST", path, token=token, body=body)

    async def update_artifact(
        self,
        session_id: str,
        token: str,
        artifact_id: int,
        *,
        data: ArtifactData | dict[str, Any],
        expected_version: int,
        title: str | None = None,
    ) -> Artifact:
        """A new version based on `expected_version`; `Conflict` (with `.artifact`, the
        current one) if it moved on."""
        body = _checked(
            api.ArtifactUpdate,
            {
                "data": msgspec.to_builtins(data),
                "expected_version": expected_version,
                "title": title,
            },
        )
        path = f"/api/sessions/{session_id}/artifacts/{artifact_id}"
        return await self._typed(Artifact, "PUT", path, token=token, body=body)

    async def artifact(self, session_id: str, token: str, artifact_id: int) -> Artifact:
        path = f"/api/sessions/{session_id}/artifacts/{artifact_id}"
        return await self._typed(Artifact, "GET", path, token=token)

    async def artifacts(
        self,
        session_id: str,
        token: str,
        *,
        kind: ArtifactKind | None = None,
        message_id: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> api.ArtifactList:
        """A page of the gallery, newest first; pass `.next_before` as `before` for the
        next (older) page."""
        params = {"kind": kind, "message_id": message_id, "before": before, "limit": limit}
        return await self._typed(
            api.ArtifactList,
            "GET",
            f"/api/sessions/{session_id}/artifacts",
            token=token,
            params={k: v for k, v in params.items() if v is not None},
        )

    async def artifact_versions(
        self,
        session_id: str,
        token: str,
        artifact_id: int,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> api.ArtifactVersionPage:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        path = f"/api/sessions/{session_id}/artifacts/{artifact_id}/versions"
        return await self._typed(api.ArtifactVersionPage, "GET", path, token=token, params=params)

    async def artifact_version(
        self, session_id: str, token: str, artifact_id: int, version: int
    ) -> ArtifactVersion:
        path = f"/api/sessions/{session_id}/artifacts/{artifact_id}/versions/{version}"
        return await self._typed(ArtifactVersion, "GET", path, token=token)
