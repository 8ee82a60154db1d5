"""The operator's commands: `hub serve` (with the embedded PostgreSQL unless one is
configured), `hub migrate`, `hub secrets` (a new key; re-encrypting under the
newest) and `hub ratings delete` (the one way a rating is withdrawn)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from hub.commands import CommandError
from hub.config import Config
from hub.errors import HubError

if TYPE_CHECKING:
    from hub.domain import Rating
    from hub.services.secrets import Rotation
    from hub.vault import Keyring

__all__ = [
    "migrate",
    "ratings_command",
    "secrets_command",
    "serve",
    "use_uvloop",
    "with_secret_key",
    "worker",
]

log = logging.getLogger("hub")


def use_uvloop() -> None:
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
    use_uvloop()
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


def worker(config: Config) -> int:
    """`hub worker`: deliver webhooks and sweep expired job leases until SIGTERM or
    SIGINT (on the configured database; the embedded default does both inside `hub
    serve`)."""
    from hub.worker.jobs import run_sweeper
    from hub.worker.webhooks import run_worker

    if not config.database_url:
        raise CommandError(
            "hub worker needs HUB_DATABASE_URL (with the embedded PostgreSQL, `hub serve`"
            " delivers webhooks itself)",
            exit_code=2,
        )
    config = with_secret_key(config)
    use_uvloop()

    async def run() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await asyncio.gather(run_worker(config, stop), run_sweeper(config, stop))

    print("hub: delivering webhooks and sweeping job leases", flush=True)
    asyncio.run(run())
    print("hub: worker stopped", flush=True)
    return 0


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


def ratings_command(config: Config, session_id: str, rater: str) -> int:
    """`hub ratings delete SESSION RATER`: delete the rating agent RATER gave in SESSION
    (nobody does so through the API); the ratee's aggregates follow and both owners'
    audit logs say so."""
    url, embedded = _database_url(config, after="")
    try:
        rating = asyncio.run(_delete_rating(url, session_id, rater, config.db_timeout))
    except HubError as exc:
        print(f"hub: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        _stop_embedded(embedded)
    print(
        f"hub: deleted the rating {rating.rater} gave {rating.ratee} in {rating.session_id}"
        f" (score {rating.score}); {rating.ratee}'s aggregates follow"
    )
    return 0


async def _delete_rating(url: str, session_id: str, rater: str, db_timeout: float) -> Rating:
    from hub.services.profiles import Profiles
    from hub.services.ratings import Ratings
    from hub.store import Store

    store = await Store.open(url, size=1, wait_limit=db_timeout)
    try:
        return await Ratings(store, Profiles(store)).delete(session_id, rater)
    finally:
        await store.close()


async def _rotate(url: str, keyring: Keyring, db_timeout: float) -> Rotation:
    from hub.services.secrets import Secrets
    from hub.store import Store

    # Each batch is one transaction, bounded like any other, but never by less than 10 s.
    store = await Store.open(url, size=1, wait_limit=max(db_timeout, 10.0))
    try:
        return await Secrets(store, keyring).rotate()
    finally:
        await store.close()
