"""`hub session export SESSION [--format json|markdown] [-o FILE]`: a session's export,
streamed to a file or to stdout, with a token of the session (an observer's will do)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hub.client import HubAPI
from hub.commands import out

__all__ = ["ACTION", "add_parser", "run"]

ACTION = "export"
"""The `hub session` action this module runs."""


def add_parser(
    session_actions: Any,
    with_url: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    with_token: Callable[[argparse.ArgumentParser], None],
    token_help: str,
) -> None:
    """Add `hub session export` to `session_actions`."""
    text = "export a session: everything as JSON, or a Markdown transcript"
    sub = with_url(session_actions.add_parser(ACTION, help=text, description=text))
    sub.epilog = (
        token_help + " --timeout bounds each wait for more of the export, not the whole of it."
    )
    sub.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    sub.add_argument(
        "--format",
        choices=["json", "markdown"],
        default="json",
        help="json: everything, every version (default); markdown: a transcript",
    )
    sub.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write it to FILE (created only once the export is whole); default: stdout",
    )
    with_token(sub)


async def run(args: argparse.Namespace, token: str) -> int:
    """Stream the export to `--output` (then say where it went, on stderr) or stdout."""
    async with HubAPI(args.url) as rest:
        if args.output:
            size = await rest.export_to(
                args.output, args.session, token, args.format, idle=args.timeout
            )
            out(f"exported {args.session} to {args.output} ({size} bytes)", sys.stderr)
            return 0
        stdout = sys.stdout.buffer
        async with rest.export_stream(
            args.session, token, args.format, idle=args.timeout
        ) as response:
            async for chunk in response.content.iter_chunked(1 << 16):
                stdout.write(chunk)
        stdout.flush()
        return 0
