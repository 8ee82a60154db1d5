"""`hub attachment get ID [-o FILE]` and `hub attachment list`: a session's attachments,
with a token of the session (an observer's will do). `hub send --attach FILE` uploads
(in `hub.commands.send`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hub.client import HubAPI, connect
from hub.commands import answer_within, out

__all__ = ["COMMAND", "add_parsers", "run"]

COMMAND = "attachment"


def add_parsers(
    commands: Any,
    with_url: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    with_token: Callable[[argparse.ArgumentParser], None],
    token_help: str,
) -> None:
    """Add `hub attachment get|list` to `commands`."""
    text = "a session's binary attachments: download one, list them"
    actions = commands.add_parser(COMMAND, help=text, description=text).add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    where = (
        " The session is the token's (found by connecting once) unless --session names it."
        " --timeout bounds each wait, not the whole download."
    )
    get = with_url(actions.add_parser("get", help="download an attachment"))
    get.epilog = token_help + where
    get.add_argument("attachment", metavar="ID", help="the attachment id, like att_…")
    get.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write it to FILE (created only once whole); default: stdout",
    )
    get.add_argument("--session", metavar="SESSION", help="the session id, like ses_…")
    with_token(get)
    listed = with_url(actions.add_parser("list", help="list a session's attachments"))
    listed.epilog = token_help + where
    listed.add_argument("--session", metavar="SESSION", help="the session id, like ses_…")
    with_token(listed)


async def _session_of(args: argparse.Namespace, token: str) -> str:
    if args.session:
        return str(args.session)
    patience = args.timeout
    async with connect(
        args.url,
        token,
        since=None,
        connect_timeout=patience,
        reconnect_timeout=patience,
        request_timeout=patience,
    ) as session:
        return session.session_id


async def run(args: argparse.Namespace, token: str) -> int:
    session_id = await _session_of(args, token)
    async with HubAPI(args.url) as rest:
        if args.action == "list":
            async with answer_within(args.url, args.timeout):
                page = await rest.attachments(session_id, token, limit=500)
            for a in page.attachments:
                thumb = " (thumbnail)" if a.thumbnail else ""
                out(f"{a.id}  {a.size:>10}  {a.content_type:<24} {a.name}{thumb}")
            if page.next_after is not None:
                out("hub: more than 500: see GET …/attachments?after=", sys.stderr)
            return 0
        if args.output:
            size = await rest.download_attachment_to(
                args.output, session_id, token, args.attachment, idle=args.timeout
            )
            out(f"saved {args.attachment} to {args.output} ({size} bytes)", sys.stderr)
            return 0
        stdout = sys.stdout.buffer
        path = f"/api/sessions/{session_id}/attachments/{args.attachment}/content"
        async with rest.stream(path, token=token, idle=args.timeout) as response:
            async for chunk in response.content.iter_chunked(1 << 16):
                stdout.write(chunk)
        stdout.flush()
        return 0
