"""Every use case of the hub, shared by the REST routes and the websocket.

`Hub` checks capabilities, runs the store in transactions (each with its activity row),
and publishes the resulting events on the bus, encoded once. It never answers success
before the change is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import asyncpg
import msgspec
from nanoid import generate as nanoid

from hub import api
from hub.bus import Bus, pack
from hub.config import Config
from hub.domain import (
    ActivityAction,
    FileEntry,
    FileInfo,
    Message,
    Note,
    NoteSummary,
    Presence,
    Principal,
    Session,
    check_transition,
    hash_token,
    message_action,
    new_invite_code,
    new_participant_id,
    new_session_id,
    new_token,
    normalize_invite_code,
    require,
    validate_path,
)
from hub.errors import HubError
from hub.metrics import Metrics
from hub.protocol import (
    FileEvent,
    MessageEvent,
    NoteEvent,
    PresenceEvent,
    SendMessage,
    SessionEvent,
    SetPresence,
    UpdateNote,
    WriteFile,
    encode,
)
from hub.rooms import Room, Rooms
from hub.store import Connection, Store
from hub.store import activity as activity_store
from hub.store import files as file_store
from hub.store import messages as message_store
from hub.store import notes as note_store
from hub.store import presence as presence_store
from hub.store import sessions as session_store
from hub.store.snapshot import read_snapshot
from hub.store.writer import GroupCommitter

__all__ = ["Hub", "Snapshot"]

log = logging.getLogger("hub.service")

SHARED_OBSERVER_ID = "observer"
PAGE_BYTES = 1_048_576
"""A history page (REST, or a websocket catch-up read) stops after this many bytes of
message content and metadata, whatever its `limit`."""
BUS_DOWN_POLL = 0.5
"""Seconds between reads of PostgreSQL for new messages while the bus is unhealthy."""
_TOKEN_PREFIXES = ("agt_", "obs_")


class Snapshot(msgspec.Struct, kw_only=True):
    session: Session
    presence: list[Presence]
    notes: list[NoteSummary]
    files: list[FileInfo]


class Hub:
    """The hub's operations over one store and one bus."""

    def __init__(
        self, config: Config, store: Store, bus: Bus, *, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.bus = bus
        self.rooms = Rooms(
            bus,
            self.fetch_after,
            self._last_message_id,
            page_size=config.commit_batch_max,
            metrics=metrics,
        )
        self.committer = GroupCommitter(
            store,
            self._publish_committed,
            max_batch=config.commit_batch_max,
            metrics=metrics,
        )
        self.presence_ttl = config.heartbeat_interval * 3
        self._keeper: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        on_reconnect = getattr(bus, "on_reconnect", None)
        if on_reconnect is not None:
            on_reconnect(self.rooms.resync_all)

    async def start(self) -> None:
        self.committer.start()
        self._keeper = asyncio.create_task(self._keep(), name="hub-keeper")
        self._poller = asyncio.create_task(self._poll(), name="hub-bus-down-poll")

    async def close(self) -> None:
        for task in (self._keeper, self._poller):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.committer.close()

    async def _keep(self) -> None:
        """Every heartbeat interval: refresh the presence TTL of participants connected
        here, mark offline those whose TTL ran out elsewhere (a crashed process), and
        let rooms that lag PostgreSQL catch up (a message the bus lost)."""
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            try:
                await self._keep_once()
            except Exception:
                log.exception("presence/resync upkeep failed; retrying next interval")

    async def _keep_once(self) -> None:
        try:
            await self.bus.refresh_connections(self.presence_ttl)
        except Exception as exc:
            log.warning("connection slot refresh failed: %s", exc)
        rooms = self.rooms.all()
        if not rooms:
            return
        for room in rooms:  # each room and step on its own: one failure skips no other
            try:
                await self._refresh_presence(room)
            except Exception as exc:
                log.warning("presence refresh for %s failed: %s", room.session_id, exc)
        if self.bus.healthy():
            for room in rooms:
                try:
                    await self._expire_presence(room)
                except Exception as exc:
                    log.warning("presence expiry for %s failed: %s", room.session_id, exc)
        await self._catch_up(rooms)

    async def _poll(self) -> None:
        """While the bus is unhealthy (Redis down), messages committed on other processes
        reach this one only from PostgreSQL: read them every `BUS_DOWN_POLL` seconds, for
        the sessions with connections here (one query, then only the rooms behind)."""
        failing = False
        while True:
            await asyncio.sleep(BUS_DOWN_POLL)
            rooms = self.rooms.all()
            if self.bus.healthy() or not rooms:
                continue
            try:
                await self._catch_up(rooms)
                failing = False
            except Exception as exc:
                if not failing:  # once per failing spell, not twice a second
                    log.warning("reading new messages while the bus is down failed: %s", exc)
                failing = True

    async def _catch_up(self, rooms: list[Room]) -> None:
        """Let the rooms that lag PostgreSQL read what they are missing."""
        async with self.store.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, last_message_id FROM sessions WHERE id = ANY($1::text[])",
                [room.session_id for room in rooms],
            )
        heads = {row["id"]: row["last_message_id"] for row in rows}
        for room in rooms:
            if room.last_id is not None and heads.get(room.session_id, 0) > room.last_id:
                room.resync()

    async def _refresh_presence(self, room: Room) -> None:
        """Keep the TTL of participants connected here fresh."""
        for pid in list(room.participants):
            current = room.presence.get(pid)
            if current is None or current.status == "offline":
                # connected here but announced offline (a race with another process's
                # last disconnect): announce it online again
                principal = next(
                    (o.principal for o in room.outboxes if o.principal.participant_id == pid),
                    None,
                )
                if principal is not None:
                    await self.set_presence(principal)
                continue
            await self.bus.set_presence(room.session_id, pid, encode(current), self.presence_ttl)

    async def _expire_presence(self, room: Room) -> None:
        """Announce offline those whose presence expired elsewhere (a crashed process)."""
        live = await self.bus.live_presence(room.session_id)
        for pid, seen in list(room.presence.items()):
            if seen.status != "offline" and pid not in live and pid not in room.participants:
                gone = msgspec.structs.replace(
                    seen, status="offline", activity=None, last_seen_at=datetime.now(UTC)
                )
                await self._announce_offline(room.session_id, gone)

    # -- identity ----------------------------------------------------------------------

    async def authenticate(self, token: str | None) -> Principal:
        """The principal a token speaks for; `unauthorized` or `session_deleted` if none."""
        if not token or not token.startswith(_TOKEN_PREFIXES) or len(token) > 100:
            raise HubError("unauthorized", "a valid session token is required")
        async with self.store.connection() as conn:
            found = await session_store.principal_for_token(conn, hash_token(token))
        if found is None:
            raise HubError("unauthorized", "unknown token")
        principal, deleted = found
        if deleted:
            raise HubError("session_deleted", "the session was deleted")
        return principal

    async def open_connection(self, principal: Principal) -> str:
        """Take one of the participant's websocket slots (counted over every process);
        `rate_limited` if it holds `max_connections_per_participant` already. Returns
        the slot's id, for `close_connection`."""
        connection_id = str(nanoid(size=16))
        limit = self.config.max_connections_per_participant
        if not await self.bus.claim_connection(
            principal.session_id,
            principal.participant_id,
            connection_id,
            limit,
            self.presence_ttl,
        ):
            raise HubError(
                "rate_limited",
                f"too many connections for this participant (at most {limit}); close one",
            )
        return connection_id

    async def close_connection(self, principal: Principal, connection_id: str) -> None:
        await self.bus.release_connection(
            principal.session_id, principal.participant_id, connection_id
        )

    async def _limit(self, limit: str, subject: str, per_minute: int, message: str) -> None:
        """Spend a token of a per-minute limit (bursts of `per_minute`), or raise
        `rate_limited` carrying the seconds until one is available."""
        wait = await self.bus.take(limit, subject, per_minute / 60.0, per_minute)
        if wait > 0:
            raise HubError("rate_limited", message, data=wait)

    # -- sessions ----------------------------------------------------------------------

    async def create_session(self, req: api.CreateSession, client_key: str) -> api.CreatedSession:
        """Create a session with its tokens and invite code. Creation is rate-limited
        per client address."""
        await self._limit(
            "create",
            client_key,
            self.config.session_creations_per_minute,
            "too many sessions created from your address; wait a minute",
        )
        agent_a_id = req.agent_id or new_participant_id("agent")
        agent_token, observer_token = new_token("agent_a"), new_token("observer")
        ttl = req.invite_ttl_seconds or self.config.invite_ttl_seconds
        for _attempt in range(8):
            invite_code = new_invite_code()
            try:
                async with self.store.transaction() as conn:
                    session = await session_store.create_session(
                        conn,
                        session_id=new_session_id(),
                        name=req.name or "New Session",
                        name_is_auto=req.name is None,
                        mode=req.mode,
                        is_private=req.is_private,
                        agent_a_id=agent_a_id,
                        invite_code=invite_code,
                        invite_ttl_seconds=ttl,
                        workspace_id=req.workspace_id,
                        metadata=req.metadata,
                        creator_type=req.creator_type,
                        creator_name=req.creator_name,
                    )
                    a = Principal(session_id=session.id, role="agent_a", participant_id=agent_a_id)
                    obs = Principal(
                        session_id=session.id, role="observer", participant_id=SHARED_OBSERVER_ID
                    )
                    await session_store.add_token(conn, hash_token(agent_token), a)
                    await session_store.add_token(conn, hash_token(observer_token), obs)
                    await activity_store.record(
                        conn,
                        session.id,
                        agent_a_id,
                        "agent_a",
                        "session.created",
                        {"name": session.name},
                    )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "sessions_invite_code_key":
                    continue
                raise
            return api.CreatedSession(
                session=session,
                participant_id=agent_a_id,
                agent_token=agent_token,
                observer_token=observer_token,
                invite_code=invite_code,
                invite_expires_at=session.invite_expires_at,
            )
        raise HubError("unavailable", "could not allocate an invite code; retry")

    async def join(self, req: api.JoinSession, client_key: str) -> api.JoinedSession:
        """Redeem an invite: take the B slot (exactly one agent wins it) or get an
        observer token of one's own. Redemption is rate-limited per client address, and
        failed redemptions per minute on the whole hub, which bounds how fast codes can
        be guessed however many addresses guess."""
        await self._limit(
            "invite",
            client_key,
            self.config.invite_attempts_per_minute,
            "too many invite attempts; wait a minute",
        )
        wait = await self._failed_invites(cost=0)  # look only: a redemption may succeed
        if wait > 0:
            raise HubError(
                "rate_limited", "too many failed invite attempts on this hub; retry soon", wait
            )
        code = normalize_invite_code(req.invite_code)
        try:
            return await self._redeem(req, code)
        except HubError as exc:
            if exc.code in ("invite_invalid", "invite_expired"):
                await self._failed_invites(cost=1)
            raise

    async def _failed_invites(self, cost: float) -> float:
        """The hub-wide bucket of failed redemptions (see `Bus.take`)."""
        per_minute = self.config.invite_failures_per_minute
        return await self.bus.take("invite-failures", "hub", per_minute / 60.0, per_minute, cost)

    async def _redeem(self, req: api.JoinSession, code: str) -> api.JoinedSession:
        token = new_token("agent_b" if req.role == "agent" else "observer")
        async with self.store.transaction() as conn:
            if req.role == "agent":
                target = await session_store.invite_target(conn, code, for_update=True)
                if target.status == "completed":
                    raise HubError("session_completed", "the session is completed")
                if target.agent_b_id is not None:
                    raise HubError("session_full", "agent B has already joined this session")
                agent_b_id = req.agent_id or new_participant_id("agent")
                if agent_b_id == target.agent_a_id:
                    raise HubError("bad_request", "agent B needs an id other than agent A's")
                session = await session_store.claim_agent_b(conn, target.id, agent_b_id)
                principal = Principal(
                    session_id=session.id, role="agent_b", participant_id=agent_b_id
                )
                action: ActivityAction = "agent_b.joined"
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
            await activity_store.record(
                conn,
                session.id,
                principal.participant_id,
                principal.role,
                action,
                {"display_name": req.display_name} if req.display_name else {},
            )
        if req.role == "agent":
            await self._publish(session.id, "e", SessionEvent(session=session))
        return api.JoinedSession(
            session=session,
            role=principal.role,
            participant_id=principal.participant_id,
            token=token,
        )

    async def get_session(self, principal: Principal) -> Session:
        async with self.store.connection() as conn:
            return await session_store.get_session(conn, principal.session_id)

    async def update_session(self, principal: Principal, req: api.UpdateSession) -> Session:
        if req.status is None and req.name is None:
            raise HubError("bad_request", "nothing to change: give status and/or name")
        if req.name is not None:
            require(principal, "rename")
        async with self.store.transaction() as conn:
            current = await session_store.lock_session(conn, principal.session_id)
            changes: dict[str, object] = {}
            if req.status is not None and req.status != current.status:
                check_transition(principal.role, current.status, req.status)
                changes["status"] = req.status
            if req.name is not None and req.name != current.name:
                changes.update(name=req.name, name_is_auto=False)
            if not changes:
                return current
            session = await session_store.update_session(conn, current.id, **changes)
            detail = {k: v for k, v in changes.items() if k in ("status", "name")}
            await activity_store.record(
                conn,
                current.id,
                principal.participant_id,
                principal.role,
                "session.updated",
                detail,
            )
        await self._publish(session.id, "e", SessionEvent(session=session))
        return session

    async def delete_session(self, principal: Principal) -> None:
        """Soft delete: rows stay; tokens stop working; live connections are closed."""
        require(principal, "delete_session")
        async with self.store.transaction() as conn:
            await session_store.lock_session(conn, principal.session_id)
            session = await session_store.soft_delete(conn, principal.session_id)
            await activity_store.record(
                conn, session.id, principal.participant_id, principal.role, "session.deleted"
            )
        await self._publish(session.id, "d", SessionEvent(session=session, deleted=True))

    async def rotate_invite(self, principal: Principal) -> api.InviteInfo:
        require(principal, "rotate_invite")
        for _attempt in range(8):
            code = new_invite_code()
            try:
                async with self.store.transaction() as conn:
                    await session_store.lock_session(conn, principal.session_id)
                    expires = await conn.fetchval(
                        "SELECT now() + make_interval(secs => $1)",
                        float(self.config.invite_ttl_seconds),
                    )
                    await session_store.update_session(
                        conn, principal.session_id, invite_code=code, invite_expires_at=expires
                    )
                    await activity_store.record(
                        conn,
                        principal.session_id,
                        principal.participant_id,
                        principal.role,
                        "invite.rotated",
                    )
            except asyncpg.UniqueViolationError:
                continue
            return api.InviteInfo(invite_code=code, invite_expires_at=expires)
        raise HubError("unavailable", "could not allocate an invite code; retry")

    async def get_invite(self, principal: Principal) -> api.InviteInfo:
        """The session's current invite code (agent A, who may also rotate it)."""
        require(principal, "rotate_invite")
        async with self.store.connection() as conn:
            code, expires = await session_store.get_invite(conn, principal.session_id)
        return api.InviteInfo(invite_code=code, invite_expires_at=expires)

    # -- messages ----------------------------------------------------------------------

    async def send_message(self, principal: Principal, frame: SendMessage) -> tuple[Message, bool]:
        """Commit a message (group commit); returns it and whether it was a retry."""
        return await self.enqueue_message(principal, frame)

    def enqueue_message(
        self, principal: Principal, frame: SendMessage
    ) -> asyncio.Future[tuple[Message, bool]]:
        """Check and queue a message for the next group commit, without waiting: the
        future resolves once it is committed (or refused). Raises at once if not allowed."""
        if frame.msg_type == "system":
            raise HubError("forbidden", "system messages are written by the hub only")
        require(principal, message_action(frame.msg_type))
        for path in frame.attachments:
            validate_path(path)
        return self.committer.enqueue(
            message_store.NewMessage(
                session_id=principal.session_id,
                author_id=principal.participant_id,
                author_role=principal.role,
                content=frame.content,
                msg_type=frame.msg_type,
                metadata=frame.metadata,
                parent_id=frame.parent_id,
                client_msg_id=frame.client_msg_id,
                token_count=frame.token_count,
                attachments=frame.attachments,
            )
        )

    async def list_messages(
        self, principal: Principal, *, after: int | None, before: int | None, limit: int
    ) -> api.MessagePage:
        async with self.store.connection() as conn:
            session = await session_store.get_session(conn, principal.session_id)
            messages = await message_store.list_messages(
                conn,
                principal.session_id,
                after=after,
                before=before,
                limit=limit,
                max_bytes=PAGE_BYTES,
            )
        return api.MessagePage(messages=messages, last_message_id=session.last_message_id)

    async def fetch_after(
        self, session_id: str, after: int, limit: int, max_bytes: int | None = None
    ) -> list[Message]:
        async with self.store.connection() as conn:
            return await message_store.list_messages(
                conn, session_id, after=after, limit=limit, max_bytes=max_bytes
            )

    async def _last_message_id(self, session_id: str) -> int:
        async with self.store.connection() as conn:
            value = await conn.fetchval(
                "SELECT last_message_id FROM sessions WHERE id = $1", session_id
            )
        if value is None:
            raise HubError("session_not_found", f"no session {session_id}")
        return int(value)

    async def _publish_committed(
        self, messages: list[Message], renamed: list[tuple[str, str]]
    ) -> None:
        await self.bus.publish_many(
            [(m.session_id, pack("m", m.id, encode(MessageEvent(message=m)))) for m in messages]
        )
        for session_id, _name in renamed:
            async with self.store.connection() as conn:
                session = await session_store.get_session(conn, session_id)
            await self._publish(session_id, "e", SessionEvent(session=session))

    # -- notes and files ---------------------------------------------------------------

    async def update_note(self, principal: Principal, frame: UpdateNote) -> Note:
        """Create a note (no id, expected_version 0) or edit one at its current version."""
        require(principal, "edit_notes")
        async with self.store.transaction() as conn:
            await self._writable(conn, principal.session_id)
            if frame.note_id is None:
                if frame.expected_version != 0:
                    raise HubError("bad_request", "a new note has expected_version 0")
                note = await note_store.create_note(
                    conn,
                    principal.session_id,
                    frame.title or "Untitled",
                    frame.content,
                    principal.participant_id,
                )
                action: ActivityAction = "note.created"
            else:
                note = await note_store.update_note(
                    conn,
                    principal.session_id,
                    frame.note_id,
                    content=frame.content,
                    title=frame.title,
                    expected_version=frame.expected_version,
                    editor=principal.participant_id,
                )
                action = "note.updated"
            await activity_store.record(
                conn,
                principal.session_id,
                principal.participant_id,
                principal.role,
                action,
                {"note_id": note.id, "version": note.version},
            )
        await self._publish(principal.session_id, "e", NoteEvent(note=note))
        return note

    async def list_notes(self, principal: Principal) -> list[Note]:
        async with self.store.connection() as conn:
            return await note_store.list_notes(conn, principal.session_id)

    async def get_note(self, principal: Principal, note_id: int) -> Note:
        async with self.store.connection() as conn:
            return await note_store.get_note(conn, principal.session_id, note_id)

    async def write_file(self, principal: Principal, frame: WriteFile) -> FileEntry:
        require(principal, "write_files")
        path = validate_path(frame.path)
        async with self.store.transaction() as conn:
            await self._writable(conn, principal.session_id)
            entry = await file_store.write_file(
                conn,
                principal.session_id,
                path,
                frame.content,
                editor=principal.participant_id,
                expected_hash=frame.expected_hash,
            )
            await activity_store.record(
                conn,
                principal.session_id,
                principal.participant_id,
                principal.role,
                "file.written",
                {"path": path, "content_hash": entry.content_hash},
            )
        await self._publish(principal.session_id, "e", FileEvent(file=entry))
        return entry

    async def list_files(self, principal: Principal) -> list[FileInfo]:
        async with self.store.connection() as conn:
            return await file_store.list_files(conn, principal.session_id)

    async def get_file(self, principal: Principal, path: str) -> FileEntry:
        async with self.store.connection() as conn:
            return await file_store.get_file(conn, principal.session_id, validate_path(path))

    async def _writable(self, conn: Connection, session_id: str) -> None:
        """Hold the session against deletion/completion for this transaction; refuse
        if it is already gone or completed."""
        row = await conn.fetchrow(
            "SELECT status, deleted_at FROM sessions WHERE id = $1 FOR SHARE", session_id
        )
        if row is None:
            raise HubError("session_not_found", f"no session {session_id}")
        if row["deleted_at"] is not None:
            raise HubError("session_deleted", "the session was deleted")
        if row["status"] == "completed":
            raise HubError("session_completed", "the session is completed and read-only")

    async def list_activity(self, principal: Principal, after: int, limit: int) -> api.ActivityPage:
        async with self.store.connection() as conn:
            rows = await activity_store.list_activity(conn, principal.session_id, after, limit)
        return api.ActivityPage(activity=rows)

    # -- presence ----------------------------------------------------------------------

    async def set_presence(
        self, principal: Principal, frame: SetPresence | None = None, *, offline: bool = False
    ) -> Presence:
        """Record and broadcast a participant's presence (connect, leave, or by request)."""
        require(principal, "set_presence")
        presence = Presence(
            participant_id=principal.participant_id,
            role=principal.role,
            status="offline" if offline else (frame.status if frame else "online"),
            activity=None if offline or frame is None else frame.activity,
            last_seen_at=datetime.now(UTC),
            display_name=principal.display_name,
        )
        if offline:
            await self.bus.clear_presence(principal.session_id, principal.participant_id)
            try:
                elsewhere = principal.participant_id in await self.bus.live_presence(
                    principal.session_id
                )
            except Exception:
                elsewhere = False
            if not elsewhere:  # still connected to another process: stays as it is
                await self._announce_offline(principal.session_id, presence)
            return presence
        await self.bus.set_presence(
            principal.session_id, principal.participant_id, encode(presence), self.presence_ttl
        )
        async with self.store.connection() as conn:
            await presence_store.save_presence(conn, principal.session_id, presence)
        await self._publish(principal.session_id, "p", PresenceEvent(presence=presence))
        return presence

    async def _announce_offline(self, session_id: str, presence: Presence) -> None:
        """Broadcast first (it must reach people even with the database down), then
        persist as the last known state, best effort."""
        await self._publish(session_id, "p", PresenceEvent(presence=presence))
        try:
            async with self.store.connection() as conn:
                await presence_store.save_presence(conn, session_id, presence)
        except HubError:
            log.warning("offline presence of %s not persisted", presence.participant_id)

    async def _live(self, session_id: str, stored: list[Presence]) -> list[Presence]:
        known = {p.participant_id: p for p in stored}
        try:
            live = await self.bus.live_presence(session_id)
        except Exception as exc:  # the bus is down: the last known state is all there is
            log.warning("live presence unavailable: %s", exc)
            return sorted(known.values(), key=lambda p: p.participant_id)
        for pid, data in live.items():
            known[pid] = msgspec.json.decode(data, type=Presence)
        for pid, p in known.items():
            if pid not in live and p.status != "offline":
                known[pid] = msgspec.structs.replace(p, status="offline", activity=None)
        return sorted(known.values(), key=lambda p: p.participant_id)

    async def snapshot(self, principal: Principal) -> Snapshot:
        async with self.store.connection() as conn:
            stored = await read_snapshot(conn, principal.session_id)
        return Snapshot(
            session=stored.session,
            presence=await self._live(principal.session_id, stored.presence),
            notes=stored.notes,
            files=stored.files,
        )

    async def list_presence(self, principal: Principal) -> list[Presence]:
        async with self.store.connection() as conn:  # Redis is asked after, not holding it
            stored = await presence_store.list_presence(conn, principal.session_id)
        return await self._live(principal.session_id, stored)

    # -- publishing --------------------------------------------------------------------

    async def _publish(self, session_id: str, kind: str, event: msgspec.Struct) -> None:
        try:
            await self.bus.publish(session_id, pack(kind, 0, encode(event)))
        except Exception:
            log.exception("publishing a %s event for %s failed", kind, session_id)
