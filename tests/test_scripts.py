"""The repository's scripts, run as a new user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_first_install_says_one_line() -> None:
    """`scripts/install` on a fresh checkout prints one line; pip's output goes to a log."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    with tempfile.TemporaryDirectory(prefix="hub-install-") as folder:
        checkout = Path(folder)
        for name in files:
            if (ROOT / name).is_file():
                (checkout / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, checkout / name)
        done = subprocess.run(
            ["scripts/install", "embedded"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=280,
            env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            "installing Hub into .venv (pip's output: .venv/install.log) ..."
        ]
        assert (checkout / ".venv" / "bin" / "hub").exists()
        assert "Successfully installed" in (checkout / ".venv" / "install.log").read_text()
