"""The `hub` commands for people, built on the SDK: create, inspect, change and join
sessions, watch one live in the terminal, send a message. (`hub demo` is `hub.demo`.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from hub import api
from hub.client import (
    AuthFailed,
    HubAPI,
    HubClientError,
    HubTimeout,
    connect,
)
from hub.domain import Message, MsgType, Presence, SessionStatus
from hub.protocol import (
    ArtifactEvent,
    AttachmentEvent,
    Event,
    FileEvent,
    JobEvent,
    JobLogEvent,
    MessageEvent,
    NoteEvent,
    PresenceEvent,
    SessionEvent,
)

__all__ = [
    "CommandError",
    "create_session",
    "describe",
    "join",
    "login",
    "logout",
    "need_user_key",
    "out",
    "printable",
    "send",
    "session_action",
    "show_created",
    "user_key",
    "watch",
    "watch_as_observer",
    "when",
    "whoami",
]

ROLE = {"agent_a": "agent A", "agent_b": "agent B", "observer": "observer", "system": "system"}


class CommandError(Exception):
    """A mistake in how a command was called, or a state that stops it: one line."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def printable(text: str, keep: str = "") -> str:
    """`text` as a terminal shows it without acting on any of it: every character that
    is not printable (C0 and C1 controls and DEL, whose escape sequences move the
    cursor, clear the screen or set the title; Unicode format characters such as bidi
    overrides; line separators) written as its Python escape (`\\x1b`, `\\u202e`),
    except those in `keep`."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape").decode() for c in text
    )


def out(line: str, stream: TextIO | None = None) -> None:
    """Print `line` (and flush). Whatever it holds of the hub's data, the terminal only
    shows it: control characters are escaped (`printable`), newlines and tabs kept."""
    print(printable(line, "\n\t"), file=stream or sys.stdout, flush=True)


def when(at: datetime | None) -> str:
    """A moment in the terminal's time zone, to the minute ("never" for None)."""
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at is not None else "never"


def describe_message(m: Message) -> str:
    kind = "" if m.msg_type == "chat" else f" [{m.msg_type}]"
    reply = f" (re #{m.parent_id})" if m.parent_id else ""
    files = f" (attached: {', '.join(m.attachments + m.attachment_ids)})"
    if not m.attachments and not m.attachment_ids:
        files = ""
    stamp = m.created_at.astimezone().strftime("%H:%M:%S")
    # a message's further lines are indented: none of them can pass for another message
    content = m.content.replace("\n", "\n    ")
    return f"#{m.id} {stamp} {m.author_id} ({ROLE[m.author_role]}){kind}{reply}: {content}{files}"


def describe(event: Event) -> str:
    """One readable line per event, for terminals and transcripts."""
    if isinstance(event, MessageEvent):
        return describe_message(event.message)
    if isinstance(event, NoteEvent):
        n = event.note
        return f'note "{n.title}" v{n.version} by {n.last_editor}'
    if isinstance(event, FileEvent):
        f = event.file
        return f"file {f.path} ({f.size} B) by {f.last_editor}"
    if isinstance(event, AttachmentEvent):
        a = event.attachment
        return f"attachment {a.id} {a.name} ({a.size} B, {a.content_type}) by {a.uploader}"
    if isinstance(event, ArtifactEvent):
        r = event.artifact
        return f'artifact {r.id} {r.kind} "{r.title}" v{r.version} by {r.last_editor}'
    if isinstance(event, JobEvent):
        j = event.job
        cost = f", charged {j.cost_charged}" if j.cost_charged is not None else ""
        return f"job {j.id} {j.kind} {j.status} {j.progress}% {j.progress_message}{cost}".strip()
    if isinstance(event, JobLogEvent):  # one line an entry, whatever its text holds
        return "\n".join(
            f"job {event.job_id} {e.level}: {printable(e.text)}" for e in event.entries
        )
    if isinstance(event, PresenceEvent):
        return describe_presence(event.presence)
    if isinstance(event, SessionEvent):
        s = event.session
        return "session deleted" if event.deleted else f'session "{s.name}" is {s.status}'
    return repr(event)


async def create_session(
    url: str,
    name: str | None,
    agent_id: str | None,
    agent_key: str | None = None,
    space: str | None = None,
    *,
    template: str | None = None,
    template_version: int | None = None,
) -> int:
    """`hub session create`; with `agent_key`, agent A is that key's profile, verified,
    and the session may go in the space `space` (slug or id) of its owner's; with
    `template`, the session starts from that template (at `template_version`)."""
    async with HubAPI(url) as rest:
        fields: dict[str, Any] = {}
        if name:
            fields["name"] = name
        if agent_id:
            fields["agent_id"] = agent_id
        if space:
            fields["workspace_id"] = space
        if template:
            fields["template"] = template
        if template_version is not None:
            fields["template_version"] = template_version
        created = await rest.create_session(agent_key=agent_key, **fields)
    show_created(url, created)
    return 0


def show_created(url: str, created: api.CreatedSession) -> None:
    """Print a new session's id and credentials (shown once), and where to watch it."""
    s = created.session
    verified = _verified(s.agent_a_verified, s.agent_a_profile, s.agent_a_revision)
    out(f"session:        {s.id}")
    out(f"agent A:        {created.participant_id}{verified}")
    if s.workspace_id:
        out(f"space:          {s.workspace_id}")
    if s.template_id is not None:
        out(f"template:       {s.template_id} version {s.template_version}")
    out(f"agent token:    {created.agent_token}")
    out(f"observer token: {created.observer_token}")
    expires = f"{created.invite_expires_at:%Y-%m-%d %H:%M} UTC"
    out(f"invite code:    {created.invite_code}  (expires {expires})")
    out(f"watch it at:    {url.rstrip('/')}/join/{created.invite_code}")


async def join(
    url: str,
    code: str,
    role: str,
    agent_id: str | None,
    name: str | None,
    agent_key: str | None = None,
) -> int:
    """`hub join`; with `agent_key`, agent B is that key's profile, verified."""
    async with HubAPI(url) as rest:
        joined = await rest.join(
            code, role=role, agent_id=agent_id, display_name=name, agent_key=agent_key
        )
    s = joined.session
    verified = (
        _verified(s.agent_b_verified, s.agent_b_profile, s.agent_b_revision)
        if joined.role == "agent_b"
        else ""
    )
    out(f"session: {s.id} ({s.name})")
    out(f"you:     {joined.participant_id} ({ROLE[joined.role]}){verified}")
    out(f"token:   {joined.token}")
    return 0


def _verified(verified: bool, profile: str | None, revision: int | None) -> str:
    """What an agent's line says when it entered with an agent key."""
    if not verified:
        return ""
    return f"  (verified: agent {profile}, configuration revision {revision})"


@contextlib.asynccontextmanager
async def answer_within(url: str, seconds: float) -> AsyncIterator[None]:
    """Bound what the block waits for the hub: `HubTimeout` after `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise HubTimeout(
            "timeout", f"the hub at {url} did not answer within {seconds:g} s"
        ) from None


def describe_presence(p: Presence) -> str:
    doing = f": {p.activity}" if p.activity else ""
    name = p.display_name or p.participant_id
    return f"{name} ({ROLE[p.role]}) is {p.status}{doing}"


async def session_action(
    url: str, session_id: str, token: str, action: str, *, rotate: bool = False
) -> int:
    """`hub session status|pause|resume|complete|delete|invite SESSION`."""
    async with HubAPI(url) as rest:
        if action == "status":
            return await _status(rest, url, session_id, token)
        if action == "delete":
            await rest.delete_session(session_id, token)
            out(f"session {session_id} deleted")
            return 0
        if action == "invite":
            invite = await (rest.rotate_invite if rotate else rest.invite)(session_id, token)
            expires = f"{invite.invite_expires_at:%Y-%m-%d %H:%M} UTC"
            out(f"invite code: {invite.invite_code}  (expires {expires})")
            out(f"watch it at: {url.rstrip('/')}/join/{invite.invite_code}")
            return 0
        status: SessionStatus = (
            "paused" if action == "pause" else "active" if action == "resume" else "completed"
        )
        session = await rest.update_session(session_id, token, status=status)
    out(f'session "{session.name}" is {session.status}')
    return 0


async def _status(rest: HubAPI, url: str, session_id: str, token: str) -> int:
    s = await rest.session(session_id, token)
    presence = await rest.presence(session_id, token)
    try:
        invite = await rest.invite(session_id, token)
    except HubClientError as exc:
        if exc.code != "forbidden":  # only agent A may read it
            raise
        invite = None
    out(f"session:      {s.id}")
    out(f"name:         {s.name}")
    out(f"status:       {s.status} ({s.mode}{', private' if s.is_private else ''})")
    out(f"agent A:      {s.agent_a_id}")
    out(f"agent B:      {s.agent_b_id or '(nobody has joined yet)'}")
    out(f"last message: {f'#{s.last_message_id}' if s.last_message_id else '(none yet)'}")
    out("participants:" + ("" if presence else " (nobody has connected yet)"))
    for p in presence:
        out(f"  {describe_presence(p)}")
    if invite is not None:
        expires = f"{invite.invite_expires_at:%Y-%m-%d %H:%M} UTC"
        out(f"invite code:  {invite.invite_code}  (expires {expires})")
        out(f"watch it at:  {url.rstrip('/')}/join/{invite.invite_code}")
    return 0


async def send(
    url: str,
    token: str,
    content: str,
    msg_type: MsgType,
    *,
    patience: float,
    attach: list[str] | None = None,
) -> int:
    """Post one message, uploading each `attach` file first (streamed)."""
    files = [Path(name) for name in attach or ()]
    for file in files:
        if not file.is_file():
            raise CommandError(f"--attach {file}: no such file", exit_code=1)
    async with connect(
        url,
        token,
        since=None,
        connect_timeout=patience,
        reconnect_timeout=patience,
        request_timeout=patience,
    ) as session:
        message = await session.send(content, msg_type=msg_type, attachments=files)
    out(describe_message(message))
    return 0


async def watch(
    url: str,
    code: str | None,
    token: str | None,
    name: str | None,
    limit: int | None,
    *,
    patience: float,
) -> int:
    """Print the session's history, then everything live, one line per event. With an
    invite code, the observer made for this hub, code and name last time is reused."""
    if code is None:
        assert token is not None
        return await _watch(url, token, limit, patience)

    async def observe(rest: HubAPI) -> str:
        return (await rest.join(code, role="observer", display_name=name)).token

    return await watch_as_observer(url, code.strip().upper(), name, observe, limit, patience)


async def watch_as_observer(
    url: str,
    what: str,
    name: str | None,
    observe: Callable[[HubAPI], Awaitable[str]],
    limit: int | None,
    patience: float,
) -> int:
    """`watch` with the observer token kept for this hub, `what` (an invite code, a
    session id) and name, else a new one from `observe`, kept for next time."""
    key = f"{url.rstrip('/')} {what} {name or ''}"
    remembered = _observers().get(key)
    if remembered is not None:
        try:
            return await _watch(url, remembered, limit, patience)
        except AuthFailed:  # the hub forgot it (a new database): observe anew
            _remember_observer(key, None)
    async with answer_within(url, patience), HubAPI(url) as rest:
        token = await observe(rest)
    _remember_observer(key, token)
    return await _watch(url, token, limit, patience)


async def _watch(url: str, token: str, limit: int | None, patience: float) -> int:
    async with connect(url, token, since=0, connect_timeout=patience) as session:
        # connected: from now on say when the connection drops and comes back
        logging.getLogger("hub.client").setLevel(logging.WARNING)
        assert session.hello is not None
        s = session.hello.session
        you = session.you.display_name or session.you.participant_id
        out(f'watching "{s.name}" ({s.status}, {s.mode}) as {you}; Ctrl+C to stop')
        count = 0
        async for event in session:
            out(describe(event))
            if isinstance(event, MessageEvent):
                count += 1
                if limit is not None and count >= limit:
                    break
    return 0


# --- remembered observers ---------------------------------------------------------------


def config_dir() -> Path:
    """Where the `hub` command keeps what it remembers: `$XDG_CONFIG_HOME/hub`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hub"


def _remembered(file: str) -> dict[str, str]:
    """What the `hub` command keeps in `file` of its config folder (nothing if unreadable)."""
    try:
        found = json.loads((config_dir() / file).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


def _remember(file: str, key: str, value: str | None) -> None:
    """Keep (or with None, forget) a value in `file`, readable by this user only. A
    folder that cannot be written means asking again next time, nothing worse."""
    kept = _remembered(file)
    if value is None:
        kept.pop(key, None)
    else:
        kept[key] = value
    folder = config_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".remember-")  # mode 0600
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f, indent=1)
        os.replace(tmp, folder / file)
    except OSError as exc:
        logging.getLogger("hub").warning("could not remember it in %s: %s", folder, exc)


def _observers() -> dict[str, str]:
    return _remembered("observers.json")


def _remember_observer(key: str, token: str | None) -> None:
    _remember("observers.json", key, token)


# --- people: log in, who am I, log out ---------------------------------------------------

_KEYS = "keys.json"


def user_key(url: str) -> str | None:
    """The user key for `url`: HUB_USER_KEY, else the one `hub login` kept."""
    given = os.environ.get("HUB_USER_KEY", "").strip()
    if given:
        return given
    kept = _remembered(_KEYS).get(url.rstrip("/"))
    return kept.split(" ", 1)[1] if kept and " " in kept else None


async def login(url: str, username: str, password: str) -> int:
    """Log in; keep the new user key (mode 0600) for this hub."""
    async with HubAPI(url) as rest:
        name = f"hub CLI on {platform.node() or 'this machine'}"[:64]
        logged = await rest.log_in(username, password, key_name=name)
    _remember(_KEYS, url.rstrip("/"), f"{logged.key.id} {logged.token}")
    kept = config_dir() / _KEYS
    out(f"logged in to {url} as {logged.user.username} (key {logged.key.id}, kept in {kept})")
    return 0


def need_user_key(url: str) -> str:
    """`user_key(url)`, or the one line saying how to get one."""
    key = user_key(url)
    if key is None:
        raise CommandError(f"not logged in to {url}: run `hub login USERNAME`", exit_code=1)
    return key


async def whoami(url: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        me = await rest.me(key)
    out(f"{me.username} ({me.display_name}) {me.id}")
    return 0


async def logout(url: str) -> int:
    """Revoke the kept key on the hub and forget it."""
    kept = _remembered(_KEYS).get(url.rstrip("/"))
    if not kept or " " not in kept:
        raise CommandError(f"not logged in to {url}", exit_code=1)
    key_id, token = kept.split(" ", 1)
    async with HubAPI(url) as rest:
        with contextlib.suppress(AuthFailed):  # revoked already: forgetting is all left
            await rest.revoke_user_key(token, key_id)
    _remember(_KEYS, url.rstrip("/"), None)
    out(f"logged out of {url}: key {key_id} revoked")
    return 0
