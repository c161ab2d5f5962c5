"""The grading sandbox for the autograder's tests: bubblewrap, installed with apt when
missing and we are root (as tests/browser installs Chromium); otherwise the tests that
need it skip, saying why, and the rest grade with --no-sandbox."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))


def _install_bubblewrap() -> str | None:
    """apt-get install bubblewrap; returns why it could not, or None."""
    if os.geteuid() != 0:
        return "installing it needs root (apt-get install bubblewrap)"
    apt = shutil.which("apt-get")
    if apt is None:
        return "this system has no apt-get to install it (install the 'bubblewrap' package)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "bubblewrap"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 and cmd[1] == "install":
            return f"`apt-get install -y bubblewrap` failed: {proc.stderr.strip()[-300:]}"
    return None


def sandbox_unavailable() -> str | None:
    """None when the grading sandbox works here (installing bubblewrap first if need be)."""
    from autograder.sandbox import sandbox_problem

    problem = sandbox_problem()
    if problem and shutil.which("bwrap") is None:
        why = _install_bubblewrap()
        if why:
            return f"{problem}; {why}"
        sandbox_problem.cache_clear()
        problem = sandbox_problem()
    return problem


@pytest.fixture(scope="session")
def sandbox() -> bool:
    """Whether grading runs in the sandbox here (True) or with --no-sandbox (False)."""
    return sandbox_unavailable() is None


@pytest.fixture(scope="session")
def needs_sandbox(sandbox):
    if not sandbox:
        pytest.skip(f"the grading sandbox is not available here: {sandbox_unavailable()}")
