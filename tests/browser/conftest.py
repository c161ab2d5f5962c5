"""Fixtures of the browser suite: Debian's Chromium driven by Playwright, and one
JupyterLab server for the whole session on a throw-away copy of the course (so running
notebooks, validating and the gradebook never write into the repository)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lab_harness import (ASSIGNMENT, CHROMIUM_ARGS, REPO_ROOT, SCREENSHOTS, LabPage, LabServer,
                         ensure_chromium)

SHIM = '''\
# Written by tests/browser: the course configuration, with this throw-away copy as its root.
load_subconfig({config!r})  # noqa: F821
c.CourseDirectory.root = {root!r}  # noqa: F821
c.CourseDirectory.db_url = {db!r}  # noqa: F821
'''


class CourseCopy:
    """solutions/ and course/ copied to `root`; the student release of an assignment
    missing from course/ is generated there by the autograder (in the background, while
    JupyterLab starts)."""

    def __init__(self, root: Path):
        self.root = root
        self.release_proc: subprocess.Popen | None = None
        self.release_problem: str | None = None  # why there is no student release to open
        self.release_failed = False
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        shutil.copytree(REPO_ROOT / "solutions", root / "solutions", ignore=ignore)
        if (REPO_ROOT / "course").is_dir():
            shutil.copytree(REPO_ROOT / "course", root / "course", ignore=ignore)
        (root / "course").mkdir(exist_ok=True)
        (root / "nbgrader_config.py").write_text(SHIM.format(
            config=str(REPO_ROOT / "autograder" / "nbgrader_config.py"), root=str(root),
            db="sqlite:///" + str(root / "gradebook.db")))

    def assignments(self) -> list[str]:
        return sorted(p.name for p in (self.root / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def notebook(self, folder: str, assignment: str = ASSIGNMENT) -> Path:
        return self.root / folder / assignment / f"{assignment}.ipynb"

    def start_release(self, assignment: str = ASSIGNMENT) -> None:
        if self.notebook("course", assignment).exists():
            return
        if not (REPO_ROOT / "autograder" / "__main__.py").exists():
            self.release_problem = (f"course/{assignment} is not released yet and there is no autograder "
                                    "to generate the student version")
            return
        self.release_log = self.root.parent / "release.log"
        env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
                   PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "lib")]))
        with open(self.release_log, "wb") as log:
            self.release_proc = subprocess.Popen(
                [sys.executable, "-m", "autograder", "--root", str(self.root), "release", assignment],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def finish_release(self, timeout: float = 300) -> None:
        if self.release_proc is None:
            return
        try:
            code = self.release_proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.release_proc.pid, signal.SIGKILL)
            self.release_proc.wait()
            code = "timeout"
        if code != 0:
            self.release_failed = True
            self.release_problem = (f"`python -m autograder release {ASSIGNMENT}` failed ({code}):\n"
                                    + self.release_log.read_text(errors="replace")[-3000:])

    def clear_solution_outputs(self, assignment: str = ASSIGNMENT) -> None:
        """The test runs the solution notebook from blank, so every output it sees is fresh."""
        path = self.notebook("solutions", assignment)
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)


@pytest.fixture(scope="session")
def chromium() -> Path:
    return ensure_chromium()


@pytest.fixture(scope="session")
def course(chromium, tmp_path_factory) -> CourseCopy:
    return CourseCopy(tmp_path_factory.mktemp("browser") / "course_root")


@pytest.fixture(scope="session")
def lab_server(course):
    for old in list(SCREENSHOTS.glob("*.png")) + list(SCREENSHOTS.glob("*.log")):
        old.unlink()
    server = LabServer(course.root, scratch=course.root.parent, log_path=SCREENSHOTS / "jupyterlab-server.log")
    course.start_release()
    server.start()
    try:
        server.wait_ready()
        course.finish_release()
        course.clear_solution_outputs()
        yield server
    finally:
        server.stop()
        if course.release_proc is not None and course.release_proc.poll() is None:
            os.killpg(course.release_proc.pid, signal.SIGKILL)
            course.release_proc.wait()


# Module, not session: Playwright's sync API allows one instance per thread, and the hub
# test (tests/hub/) starts its own after this module.
@pytest.fixture(scope="module")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: `pip install -r requirements.txt` "
                    "(never `playwright install`: the suite drives Debian's Chromium)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS,
                                             headless=True, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def lab(request, browser, lab_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    ui = LabPage(page, lab_server, request.node.name.removeprefix("test_"))
    try:
        yield ui
    finally:
        context.close()
        lab_server.shutdown_kernels()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failure outside `lab.step(...)` still leaves a screenshot, named in the report."""
    outcome = yield
    report = outcome.get_result()
    ui = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(ui, LabPage) and ui.failure_shot is None:
        report.sections.append(("screenshot", str(ui.shot("FAILED"))))

