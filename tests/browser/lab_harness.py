"""What the browser tests drive: Debian's Chromium, a JupyterLab server on a throw-away
copy of the course, and the handful of things a student or an instructor does in it.

The server is started the way `make lab` starts it (whole course root served, file
browser opened on course/, the course's nbgrader configuration), plus what a test needs
to stay hermetic: loopback only, a random token, its own settings, workspaces and
runtime folders, and nothing that reaches the network.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "student_view.png"

# The notebook the suite opens as a student and as an instructor: the first one.
ASSIGNMENT = "01_rnn_recap"

CHROMIUM = Path(os.environ.get("TC_CHROMIUM", "/usr/bin/chromium"))
# Debian's Chromium in a container: no sandbox (we may be root), no GPU, and no
# background traffic to Google's services (there is no network to reach).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]

# JupyterLab user settings for the test server: no news prompt or update check (no
# network, and a toast would cover the page), and every cell kept in the DOM so the
# tests can read all outputs without scrolling each one into view.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

STDERR = "application/vnd.jupyter.stderr"
ERROR = "application/vnd.jupyter.error"

# A generous bound for one whole notebook on a loaded two-core machine; it normally
# takes well under a minute.
NOTEBOOK_TIMEOUT_S = 420
SERVER_START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt when missing and we are root; otherwise skip."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}; it is missing and cannot be installed "
                    f"here ({'not root' if os.geteuid() != 0 else 'no apt-get'}). Install it "
                    "(`apt-get install chromium`) or point TC_CHROMIUM at a Chromium binary.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` failed, so the browser tests cannot run:\n"
                        f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}", pytrace=False)
    if not CHROMIUM.is_file():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} does not exist", pytrace=False)
    return CHROMIUM


def write_lab_settings(folder: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class LabServer:
    """`jupyter lab` on `root` in its own process group; `stop()` ends it and its kernels."""

    def __init__(self, root: Path, scratch: Path, log_path: Path):
        self.root = root
        self.scratch = scratch
        self.log_path = log_path
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        settings, workspaces = self.scratch / "settings", self.scratch / "workspaces"
        write_lab_settings(settings)
        workspaces.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "jupyterlab",
               # what `make lab` does: serve the course root, open the file browser on course/
               f"--ServerApp.root_dir={self.root}", "--ContentsManager.preferred_dir=course",
               # a test server: loopback, random port and token, no browser, no network
               "--no-browser", "--ServerApp.open_browser=False", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def env(self) -> dict[str, str]:
        runtime = self.scratch / "runtime"
        runtime.mkdir(parents=True, exist_ok=True)
        bin_dir = str(Path(sys.executable).parent)
        # nbgrader finds the course configuration through the nbgrader_config.py in the
        # server's working directory, as with `make lab`; the user's own Jupyter config,
        # data (extensions, kernels) and runtime folders are left out
        return dict(os.environ,
                    PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                    JUPYTER_CONFIG_DIR=str(self.scratch / "jupyter-config"),
                    JUPYTER_DATA_DIR=str(self.scratch / "jupyter-data"),
                    JUPYTER_RUNTIME_DIR=str(runtime), IPYTHONDIR=str(self.scratch / "ipython"),
                    PYTHONDONTWRITEBYTECODE="1")

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        # cwd = the course root, where the nbgrader_config.py shim lives (as in the repository)
        self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()

    def wait_ready(self, timeout: float = SERVER_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str, timeout: float = 30):
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def shutdown_kernels(self) -> None:
        """Kernels of a finished test only take memory and CPU from the next one."""
        try:
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=60)
        except (urllib.error.URLError, OSError):
            pass

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """SIGTERM lets the server shut its kernels down (they run in sessions of their
        own); whatever is left of the processes it started is then killed by pid."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            import psutil
            started = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:  # psutil missing or the process already gone
            started = []
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        for child in started:
            try:
                child.kill()
            except Exception:  # already gone
                pass


def publish_docs_screenshot(path: Path) -> None:
    """docs/student_view.png is refreshed only on request: TC_UPDATE_DOCS_SCREENSHOT=1."""
    if os.environ.get("TC_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


class LabPage:
    """One Playwright page on the test server, with the actions the tests need.
    Every step of a test runs in `step(...)`: a failure there saves a screenshot and
    fails the test with its path."""

    def __init__(self, page, server: LabServer, name: str):
        self.page = page
        self.server = server
        self.name = slug(name)
        self.count = 0
        self.console_errors: list[str] = []
        self.failure_shot: Path | None = None
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text[:300]))
        page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"[:300]))

    # -- evidence -------------------------------------------------------------------
    def shot(self, label: str) -> Path:
        self.count += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{self.count:02d}-{slug(label)}.png"
        try:
            self.page.screenshot(path=str(path), timeout=30_000)
        except Exception as exc:  # a dead page must not hide the real failure
            return Path(f"{path} (not saved: {exc})")
        return path

    @contextmanager
    def step(self, what: str):
        try:
            yield
            return
        except Exception as exc:
            failure = f"{what}: {type(exc).__name__}: {exc}"
        path = self.failure_shot = self.shot(f"FAILED {what}")
        console = "\n  ".join(self.console_errors[-5:]) or "(none)"
        # `from None`: the report shows this message, not Playwright's traceback twice
        raise pytest.fail.Exception(f"{failure}\nscreenshot: {path}\nbrowser console errors:\n  {console}\n"
                                    f"server log: {self.server.log_path}", pytrace=False) from None

    # -- JupyterLab -----------------------------------------------------------------
    def open_notebook(self, path: str, workspace: str) -> None:
        """Open a notebook through its URL (a fresh workspace per test, so no tab of an
        earlier test is restored), and wait for its kernel to be idle."""
        self.page.goto(self.server.url(f"/lab/workspaces/{workspace}/tree/{path}"), wait_until="domcontentloaded")
        self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=180_000)
        self.wait_kernel_idle(timeout=180)

    def open_workspace(self, workspace: str) -> None:
        """Open JupyterLab in a fresh workspace and wait until nbgrader's menu is there."""
        self.page.goto(self.server.url(f"/lab/workspaces/{workspace}"), wait_until="domcontentloaded")
        menu = self.page.locator("#jp-menu-panel")
        menu.get_by_role("menuitem", name="Nbgrader", exact=True).wait_for(timeout=180_000)

    def wait_kernel_idle(self, timeout: float) -> None:
        self.page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).wait_for(timeout=timeout * 1000)

    def menu(self, title: str, item: str) -> None:
        """Click through the menu bar, e.g. menu("Run", "Run All Cells")."""
        self.page.locator("#jp-menu-panel").get_by_role("menuitem", name=title, exact=True).click()
        label = self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$"))
        self.page.locator(".lm-Menu:visible li.lm-Menu-item", has=label).first.click()

    def cells(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def prompts(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt",
            "nodes => nodes.map(n => n.textContent.trim())")

    def error_outputs(self) -> list[str]:
        """Text of every output that shows an error or anything written to stderr
        (warnings included): in a finished notebook there should be none."""
        return self.page.eval_on_selector_all(
            f'.jp-OutputArea-output[data-mime-type="{STDERR}"], .jp-OutputArea-output[data-mime-type="{ERROR}"]',
            "nodes => nodes.map(n => n.innerText.slice(0, 1500))")

    def wait_run_finished(self, n_code_cells: int, timeout: float = NOTEBOOK_TIMEOUT_S) -> None:
        """Until every code cell shows an execution count, or the run stopped at an error."""
        self.page.wait_for_function(
            """([n, errorSel]) => {
                const prompts = [...document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')
                ].map(p => p.textContent.trim());
                if (prompts.length !== n || prompts.some(p => p === '[*]:')) return false;
                return prompts.every(p => /^\\[\\d+\\]:$/.test(p)) || document.querySelector(errorSel) !== null;
            }""",
            arg=[n_code_cells, f'.jp-OutputArea-output[data-mime-type="{STDERR}"], '
                               f'.jp-OutputArea-output[data-mime-type="{ERROR}"]'],
            timeout=timeout * 1000, polling=1000)
        self.wait_kernel_idle(timeout=120)
