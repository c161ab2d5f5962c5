"""Fixtures of the hub test: the machine set up as autograder/SCALING.md tells a teaching
assistant to set it up (accounts, exchange, configuration files, JupyterHub), and
Debian's Chromium driven by Playwright, as in tests/browser.

Everything it makes lives in one throw-away folder and in accounts whose comment is
hub_harness.TAG; both go when the test ends, whatever happened."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hub_harness import (INSTRUCTOR, SCREENSHOTS, Accounts, CourseHub, Reach, ensure_bubblewrap, ensure_proxy,
                         pam_works, require_root_tools)
from lab_harness import CHROMIUM_ARGS, ensure_chromium


@pytest.fixture(scope="module")
def chromium() -> Path:
    require_root_tools()
    ensure_proxy()
    ensure_bubblewrap()
    return ensure_chromium()


@pytest.fixture(scope="module")
def hub(chromium):
    for old in list(SCREENSHOTS.glob("*.png")) + list(SCREENSHOTS.glob("*.log")):
        old.unlink()
    base = Path(tempfile.mkdtemp(prefix="tc-hub-"))
    base.chmod(0o755)                     # the test's accounts find their homes and the exchange in it
    accounts = Accounts(base)
    server = None
    try:
        reach = Reach(base)
        accounts.create()
        problem = pam_works(INSTRUCTOR, accounts.passwords[INSTRUCTOR])
        if problem:
            pytest.skip(f"JupyterHub's PAM login cannot work on this machine: {problem}")
        server = CourseHub(base, accounts, reach, SCREENSHOTS / "jupyterhub.log")
        server.install()
        server.start()
        server.wait_ready()
        yield server
    finally:
        if server is not None:
            server.stop()
        accounts.remove()
        shutil.rmtree(base, ignore_errors=True)


# Module scope, as in tests/browser: Playwright's sync API allows one instance per thread.
@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS,
                                             headless=True, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()
