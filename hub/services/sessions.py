"""Sessions: creation with tokens and an invite, joining through the invite (exactly one
agent wins the B slot), status and name changes, soft deletion, and the invite itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from hub import api
from hub.config import Config
from hub.domain import (
    ActivityAction,
    AgentPrincipal,
    FileInfo,
    NoteSummary,
    Presence,
    Principal,
    Session,
    UserPrincipal,
    check_transition,
    new_invite_code,
    new_participant_id,
    new_session_id,
    normalize_invite_code,
    require,
    session_settings,
    space_allows,
)
from hub.domain.cursors import decode_time_cursor
from hub.errors import HubError
from hub.protocol import SessionEvent
from hub.security import hash_token, new_token
from hub.services.access import Access
from hub.services.events import Events
from hub.services.jobs import cancel_open_jobs
from hub.services.presence import PresenceService
from hub.services.profiles import agent_for_key
from hub.services.spaces import space_for_new_session
from hub.services.templates import seed_session, template_for_new_session
from hub.store import Connection, Store, changes
from hub.store import profiles as profile_store
from hub.store import sessions as session_store
from hub.store import users as user_store
from hub.store.snapshot import read_snapshot

__all__ = ["SHARED_OBSERVER_ID", "Sessions", "Snapshot", "agent_a_of"]

SHARED_OBSERVER_ID = "observer"
"""The participant id of the observer token handed to a session's creator."""
_CODE_ATTEMPTS = 8
"""Fresh invite codes tried before giving up (a clash is one in ~10^12 per live code)."""


class Snapshot(msgspec.Struct, kw_only=True):
    """What a connection is told first (`hello`): the session as it stands."""

    session: Session
    presence: list[Presence]
    notes: list[NoteSummary]
    files: list[FileInfo]


class Sessions:
    def __init__(
        self,
        config: Config,
        store: Store,
        events: Events,
        access: Access,
        presence: PresenceService,
    ) -> None:
        self._config = config
        self._store = store
        self._events = events
        self._access = access
        self._presence = presence

    async def create(
        self, req: api.CreateSession, client_key: str, agent_key: str | None = None
    ) -> api.CreatedSession:
        """Create a session with its tokens and invite code. With an agent key, agent A
        is its profile (participant id: the slug), verified, at the profile's current
        configuration revision. With a template, the session takes its settings
        (`session_settings`) and starts with its seed notes, files and opening message,
        all in the session's transaction. Creation is rate-limited per client address."""
        await self._access.limit(
            "create",
            client_key,
            self._config.session_creations_per_minute,
            "too many sessions created from your address; wait a minute",
        )
        ttl = req.invite_ttl_seconds or self._config.invite_ttl_seconds

        async def open_session(conn: Connection, invite_code: str) -> Session:
            agent = None if agent_key is None else await agent_for_key(conn, agent_key)
            agent_a_id = req.agent_id or new_participant_id("agent")
            if agent is not None:
                agent_a_id = _verified_id(agent, req.agent_id)
            space_id = (
                None
                if req.workspace_id is None
                else await space_for_new_session(conn, req.workspace_id, agent)
            )
            template = (
                None
                if req.template is None
                else await template_for_new_session(conn, req.template, req.template_version, agent)
            )
            mode, is_private, metadata = session_settings(
                req.mode, req.is_private, req.metadata, template
            )
            session = await session_store.create_session(
                conn,
                session_id=new_session_id(),
                name=req.name or "New Session",
                name_is_auto=req.name is None,
                mode=mode,
                is_private=is_private,
                agent_a_id=agent_a_id,
                invite_code=invite_code,
                invite_ttl_seconds=ttl,
                workspace_id=space_id,
                metadata=metadata,
                creator_type=req.creator_type,
                creator_name=req.creator_name,
                agent_a_profile=None if agent is None else (agent.profile_id, agent.revision),
                template=None if template is None else (template.template_id, template.version),
            )
            a = agent_a_of(session)
            source = (
                {}
                if template is None
                else {"template_id": template.template_id, "template_version": template.version}
            )
            await changes.record_as(conn, a, "session.created", {"name": session.name, **source})
            if template is not None:
                await seed_session(conn, a, template)
                session = await session_store.get_session(conn, session.id)
            if agent is not None:
                await changes.audit(
                    conn,
                    agent,
                    agent.owner_id,
                    "agent.session_created",
                    {"session_id": session.id, "revision": agent.revision, **source},
                )
            return session

        return await self.issue(open_session)

    async def issue(
        self, open_session: Callable[[Connection, str], Awaitable[Session]]
    ) -> api.CreatedSession:
        """Make a new session and its credentials, shown once: in one transaction,
        `open_session(conn, invite_code)` writes the session (agent A in it) and whatever
        comes with it, and agent A's token and the observer token are stored beside it.
        An invite code another session holds loses the transaction: it is run again
        with a fresh code."""
        agent_token, observer_token = new_token("agent_a"), new_token("observer")
        for _attempt in range(_CODE_ATTEMPTS):
            invite_code = new_invite_code()
            try:
                async with self._store.transaction() as conn:
                    session = await open_session(conn, invite_code)
                    obs = Principal(
                        session_id=session.id, role="observer", participant_id=SHARED_OBSERVER_ID
                    )
                    await session_store.add_token(
                        conn, hash_token(agent_token), agent_a_of(session)
                    )
                    await session_store.add_token(conn, hash_token(observer_token), obs)
            except session_store.InviteCodeTaken:
                continue
            return api.CreatedSession(
                session=session,
                participant_id=session.agent_a_id,
                agent_token=agent_token,
                observer_token=observer_token,
                invite_code=invite_code,
                invite_expires_at=session.invite_expires_at,
            )
        raise HubError("unavailable", "could not allocate an invite code; retry")

    async def join(
        self, req: api.JoinSession, client_key: str, agent_key: str | None = None
    ) -> api.JoinedSession:
        """Redeem an invite: take the B slot (exactly one agent wins it) or get an
        observer token of one's own. With an agent key, agent B is its profile (as in
        `create`), which may not be agent A's too. Redemption is rate-limited per client
        address, and failed redemptions per minute on the whole hub, which bounds how fast
        codes can be guessed however many addresses guess."""
        await self._access.limit(
            "invite",
            client_key,
            self._config.invite_attempts_per_minute,
            "too many invite attempts; wait a minute",
        )
        if agent_key is not None and req.role != "agent":
            raise HubError("bad_request", "an agent key joins as agent B, not as an observer")
        code = normalize_invite_code(req.invite_code)
        failures = self._config.invite_failures_per_minute
        # Every redemption takes a failure token before its code is looked up, and gives
        # it back unless the code proved wrong or expired: guesses made at once cannot all
        # pass a look at the bucket before the first of them has failed.
        wait = await self._access.take("invite-failures", "hub", failures)
        if wait > 0:
            raise self._access.refusal(
                "invite-failures", "too many failed invite attempts on this hub; retry soon", wait
            )
        failed = False
        try:
            return await self._redeem(req, code, agent_key)
        except HubError as exc:
            failed = exc.code in ("invite_invalid", "invite_expired")
            raise
        finally:
            if not failed:
                await self._access.take("invite-failures", "hub", failures, -1)

    async def _redeem(
        self, req: api.JoinSession, code: str, agent_key: str | None
    ) -> api.JoinedSession:
        token = new_token("agent_b" if req.role == "agent" else "observer")
        async with self._store.transaction() as conn:
            agent = None if agent_key is None else await agent_for_key(conn, agent_key)
            if req.role == "agent":
                target = await session_store.invite_target(conn, code, for_update=True)
                if target.status == "completed":
                    raise HubError("session_completed", "the session is completed")
                if target.agent_b_id is not None:
                    raise HubError("session_full", "agent B has already joined this session")
                agent_b_id = req.agent_id or new_participant_id("agent")
                if agent is not None:
                    agent_b_id = _verified_id(agent, req.agent_id)
                if agent_b_id == target.agent_a_id:
                    raise HubError("bad_request", "agent B needs an id other than agent A's")
                session = await session_store.claim_agent_b(
                    conn,
                    target.id,
                    agent_b_id,
                    None if agent is None else (agent.profile_id, agent.revision),
                )
                if agent is not None:
                    await changes.audit(
                        conn,
                        agent,
                        agent.owner_id,
                        "agent.session_joined",
                        {"session_id": session.id, "revision": agent.revision},
                    )
                principal = Principal(
                    session_id=session.id, role="agent_b", participant_id=agent_b_id
                )
                action: ActivityAction = "agent_b.joined"
                if session.status != target.status:
                    await changes.outbox(
                        conn, session.id, "session.status_changed", SessionEvent(session=session)
                    )
            else:
                session = await session_store.invite_target(conn, code, for_update=False)
                principal = Principal(
                    session_id=session.id,
                    role="observer",
                    participant_id=new_participant_id("obs"),
                    display_name=req.display_name,
                )
                action = "observer.joined"
            await session_store.add_token(conn, hash_token(token), principal)
            detail = {"display_name": req.display_name} if req.display_name else {}
            await changes.record_as(conn, principal, action, detail)
        if req.role == "agent":
            await self._events.publish(session.id, SessionEvent(session=session))
        return api.JoinedSession(
            session=session,
            role=principal.role,
            participant_id=principal.participant_id,
            token=token,
        )

    async def mine(self, who: UserPrincipal, q: api.MySessionsQuery) -> api.SessionPage:
        """The sessions one's verified agents created or joined, newest first."""
        return await self._page(session_store.OF_USER, who.user_id, q)

    async def public(self, q: api.PublicSessionsQuery) -> api.SessionPage:
        """The public directory: sessions not private (nor deleted), newest first."""
        return await self._page(session_store.PUBLIC, False, q)

    async def of_agent(
        self, who: UserPrincipal | None, slug: str, q: api.PublicSessionsQuery
    ) -> api.SessionPage:
        """A verified agent's sessions (as agent A or B), newest first: a public
        profile's public sessions, or, to the profile's owner, all of them. Any other
        profile is `not_found`."""
        async with self._store.connection() as conn:
            found = await profile_store.find_profile(conn, slug)
        owner = found is not None and who is not None and found[1] == who.user_id
        if found is None or (found[0].visibility != "public" and not owner):
            raise HubError("not_found", f"no public agent {slug[:64]!r}")
        which = session_store.OF_AGENT if owner else session_store.OF_AGENT_PUBLIC
        return await self._page(which, found[0].id, q)

    async def _page(self, which: str, arg: object, q: api.SessionListQuery) -> api.SessionPage:
        async with self._store.connection() as conn:
            page = await session_store.session_page(
                conn, which, arg, q.filters(), q.limit, decode_time_cursor(q.cursor)
            )
        return api.SessionPage.of(page, q.limit)

    async def watch(
        self,
        who: UserPrincipal | None,
        session_id: str,
        display_name: str | None,
        client_key: str,
    ) -> api.JoinedSession:
        """An observer token of one's own, with no invite code: for a session one of
        one's agents was agent A or B of, or of a space one is a member of (a person,
        with a user key), or for any public session (anyone; watch-only). To anyone
        else the session does not exist. A space's viewer gets a watch-only token. A
        token taken through a space is revoked when the person leaves the space or
        changes role there, or the session leaves the space; one taken because the
        session was public, when it becomes private. Rate-limited per person (or, for
        anyone without a key, per client address), like invite redemptions."""
        await self._access.limit(
            "watch",
            client_key if who is None else who.user_id,
            self._config.invite_attempts_per_minute,
            "too many watch tokens taken; wait a minute",
        )
        token = new_token("observer")
        async with self._store.transaction() as conn:
            grounds = (
                None
                if who is None
                else await session_store.watch_grounds(conn, session_id, who.user_id, lock=True)
            )
            public = (
                None
                if grounds is not None
                else await session_store.public_session_for_watch(conn, session_id)
            )
            if grounds is None and public is None:
                raise HubError("session_not_found", "no such session among your agents' or spaces'")
            session = grounds.session if grounds is not None else public
            assert session is not None
            name = display_name
            if name is None and who is not None:
                name = (await user_store.get_user(conn, who.user_id)).display_name
            principal = Principal(
                session_id=session.id,
                role="observer",
                participant_id=new_participant_id("obs"),
                display_name=name,
                watch_only=grounds is None
                or (not grounds.own_agent and not space_allows(grounds.space_role, "take_part")),
            )
            await session_store.add_token(
                conn,
                hash_token(token),
                principal,
                user_id=None if who is None else who.user_id,
                via_workspace_id=None
                if grounds is None or grounds.own_agent
                else session.workspace_id,
                via_public=grounds is None,
            )
            detail = {"display_name": name} if name else {}
            await changes.record_as(conn, principal, "observer.joined", detail)
            if who is not None:
                await changes.audit(
                    conn, who, who.user_id, "session.watched", {"session_id": session.id}
                )
        return api.JoinedSession(
            session=session,
            role="observer",
            participant_id=principal.participant_id,
            token=token,
            watch_only=principal.watch_only,
        )

    async def get(self, principal: Principal) -> Session:
        async with self._store.connection() as conn:
            return await session_store.get_session(conn, principal.session_id)

    async def update(self, principal: Principal, req: api.UpdateSession) -> Session:
        """Change status (by the state machine), name and/or privacy (agent A). Making
        the session private revokes the watch tokens its being public gave, and closes
        their connections."""
        if (
            req.status is None
            and req.name is None
            and req.is_private is None
            and req.approval_policy is None
        ):
            raise HubError(
                "bad_request", "nothing to change: give status, name, is_private or approval_policy"
            )
        if req.name is not None:
            require(principal, "rename")
        if req.is_private is not None:
            require(principal, "set_privacy")
        if req.approval_policy is not None:
            require(principal, "set_approval_policy")
        revoked: list[tuple[str, str]] = []
        async with self._store.transaction() as conn:
            current = await session_store.lock_session(conn, principal.session_id)
            changed: dict[str, object] = {}
            if req.status is not None and req.status != current.status:
                check_transition(principal.role, current.status, req.status)
                changed["status"] = req.status
            if req.name is not None and req.name != current.name:
                changed.update(name=req.name, name_is_auto=False)
            if req.is_private is not None and req.is_private != current.is_private:
                changed["is_private"] = req.is_private
            if req.approval_policy is not None:
                policy = msgspec.to_builtins(req.approval_policy)
                if current.metadata.get("approval_policy") != policy:
                    changed["metadata"] = {**current.metadata, "approval_policy": policy}
            if not changed:
                return current
            session = await session_store.update_session(conn, current.id, **changed)
            if changed.get("is_private") is True:
                revoked = await session_store.revoke_public_watchers(conn, current.id)
            detail = {k: v for k, v in changed.items() if k in ("status", "name", "is_private")}
            if "metadata" in changed:
                detail["approval_policy"] = changed["metadata"]["approval_policy"]  # type: ignore[index]
            event = SessionEvent(session=session)
            await changes.record_as(
                conn,
                principal,
                "session.updated",
                detail,
                outbox=("session.status_changed", event) if "status" in changed else None,
            )
        await self._events.publish(session.id, SessionEvent(session=session))
        await self._events.revoke(revoked)
        return session

    async def delete(self, principal: Principal) -> None:
        """Soft delete: rows stay; tokens stop working; live connections are closed."""
        require(principal, "delete_session")
        async with self._store.transaction() as conn:
            await session_store.lock_session(conn, principal.session_id)
            session = await session_store.soft_delete(conn, principal.session_id)
            await cancel_open_jobs(conn, session.id, principal.participant_id)
            await changes.record_as(
                conn,
                principal,
                "session.deleted",
                outbox=("session.deleted", SessionEvent(session=session, deleted=True)),
            )
        await self._events.publish(session.id, SessionEvent(session=session, deleted=True))

    async def rotate_invite(self, principal: Principal) -> api.InviteInfo:
        """A new invite code (agent A); the old one stops working."""
        require(principal, "rotate_invite")
        ttl = float(self._config.invite_ttl_seconds)
        for _attempt in range(_CODE_ATTEMPTS):
            code = new_invite_code()
            try:
                async with self._store.transaction() as conn:
                    await session_store.lock_session(conn, principal.session_id)
                    expires = await session_store.rotate_invite(
                        conn, principal.session_id, code, ttl
                    )
                    await changes.record_as(conn, principal, "invite.rotated")
            except session_store.InviteCodeTaken:
                continue
            return api.InviteInfo(invite_code=code, invite_expires_at=expires)
        raise HubError("unavailable", "could not allocate an invite code; retry")

    async def invite(self, principal: Principal) -> api.InviteInfo:
        """The session's current invite code (agent A, who may also rotate it)."""
        require(principal, "rotate_invite")
        async with self._store.connection() as conn:
            code, expires = await session_store.get_invite(conn, principal.session_id)
        return api.InviteInfo(invite_code=code, invite_expires_at=expires)

    async def snapshot(self, principal: Principal) -> Snapshot:
        """The session with its live presence, notes (without content) and files."""
        async with self._store.connection() as conn:
            stored = await read_snapshot(conn, principal.session_id)
        return Snapshot(
            session=stored.session,
            presence=await self._presence.live(principal.session_id, stored.presence),
            notes=stored.notes,
            files=stored.files,
        )


def agent_a_of(session: Session) -> Principal:
    """Who agent A's token speaks for in a session."""
    return Principal(session_id=session.id, role="agent_a", participant_id=session.agent_a_id)


def _verified_id(agent: AgentPrincipal, asked: str | None) -> str:
    """The participant id of an agent acting through its key: its profile's slug (an
    `agent_id` given beside the key must be that slug)."""
    if asked is not None and asked != agent.slug:
        raise HubError("bad_request", "with an agent key, agent_id is the profile's slug")
    return agent.slug
