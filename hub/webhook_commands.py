"""`hub webhook …`: webhook endpoints from the terminal. A person's with the user key
`hub login` kept; a session's own with agent A's token (--token, --token-file or
HUB_TOKEN). Register one (its secret printed once), list, show, enable or disable,
delete, rotate the secret, read the delivery log, send a test event, deliver again."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hub.client import HubAPI
from hub.commands import CommandError, need_user_key, out, when
from hub.domain.webhooks import Delivery, Webhook
from hub.space_commands import cell, table

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("webhook",)

WithUrl = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
WithToken = Callable[[argparse.ArgumentParser, str], None]

HELP = (
    "With the user key `hub login USERNAME` kept (HUB_USER_KEY overrides it), your"
    " endpoints; with agent A's token (--token, --token-file or HUB_TOKEN), the session's"
    " own. Verify deliveries with the `standardwebhooks` package and the secret."
)


def _since(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if at.tzinfo is None:
        at = at.astimezone()  # the terminal's zone
    return at


def add_parsers(commands: Any, with_url: WithUrl, with_token: WithToken) -> None:
    hooks = commands.add_parser(
        "webhook",
        help="webhook endpoints: register, list, test, read deliveries, redeliver",
        description="Webhook endpoints: HTTP endpoints that hear sessions' events, signed"
        " per Standard Webhooks.",
        epilog=HELP,
    ).add_subparsers(dest="action", required=True, metavar="ACTION")

    def sub(name: str, text: str, *, endpoint: bool = True) -> argparse.ArgumentParser:
        parser = with_url(hooks.add_parser(name, help=text, description=text))
        parser.epilog = HELP
        with_token(parser, "agent A's token, for a session's own endpoints")
        if endpoint:
            parser.add_argument("webhook", metavar="WEBHOOK", help="the endpoint id, like whk_…")
        return parser

    create = sub("create", "register an endpoint; prints its secret, once", endpoint=False)
    create.add_argument("endpoint_url", metavar="URL", help="https://… (where deliveries go)")
    create.add_argument(
        "--event",
        dest="events",
        action="append",
        metavar="TYPE",
        help="an event type, a prefix (note.*) or * (repeatable; default *)",
    )
    create.add_argument("--session", metavar="SESSION", help="only this session (ses_…)")
    create.add_argument("--space", metavar="SPACE", help="only this space's sessions (slug)")
    create.add_argument("--description", default="", help="what it is for")
    listing = sub("list", "your endpoints (or, with a token, the session's own)", endpoint=False)
    listing.add_argument("--session", metavar="SESSION", help="the session (with a token)")
    sub("show", "show an endpoint: URL, filter, state, why it was disabled")
    sub("enable", "enable an endpoint: what waited is delivered")
    sub("disable", "disable an endpoint: nothing is delivered until enabled")
    delete = sub("delete", "delete an endpoint for good")
    delete.add_argument("--yes", action="store_true", help="really delete it")
    rotate = sub("rotate", "rotate the signing secret; prints the new one, once")
    rotate.add_argument(
        "--overlap",
        type=int,
        default=86_400,
        metavar="SECONDS",
        help="how long the old secret signs beside it (default a day; 0 to 604800)",
    )
    log = sub("deliveries", "the delivery log, newest first: attempts, status, latency")
    log.add_argument("--limit", type=int, default=20, metavar="N", help="attempts (1 to 200)")
    log.add_argument("--before", type=int, metavar="ID", help="attempts older than this one")
    log.add_argument("--verbose", action="store_true", help="each answer's excerpt too")
    sub("test", "send a test event now; prints the attempt (a slow endpoint: raise --timeout)")
    again = sub("redeliver", "deliver again one event, or everything since a time")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", metavar="WEBHOOK_ID", help="an event's webhook-id (msg_…, evt_…)")
    which.add_argument(
        "--since", type=_since, metavar="TIME", help="ISO 8601, like 2026-05-01T12:00Z"
    )


def _credential(args: argparse.Namespace, token: str | None) -> str:
    return token if token is not None else need_user_key(args.url)


def _show(hook: Webhook) -> None:
    state = "enabled" if hook.enabled else f"disabled: {hook.disabled_reason}"
    scope = (
        f"session {hook.session_id}"
        if hook.session_id
        else f"space {hook.space_id}"
        if hook.space_id
        else "every session you may read"
    )
    out(f"{hook.id}  {cell(hook.url)}")
    out(f"  events:   {', '.join(hook.event_types)}")
    out(f"  hears:    {scope} ({hook.owner}'s)")
    out(f"  state:    {cell(state)}")
    if hook.failing_since is not None:
        out(f"  failing since {when(hook.failing_since)}")
    if hook.secret_rotates_at is not None:
        out(f"  the previous secret signs too until {when(hook.secret_rotates_at)}")
    if hook.description:
        out(f"  about:    {cell(hook.description)}")


def _attempt(d: Delivery) -> str:
    status = str(d.status) if d.status is not None else "—"
    result = "ok" if d.status is not None and 200 <= d.status < 300 else (d.error or "failed")
    retry = f", again {when(d.next_attempt_at)}" if d.next_attempt_at else ""
    return f"{status} in {d.latency_ms} ms: {cell(result)}{retry}"


async def run(args: argparse.Namespace, token: str | None) -> int:
    """Run `hub webhook ACTION` (REST calls)."""
    key = _credential(args, token)
    action = args.action
    async with HubAPI(args.url) as rest:
        if action == "create":
            own = token is not None
            if own and not args.session:
                raise CommandError("with a token, name its session: --session SESSION")
            made = await rest.create_webhook(
                key,
                args.endpoint_url,
                args.events or ["*"],
                description=args.description,
                session_id=args.session,
                space=args.space,
                own_session=own,
            )
            _show(made.webhook)
            out(f"secret (shown once): {made.secret}")
            return 0
        if action == "list":
            if token is not None and not args.session:
                raise CommandError("with a token, name its session: --session SESSION")
            hooks = await rest.webhooks(key, session_id=args.session if token else None)
            if not hooks:
                out("no webhooks")
            for hook in hooks:
                state = "enabled" if hook.enabled else "disabled"
                out(f"{hook.id}  {state:8}  {','.join(hook.event_types)}  {cell(hook.url)}")
            return 0
        hook_id = args.webhook
        if action == "show":
            _show(await rest.webhook(hook_id, key))
        elif action in ("enable", "disable"):
            _show(await rest.update_webhook(hook_id, key, enabled=action == "enable"))
        elif action == "delete":
            if not args.yes:
                raise CommandError(f"deleting {hook_id} cannot be undone: add --yes to do it")
            await rest.delete_webhook(hook_id, key)
            out(f"deleted {hook_id}")
        elif action == "rotate":
            rotated = await rest.rotate_webhook_secret(hook_id, key, overlap_seconds=args.overlap)
            out(f"secret (shown once): {rotated.secret}")
            out(f"the previous one signs too until {when(rotated.previous_expires_at)}")
        elif action == "deliveries":
            found = await rest.webhook_deliveries(
                hook_id, key, limit=args.limit, before=args.before
            )
            if not found:
                out("no deliveries")
            rows = [
                [
                    str(d.id),
                    when(d.created_at),
                    d.webhook_id,
                    d.event_type,
                    f"{d.kind} #{d.attempt}",
                    _attempt(d),
                ]
                for d in found
            ]
            if rows:
                table(["ID", "WHEN", "WEBHOOK-ID", "TYPE", "ATTEMPT", "RESULT"], rows)
            if args.verbose:
                for d in found:
                    if d.response_excerpt:
                        out(f"{d.id}: {cell(d.response_excerpt[:200])}")
        elif action == "test":
            d = await rest.test_webhook(hook_id, key)
            out(f"test {d.webhook_id}: {_attempt(d)}")
        else:
            again = await rest.redeliver(hook_id, key, event=args.event, since=args.since)
            if again.delivery is not None:
                out(f"{again.delivery.webhook_id}: {_attempt(again.delivery)}")
            else:
                out(f"{again.streams} stream(s) go back: the worker delivers them again, in order")
    return 0
