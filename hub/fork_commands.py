"""`hub session fork SESSION [--at N]` and `hub session forks SESSION`: fork a session at a
message (agent A's or B's token), and list a session's forks (any token of it)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hub.client import HubAPI
from hub.commands import out, show_created

__all__ = ["add_fork_parsers", "fork", "forks"]


def add_fork_parsers(
    sessions: Any,
    command: Callable[[str, str, Any], argparse.ArgumentParser],
    with_token: Callable[[argparse.ArgumentParser], None],
    epilog: str,
) -> None:
    """Add `fork` and `forks` to `hub session`."""
    fork_ = command(
        "fork",
        "fork a session at a message (agents): a new session with its messages up to there"
        " and its notes and files as they stood then; prints its id, tokens and invite code",
        sessions,
    )
    fork_.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    fork_.add_argument(
        "--at", type=int, metavar="N", help="the last message the fork keeps (default: all)"
    )
    fork_.add_argument("--name", help="the fork's name (default: the session's)")
    listing = command("forks", "list a session's forks, newest first", sessions)
    listing.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    for sub in (fork_, listing):
        sub.epilog = epilog
        with_token(sub)


async def fork(url: str, token: str, session_id: str, at: int | None, name: str | None) -> int:
    """`hub session fork`: prints the fork's credentials like `hub session create`."""
    async with HubAPI(url) as rest:
        created = await rest.fork(session_id, token, at_message_id=at, name=name)
    forked_at = created.session.forked_at_message_id
    out(f"forked from:    {session_id} at message #{forked_at}")
    show_created(url, created)
    return 0


async def forks(url: str, token: str, session_id: str) -> int:
    """`hub session forks`: one line per fork, newest first, every page."""
    async with HubAPI(url) as rest:
        cursor: str | None = None
        shown = 0
        while True:
            page = await rest.forks(session_id, token, limit=100, cursor=cursor)
            for f in page.forks:
                when = f.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
                out(f"{f.id}  at #{f.at_message_id}  {when}  {f.name}")
            shown += len(page.forks)
            if page.next is None:
                break
            cursor = page.next
    if not shown:
        out("no forks")
    return 0
