"""The SDK's REST client: create a session, join with an invite code, read history,
notes, files, presence and the audit log, change or delete a session; keep one's
secrets in the vault (with a user key)."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import aiohttp
import msgspec

from hub import api
from hub.client.errors import HubClientError, from_code
from hub.domain import (
    Activity,
    AgentKey,
    AgentProfile,
    ConfigRevision,
    FileEntry,
    FileInfo,
    Message,
    Note,
    Presence,
    Secret,
    SessionStatus,
    User,
    UserKey,
)
from hub.domain import Session as DomainSession
from hub.protocol import SendMessage

__all__ = ["HubAPI", "new_client_msg_id", "send_message"]

T = TypeVar("T")


def new_client_msg_id() -> str:
    """A fresh `client_msg_id`: the hub commits one message per id, so a retry is safe."""
    return "sdk-" + secrets.token_hex(12)


def send_message(content: str, *, client_msg_id: str | None = None, **fields: Any) -> SendMessage:
    """The `send` frame (or REST body) for `content`, with a fresh `client_msg_id` unless
    one is given; metadata the hub would refuse raises `HubClientError` `bad_request`."""
    try:
        return SendMessage(
            client_msg_id=client_msg_id or new_client_msg_id(), content=content, **fields
        )
    except ValueError as exc:  # from the metadata check, as the hub would answer
        raise HubClientError("bad_request", str(exc)) from None


class HubAPI:
    """REST helpers: create a session, join with an invite code, read history."""

    def __init__(self, base_url: str, *, http: aiohttp.ClientSession | None = None) -> None:
        self.base = base_url.rstrip("/")
        self._http = http
        self._own = http is None

    async def __aenter__(self) -> HubAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer; an error answer raises the matching `HubClientError`."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        clean = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session().request(
                method,
                self.base + path,
                data=data,
                headers=headers,
                params=clean,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HubClientError(
                "unavailable", f"cannot reach the hub at {self.base}: {exc}"
            ) from exc
        decoded = msgspec.json.decode(raw) if raw else None
        if response.status >= 400:
            detail = decoded if isinstance(decoded, dict) else {}
            note = detail.get("note")
            raise from_code(
                str(detail.get("code", "internal")),
                str(detail.get("message", f"HTTP {response.status}")),
                msgspec.convert(note, Note) if note else None,
                detail.get("file"),
                detail.get("revision"),
            )
        return decoded

    async def _typed(self, answer: type[T], method: str, path: str, **request: Any) -> T:
        """`request` (its keyword arguments as there), the answer converted to `answer`."""
        return msgspec.convert(await self.request(method, path, **request), answer)

    # -- people: accounts and user keys (usr_…) ------------------------------------------

    async def sign_up(
        self,
        username: str,
        password: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
    ) -> User:
        """Create an account; `HubClientError` `conflict` if the name or email is taken."""
        body = api.SignUp(
            username=username, password=password, display_name=display_name, email=email
        )
        return await self._typed(User, "POST", "/api/users", body=body)

    async def log_in(
        self, username: str, password: str, *, key_name: str = "log-in"
    ) -> api.LoggedIn:
        """A new user key (`.token`, shown once) named `key_name`."""
        body = api.LogIn(username=username, password=password, key_name=key_name)
        return await self._typed(api.LoggedIn, "POST", "/api/login", body=body)

    async def me(self, user_key: str) -> User:
        return await self._typed(User, "GET", "/api/me", token=user_key)

    async def user_keys(self, user_key: str) -> list[UserKey]:
        listed = await self._typed(api.KeyList, "GET", "/api/me/keys", token=user_key)
        return listed.keys

    async def create_user_key(self, user_key: str, name: str) -> api.CreatedKey:
        body = api.NewKey(name=name)
        return await self._typed(api.CreatedKey, "POST", "/api/me/keys", token=user_key, body=body)

    async def revoke_user_key(self, user_key: str, key_id: str) -> UserKey:
        path = f"/api/me/keys/{urllib.parse.quote(key_id, safe='')}"
        return await self._typed(UserKey, "DELETE", path, token=user_key)

    async def create_session(
        self, *, agent_key: str | None = None, **fields: Any
    ) -> api.CreatedSession:
        """Create a session (fields as `api.CreateSession`); returns the credentials.
        With `agent_key` (`agk_…`), agent A is that key's profile, verified. Fields the
        hub would refuse raise `HubClientError` `bad_request` before sending."""
        try:
            body = msgspec.convert(fields, api.CreateSession)
        except (msgspec.ValidationError, ValueError) as exc:
            raise HubClientError("bad_request", str(exc)) from None
        return await self._typed(
            api.CreatedSession, "POST", "/api/sessions", body=body, token=agent_key
        )

    async def join(
        self,
        invite_code: str,
        *,
        role: str = "agent",
        agent_id: str | None = None,
        display_name: str | None = None,
        agent_key: str | None = None,
    ) -> api.JoinedSession:
        """Redeem an invite as agent B (with `agent_key`, that key's profile, verified)
        or as an observer."""
        body = api.JoinSession(
            invite_code=invite_code,
            role=role,  # type: ignore[arg-type]  # the hub answers a wrong one bad_request
            agent_id=agent_id or None,
            display_name=display_name or None,
        )
        return await self._typed(api.JoinedSession, "POST", "/api/join", body=body, token=agent_key)

    async def history(
        self,
        session_id: str,
        token: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> api.MessagePage:
        return await self._typed(
            api.MessagePage,
            "GET",
            f"/api/sessions/{session_id}/messages",
            token=token,
            params={"after": after, "before": before, "limit": limit},
        )

    async def all_messages(self, session_id: str, token: str) -> AsyncIterator[Message]:
        """Every message of the session, in id order, page by page."""
        after = 0
        while True:
            page = await self.history(session_id, token, after=after, limit=500)
            for message in page.messages:
                yield message
            # a page may hold fewer than `limit` (it is bounded by bytes too)
            if not page.messages or page.messages[-1].id >= page.last_message_id:
                return
            after = page.messages[-1].id

    async def send(self, session_id: str, token: str, content: str, **fields: Any) -> Message:
        """Post a message (fields as the `send` frame's) and return it once committed."""
        sent = await self._typed(
            api.SentMessage,
            "POST",
            f"/api/sessions/{session_id}/messages",
            token=token,
            body=send_message(content, **fields),
        )
        return sent.message

    async def session(self, session_id: str, token: str) -> DomainSession:
        """The session: name, status, participants, last message id."""
        return await self._typed(DomainSession, "GET", f"/api/sessions/{session_id}", token=token)

    async def update_session(
        self,
        session_id: str,
        token: str,
        *,
        status: SessionStatus | None = None,
        name: str | None = None,
    ) -> DomainSession:
        """Change the status (`active` starts or resumes, `paused`, `completed`) and/or
        the name; `HubClientError` `invalid_transition` if the status cannot change so."""
        body = api.UpdateSession(status=status, name=name)
        return await self._typed(
            DomainSession, "PATCH", f"/api/sessions/{session_id}", token=token, body=body
        )

    async def delete_session(self, session_id: str, token: str) -> None:
        """Soft-delete the session (agent A); live connections close with 4004."""
        await self.request("DELETE", f"/api/sessions/{session_id}", token=token)

    async def invite(self, session_id: str, token: str) -> api.InviteInfo:
        """The session's current invite code (agent A)."""
        path = f"/api/sessions/{session_id}/invite"
        return await self._typed(api.InviteInfo, "GET", path, token=token)

    async def rotate_invite(self, session_id: str, token: str) -> api.InviteInfo:
        """Replace the invite code (agent A); the old one opens nothing any more."""
        path = f"/api/sessions/{session_id}/invite"
        return await self._typed(api.InviteInfo, "POST", path, token=token)

    async def notes(self, session_id: str, token: str) -> list[Note]:
        """Every note of the session, with its content."""
        path = f"/api/sessions/{session_id}/notes"
        return (await self._typed(api.NoteList, "GET", path, token=token)).notes

    async def note(self, session_id: str, token: str, note_id: int) -> Note:
        """One note with its content (`HubClientError` `not_found` if there is none)."""
        path = f"/api/sessions/{session_id}/notes/{note_id}"
        return await self._typed(Note, "GET", path, token=token)

    async def files(self, session_id: str, token: str) -> list[FileInfo]:
        """Every file of the session, without content."""
        path = f"/api/sessions/{session_id}/files"
        return (await self._typed(api.FileList, "GET", path, token=token)).files

    async def read_file(self, session_id: str, token: str, path: str) -> FileEntry:
        """One file with its content (`HubClientError` `not_found` if there is none)."""
        quoted = "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))
        url = f"/api/sessions/{session_id}/files/{quoted}"
        return await self._typed(FileEntry, "GET", url, token=token)

    async def presence(self, session_id: str, token: str) -> list[Presence]:
        """Who is online, working, idle or offline."""
        path = f"/api/sessions/{session_id}/presence"
        return (await self._typed(api.PresenceList, "GET", path, token=token)).presence

    async def activity(
        self, session_id: str, token: str, *, after: int = 0, limit: int = 100
    ) -> list[Activity]:
        """The audit log after the row id `after`: one row per change."""
        page = await self._typed(
            api.ActivityPage,
            "GET",
            f"/api/sessions/{session_id}/activity",
            token=token,
            params={"after": after, "limit": limit},
        )
        return page.activity

    # --- agent profiles (a user key, `usr_…`) ------------------------------------------

    async def create_agent(self, user_key: str, **fields: Any) -> AgentProfile:
        """Create an agent profile (fields as `api.NewProfile`) at config revision 1."""
        try:
            body = msgspec.convert(fields, api.NewProfile)
        except (msgspec.ValidationError, ValueError) as exc:
            raise HubClientError("bad_request", str(exc)) from None
        return await self._typed(AgentProfile, "POST", "/api/me/agents", token=user_key, body=body)

    async def my_agents(self, user_key: str) -> list[AgentProfile]:
        listed = await self._typed(api.ProfileList, "GET", "/api/me/agents", token=user_key)
        return listed.profiles

    async def agent(self, user_key: str, slug: str) -> AgentProfile:
        """A profile of yours, or anyone's public one."""
        return await self._typed(AgentProfile, "GET", _agent(slug), token=user_key)

    async def update_agent(self, user_key: str, slug: str, **fields: Any) -> AgentProfile:
        """Change a profile's metadata (fields as `api.ProfileUpdate`)."""
        body = msgspec.convert(fields, api.ProfileUpdate)
        return await self._typed(AgentProfile, "PATCH", _agent(slug), token=user_key, body=body)

    async def create_agent_key(self, user_key: str, slug: str, name: str) -> api.CreatedAgentKey:
        """A new agent key (`agk_…`) for the profile, shown once."""
        body = api.NewAgentKey(name=name)
        path = _agent(slug, "/keys")
        return await self._typed(api.CreatedAgentKey, "POST", path, token=user_key, body=body)

    async def agent_keys(self, user_key: str, slug: str) -> list[AgentKey]:
        path = _agent(slug, "/keys")
        return (await self._typed(api.AgentKeyList, "GET", path, token=user_key)).keys

    async def revoke_agent_key(self, user_key: str, slug: str, key_id: str) -> AgentKey:
        path = _agent(slug, "/keys/" + urllib.parse.quote(key_id, safe=""))
        return await self._typed(AgentKey, "DELETE", path, token=user_key)

    async def agent_config(self, user_key: str, slug: str) -> ConfigRevision:
        """The current configuration revision."""
        return await self._typed(ConfigRevision, "GET", _agent(slug, "/config"), token=user_key)

    async def put_agent_config(
        self, user_key: str, slug: str, config: dict[str, Any], expected_revision: int
    ) -> ConfigRevision:
        """Write revision `expected_revision + 1`; `Conflict` (its `revision` the current
        one) if the configuration has moved on."""
        body = api.ConfigUpdate(config=config, expected_revision=expected_revision)
        path = _agent(slug, "/config")
        return await self._typed(ConfigRevision, "PUT", path, token=user_key, body=body)

    async def config_revisions(
        self, user_key: str, slug: str, *, before: int | None = None, limit: int = 50
    ) -> api.RevisionPage:
        """A page of the configuration's history, newest first."""
        return await self._typed(
            api.RevisionPage,
            "GET",
            _agent(slug, "/config/revisions"),
            token=user_key,
            params={"before": before, "limit": limit},
        )

    async def config_revision(self, user_key: str, slug: str, revision: int) -> ConfigRevision:
        path = _agent(slug, f"/config/revisions/{revision}")
        return await self._typed(ConfigRevision, "GET", path, token=user_key)

    async def config_diff(self, user_key: str, slug: str, old: int, new: int) -> api.RevisionDiff:
        """What changed from revision `old` to revision `new`, by JSON path."""
        return await self._typed(
            api.RevisionDiff,
            "GET",
            _agent(slug, "/config/diff"),
            token=user_key,
            params={"from": old, "to": new},
        )

    async def rollback_agent_config(
        self, user_key: str, slug: str, to: int, expected_revision: int
    ) -> ConfigRevision:
        """A new revision equal to revision `to` (history is kept)."""
        body = api.Rollback(to=to, expected_revision=expected_revision)
        path = _agent(slug, "/config/rollback")
        return await self._typed(ConfigRevision, "POST", path, token=user_key, body=body)


def _agent(slug: str, rest: str = "") -> str:
    return "/api/agents/" + urllib.parse.quote(slug, safe="") + rest

    def _secret_path(self, name: str) -> str:
        return "/api/me/secrets/" + urllib.parse.quote(name, safe="")

    async def set_secret(self, user_key: str, name: str, value: str) -> Secret:
        """Set or replace one's secret `name` (a user key, `usr_…`); the value is stored
        encrypted and never comes back in a listing."""
        return await self._typed(
            Secret,
            "PUT",
            self._secret_path(name),
            token=user_key,
            body=api.SetSecret(value=value),
        )

    async def secrets(self, user_key: str) -> list[Secret]:
        """One's secrets: names and times, never values."""
        listed = await self._typed(api.SecretList, "GET", "/api/me/secrets", token=user_key)
        return listed.secrets

    async def get_secret(self, user_key: str, name: str) -> str:
        """The value of one's secret `name` (the read is written to one's audit log);
        `HubClientError` `not_found` if there is none."""
        path = self._secret_path(name)
        return (await self._typed(api.RevealedSecret, "GET", path, token=user_key)).value

    async def delete_secret(self, user_key: str, name: str) -> None:
        """Delete one's secret `name` for good; `not_found` if there is none."""
        await self.request("DELETE", self._secret_path(name), token=user_key)
