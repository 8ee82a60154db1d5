"""The `hub` commands for the public directory and full-text search: `hub sessions
--public` (no key needed) and `hub search QUERY [--scope public|mine|space]` (mine and
space with the user key `hub login` kept). Matched words are shown in [brackets]."""

from __future__ import annotations

import argparse
import sys
from typing import Any, get_args

from hub.client import HubAPI
from hub.client.search import SessionFilters
from hub.commands import CommandError, need_user_key, out, when
from hub.domain import SearchScope, Segment, Session, SessionStatus
from hub.space_commands import cell, filters_of, narrowed, table

__all__ = ["COMMANDS", "add_parsers", "public_sessions", "run", "search", "shown"]

COMMANDS = ("search",)
"""The top-level commands this module runs (and `hub sessions --public`)."""


def add_parsers(commands: Any, with_url: Any, user_key_help: str) -> None:
    """Add `hub search` to `commands`, and `--public` to the `hub sessions` already
    there."""
    listing = commands.choices["sessions"]
    listing.add_argument(
        "--public", action="store_true", help="the public directory instead (no key needed)"
    )
    text = "find sessions by words in their names and messages, best first"
    found = with_url(commands.add_parser("search", help=text, description=text))
    found.epilog = (
        'Web search syntax: words (all must match), "a phrase", or, -word. Matched words'
        " are shown in [brackets]. --scope mine and space need your user key. " + user_key_help
    )
    found.add_argument("words", nargs="+", metavar="WORD")
    found.add_argument("--scope", choices=get_args(SearchScope), default=None)
    found.add_argument("--space", metavar="SPACE", help="search this space (--scope space)")
    found.add_argument("--status", choices=get_args(SessionStatus))
    found.add_argument("--limit", type=int, default=10, metavar="N", help="sessions (10; 1-50)")
    found.add_argument("--cursor", metavar="CURSOR", help="start where a page before ended")


async def run(args: argparse.Namespace) -> int:
    """Run `hub search` or `hub sessions --public` (REST calls)."""
    if args.command == "sessions":
        if args.space:
            raise CommandError("give --public or --space, not both")
        return await public_sessions(args.url, filters_of(args), args.all)
    scope: SearchScope = args.scope or ("space" if args.space else "public")
    return await search(
        args.url, " ".join(args.words), scope, args.space, args.status, args.limit, args.cursor
    )


async def public_sessions(url: str, filters: SessionFilters, every_page: bool) -> int:
    """`hub sessions --public`: the public directory, newest first, narrowed by
    `filters`."""
    found: list[Session] = []
    cursor = filters.get("cursor")
    async with HubAPI(url) as rest:
        while True:
            filters["cursor"] = cursor
            page = await rest.session_directory(**filters)
            found.extend(page.sessions)
            cursor = page.next
            if cursor is None or not every_page:
                break
    if not found:
        out("no matching public sessions" if narrowed(filters) else "no public sessions")
    else:
        rows = [
            [s.id, s.status, when(s.created_at), s.agent_a_id, s.agent_b_id or "-", s.name]
            for s in found
        ]
        table(["SESSION", "STATUS", "CREATED", "AGENT A", "AGENT B", "NAME"], rows)
    if cursor is not None:
        out(f"hub: there are more: add --all, or --cursor {cursor}", sys.stderr)
    return 0


def shown(segments: list[Segment]) -> str:
    """A snippet on one terminal line: matched runs in [brackets], control characters
    escaped."""
    return cell("".join(f"[{s.text}]" if s.hit else s.text for s in segments))


async def search(
    url: str,
    q: str,
    scope: SearchScope,
    space: str | None,
    status: SessionStatus | None,
    limit: int,
    cursor: str | None,
) -> int:
    """`hub search`: the best-matching sessions, each with its best messages."""
    if scope == "space" and not space:
        raise CommandError("--scope space needs --space SPACE")
    key = None if scope == "public" else need_user_key(url)
    async with HubAPI(url) as rest:
        page = await rest.search(
            q,
            scope=scope,
            space=space,
            user_key=key,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    if not page.results:
        out("nothing found")
    for hit in page.results:
        s = hit.session
        out(f"{s.id}  {s.status}  {when(s.created_at)}  {shown(hit.name)}")
        for m in hit.messages:
            out(f"  #{m.id} {cell(m.author_id)}: {shown(m.snippet)}")
        more = hit.matches - len(hit.messages)
        if more > 0:
            out(f"  … and {more} more matching message{'s' if more > 1 else ''}")
    if page.capped:
        out("hub: very many messages matched; add words to narrow the search", sys.stderr)
    if page.next is not None:
        out(f"hub: there are more: --cursor {page.next}", sys.stderr)
    return 0
