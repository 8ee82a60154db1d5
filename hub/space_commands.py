"""The `hub` commands for finding sessions again and grouping them, with the user key
`hub login` kept: `hub sessions` (one's own, or a space's), `hub session watch|move`, and
`hub space …` (create, list, show, edit, archive, members and their roles, leave)."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, get_args

from hub.client import HubAPI
from hub.client.search import SessionFilters
from hub.commands import (
    CommandError,
    answer_within,
    need_user_key,
    out,
    printable,
    watch_as_observer,
    when,
)
from hub.domain import Session, SessionMode, SessionStatus, Space, SpaceRole

__all__ = [
    "COMMANDS",
    "SESSION_ACTIONS",
    "add_parsers",
    "cell",
    "filters_of",
    "list_sessions",
    "narrowed",
    "run",
    "table",
    "watch_session",
]

COMMANDS = ("sessions", "space")
"""The top-level commands this module runs."""
SESSION_ACTIONS = ("move", "watch")
"""The `hub session` actions this module runs."""

WithUrl = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


# --- the command line --------------------------------------------------------------------


def _page_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= size <= 100:
        raise argparse.ArgumentTypeError("a page holds 1 to 100 sessions")
    return size


def _time(text: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 time (UTC unless it names a zone)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {text!r} (like 2026-01-31 or 2026-01-31T09:30:00+02:00)"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def filters_of(args: argparse.Namespace) -> SessionFilters:
    """The filters and page `hub sessions` was given, as the SDK takes them."""
    return SessionFilters(
        status=args.status,
        mode=args.mode,
        agent=args.agent,
        created_after=args.since,
        created_before=args.until,
        limit=args.limit,
        cursor=args.cursor,
    )


def narrowed(filters: SessionFilters) -> bool:
    """Whether a filter besides the status was given (an empty list then says so)."""
    return any(filters.get(name) for name in ("mode", "agent", "created_after", "created_before"))


def add_parsers(commands: Any, session_actions: Any, with_url: WithUrl, user_key_help: str) -> None:
    """Add `hub sessions`, `hub space …` to `commands` and `hub session watch|move` to
    `session_actions` (`with_url` adds --url and --timeout)."""

    def sub(container: Any, name: str, text: str) -> argparse.ArgumentParser:
        parser = with_url(container.add_parser(name, help=text, description=text))
        parser.epilog = user_key_help
        return parser

    def space_ref(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("space", metavar="SPACE", help="the space's slug (or id, spc_…)")
        return parser

    listing = sub(commands, "sessions", "your agents' sessions, or a space's, newest first")
    listing.add_argument("--space", metavar="SPACE", help="a space's sessions (members)")
    listing.add_argument("--status", choices=get_args(SessionStatus))
    listing.add_argument("--mode", choices=get_args(SessionMode))
    listing.add_argument(
        "--agent", metavar="SLUG", help="only sessions a verified agent (its slug) is in"
    )
    listing.add_argument(
        "--since",
        type=_time,
        metavar="WHEN",
        help="created at or after: a date (2026-01-31, midnight UTC) or an ISO 8601 time",
    )
    listing.add_argument("--until", type=_time, metavar="WHEN", help="created before (as --since)")
    listing.add_argument(
        "--limit", type=_page_size, default=20, metavar="N", help="sessions per page (20; 1 to 100)"
    )
    listing.add_argument("--cursor", metavar="CURSOR", help="start where a page before ended")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")

    watch = sub(session_actions, "watch", "follow one of your sessions, or a space's, live")
    watch.epilog = (
        "An observer of your own, with no invite code: for a session one of your agents"
        " was agent A or B of, or of a space you are a member of. Its token is kept in"
        " $XDG_CONFIG_HOME/hub/observers.json, one per hub, session and name, and reused. "
        + user_key_help
    )
    watch.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    watch.add_argument("--name", help="your display name (default: your account's)")
    watch.add_argument("--limit", type=int, help="stop after this many messages")
    watch.add_argument(
        "--print-token",
        action="store_true",
        help="print a new observer token alone on stdout instead of watching",
    )
    move = sub(session_actions, "move", "move a session into a space, or out of its space")
    move.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    where = move.add_mutually_exclusive_group(required=True)
    where.add_argument("--space", metavar="SPACE", help="the space it goes in (slug or id)")
    where.add_argument("--none", action="store_true", help="take it out of its space")

    spaces = commands.add_parser(
        "space",
        help="your spaces: groups of sessions, with members by role",
        description="Your spaces: groups of sessions, with members by role (owner, member,"
        " viewer). To anyone not a member, a space does not exist (not_found).",
        epilog=user_key_help,
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub(spaces, "create", "create a space; you are its owner")
    create.add_argument("slug", metavar="SLUG", help="its name in addresses")
    create.add_argument("--name", help="its display name (default: the slug)")
    create.add_argument("--description", default="", help="what it is for")
    sub(spaces, "list", "the spaces you are a member of, with your role")
    space_ref(sub(spaces, "show", "show a space"))
    edit = space_ref(sub(spaces, "edit", "rename or describe a space (owners)"))
    edit.add_argument("--name", help="its new display name")
    edit.add_argument("--description", help="its new description")
    space_ref(sub(spaces, "archive", "archive a space: no new sessions; its sessions stay"))
    space_ref(sub(spaces, "unarchive", "take a space out of the archive (owners)"))
    space_ref(sub(spaces, "members", "the space's members and their roles"))
    invite = space_ref(sub(spaces, "invite", "add a person by username, or change a role"))
    invite.add_argument("username", metavar="USERNAME")
    invite.add_argument("--role", choices=get_args(SpaceRole), default="member")
    remove = space_ref(sub(spaces, "remove", "remove a member (owners)"))
    remove.add_argument("username", metavar="USERNAME")
    space_ref(sub(spaces, "leave", "leave a space (its last owner cannot)"))


async def run(args: argparse.Namespace) -> int:
    """Run `hub sessions`, `hub space …` or `hub session move` (REST calls)."""
    url = args.url
    if args.command == "sessions":
        return await list_sessions(url, args.space, filters_of(args), every_page=args.all)
    if args.command == "session":
        return await move_session(url, args.session, None if args.none else args.space)
    action = args.action
    if action == "create":
        return await create_space(url, args.slug, args.name or args.slug, args.description)
    if action == "list":
        return await list_spaces(url)
    if action == "show":
        return await show_space(url, args.space)
    if action == "edit":
        if args.name is None and args.description is None:
            raise CommandError("nothing to change: give --name and/or --description")
        return await update_space(url, args.space, name=args.name, description=args.description)
    if action in ("archive", "unarchive"):
        return await update_space(url, args.space, archived=action == "archive")
    if action == "members":
        return await members(url, args.space)
    if action == "invite":
        return await set_member(url, args.space, args.username, args.role)
    if action == "remove":
        return await remove_member(url, args.space, args.username)
    return await leave(url, args.space)


# --- readable output ---------------------------------------------------------------------


def cell(text: str) -> str:
    """`text` as one line a terminal shows as it is: control characters (newlines,
    escape sequences) written as `\\x..` escapes."""
    return printable(text)


def _width(text: str) -> int:
    """Columns `text` takes on a terminal: wide characters two, combining ones none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print `rows` under `header` in aligned columns (the last one not padded)."""
    lines = [list(header), *([cell(value) for value in row] for row in rows)]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        padded = [value + " " * (w - _width(value)) for value, w in zip(line, widths, strict=False)]
        out("  ".join([*padded, line[-1]]).rstrip())


# --- sessions ----------------------------------------------------------------------------


async def list_sessions(
    url: str, space: str | None, filters: SessionFilters, *, every_page: bool
) -> int:
    """`hub sessions`: a page of one's agents' sessions (or a space's), newest first,
    narrowed by `filters`; with `every_page`, each page after it too, by the cursor."""
    key = need_user_key(url)
    found: list[Session] = []
    cursor = filters.get("cursor")
    async with HubAPI(url) as rest:
        spaces = [] if space else await rest.spaces(key)
        slugs: dict[str | None, str] = {s.id: s.slug for s in spaces}
        while True:
            filters["cursor"] = cursor
            if space:
                page = await rest.space_sessions(key, space, **filters)
            else:
                page = await rest.my_sessions(key, **filters)
            found.extend(page.sessions)
            cursor = page.next
            if cursor is None or not every_page:
                break
    if not found:
        status = filters.get("status")
        which = f"{status} sessions" if status else "sessions"
        if narrowed(filters):
            out(f"no matching {which}" + (f" in {space}" if space else ""))
        else:
            out(f"no {which} in {space}" if space else f"no {which} of your agents yet")
    else:
        header = ["SESSION", "STATUS", "CREATED", "AGENT A", "AGENT B"]
        rows = [
            [s.id, s.status, when(s.created_at), s.agent_a_id, s.agent_b_id or "-"]
            + ([] if space else [slugs.get(s.workspace_id, s.workspace_id or "-")])
            + [s.name]
            for s in found
        ]
        table([*header, *([] if space else ["SPACE"]), "NAME"], rows)
    if cursor is not None:
        out(f"hub: there are more: add --all, or --cursor {cursor}", sys.stderr)
    return 0


async def watch_session(
    url: str,
    session_id: str,
    name: str | None,
    limit: int | None,
    *,
    print_token: bool,
    patience: float,
) -> int:
    """`hub session watch SESSION`: follow it as an observer of one's own (made with the
    user key, kept and reused like `hub watch CODE`'s), or print a new observer token."""
    key = need_user_key(url)

    async def observe(rest: HubAPI) -> str:
        return (await rest.watch_session(key, session_id, display_name=name)).token

    if print_token:
        async with answer_within(url, patience), HubAPI(url) as rest:
            out(await observe(rest))
        return 0
    return await watch_as_observer(url, session_id, name, observe, limit, patience)


async def move_session(url: str, session_id: str, space: str | None) -> int:
    """`hub session move SESSION --space SPACE|--none`."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        await rest.move_session(key, session_id, space)
    out(f"session {session_id} " + (f"moved to {space}" if space else "is in no space now"))
    return 0


# --- spaces ------------------------------------------------------------------------------


def _describe(s: Space) -> None:
    out(f"space:       {s.slug}")
    out(f"id:          {s.id}")
    out(f"name:        {cell(s.name)}")
    if s.description:
        out(f"description: {cell(s.description)}")
    out(f"owner:       {s.owner}")
    out(f"role:        {s.role}")
    out(f"members:     {s.member_count}")
    if s.archived_at is not None:
        out(f"archived:    {when(s.archived_at)}")
    out(f"created:     {when(s.created_at)}")


async def create_space(url: str, slug: str, name: str, description: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        _describe(await rest.create_space(key, slug, name, description=description))
    return 0


async def list_spaces(url: str) -> int:
    """`hub space list`: one row per space one is a member of."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        spaces = await rest.spaces(key)
    if not spaces:
        out("no spaces yet: `hub space create SLUG` makes one")
        return 0
    rows = [
        [s.slug, s.role, str(s.member_count), "archived" if s.archived_at else "open", s.name]
        for s in spaces
    ]
    table(["SPACE", "ROLE", "MEMBERS", "STATE", "NAME"], rows)
    return 0


async def show_space(url: str, ref: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        _describe(await rest.space(key, ref))
    return 0


async def update_space(
    url: str,
    ref: str,
    *,
    name: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
) -> int:
    """`hub space edit|archive|unarchive SPACE` (owners)."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        space = await rest.update_space(
            key, ref, name=name, description=description, archived=archived
        )
    if archived is None:
        _describe(space)
    elif archived:
        out(f"space {space.slug} archived: no new sessions in it; its sessions stay readable")
    else:
        out(f"space {space.slug} is open again")
    return 0


async def members(url: str, ref: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        found = await rest.space_members(key, ref)
    rows = [[m.username, m.role, m.added_by, when(m.created_at), m.display_name] for m in found]
    table(["USERNAME", "ROLE", "ADDED BY", "SINCE", "NAME"], rows)
    return 0


async def set_member(url: str, ref: str, username: str, role: SpaceRole) -> int:
    """`hub space invite SPACE USERNAME --role ROLE`: add, or change the role (owners)."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        member = await rest.set_space_member(key, ref, username, role)
    out(f"{member.username} is {'an' if role == 'owner' else 'a'} {member.role} of {ref}")
    return 0


async def remove_member(url: str, ref: str, username: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        await rest.remove_space_member(key, ref, username)
    out(f"{username} removed from {ref}")
    return 0


async def leave(url: str, ref: str) -> int:
    """`hub space leave SPACE`: remove oneself (the last owner stays: conflict)."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        me = await rest.me(key)
        await rest.remove_space_member(key, ref, me.username)
    out(f"you ({me.username}) left {ref}")
    return 0
