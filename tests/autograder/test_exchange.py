"""nbgrader's exchange on one machine, with stock commands and the course's settings:
release -> fetch -> submit -> collect -> `python -m autograder grade` -> release_feedback
-> fetch_feedback, on the tiny fixture assignment, as one user playing both parts.

tests/hub/ runs the same path on a real JupyterHub with separate accounts (as root);
this one runs anywhere, so the link it depends on is always tested: `grade` keeps the
submission's timestamp and secret beside the autograded notebook, which is how
release_feedback names the file the student's fetch_feedback looks for.
"""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixture_course as fx  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COURSE_ID = "tc-exchange-test"
LIMITS = ["--cell-timeout", "30", "--notebook-timeout", "300", "--memory-mb", "3072"]
SHIM = '''\
load_subconfig({config!r})  # noqa: F821
c.CourseDirectory.root = {root!r}  # noqa: F821
c.CourseDirectory.db_url = {db!r}  # noqa: F821
'''


@pytest.fixture
def machine(tmp_path):
    """An instructor's course root and a student's home, sharing an exchange folder."""
    root = fx.make_course(tmp_path / "course")
    (root / "nbgrader_config.py").write_text(SHIM.format(
        config=str(REPO / "autograder" / "nbgrader_config.py"), root=str(root),
        db="sqlite:///" + str(root / "gradebook.db")))
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    student = tmp_path / "student"
    (student / ".jupyter").mkdir(parents=True)
    # the student's nbgrader reads the file a hub puts in /etc/jupyter
    shutil.copy(REPO / "autograder" / "hub" / "nbgrader_config.py", student / ".jupyter" / "nbgrader_config.py")
    instructor = tmp_path / "instructor"
    (instructor / ".jupyter").mkdir(parents=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TC_COURSE_ID", "TC_EXCHANGE"))}
    base.update(PATH=os.pathsep.join([str(BIN), base.get("PATH", "")]), TC_EXCHANGE_ROOT=str(exchange),
                TC_COURSE_ID=COURSE_ID, PYTHONDONTWRITEBYTECODE="1")
    return {"root": root, "exchange": exchange, "student": student,
            "as_instructor": dict(base, HOME=str(instructor), JUPYTER_CONFIG_DIR=str(instructor / ".jupyter"),
                                  PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "lib")])),
            "as_student": dict(base, HOME=str(student), JUPYTER_CONFIG_DIR=str(student / ".jupyter"))}


def isolation() -> list[str]:
    """Grade in the autograder's sandbox where it has one that works here, else say so."""
    sys.path.insert(0, str(REPO))
    try:
        from autograder.sandbox import sandbox_problem
    except ImportError:       # an autograder without a grading sandbox
        return []
    return ["--no-sandbox"] if sandbox_problem() else []


def run(args: list[str], cwd: Path, env: dict, timeout: float = 600) -> str:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"`{' '.join(args)}` failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_release_submit_grade_and_feedback_through_the_exchange(machine):
    root, student, exchange = machine["root"], machine["student"], machine["exchange"]
    teacher, pupil = machine["as_instructor"], machine["as_student"]
    me = getpass.getuser()

    run(["autograder", "--root", str(root), "release"], REPO, teacher)
    run(["nbgrader", "release_assignment", fx.ASSIGNMENT], root, teacher)
    assert (exchange / COURSE_ID / "outbound" / fx.ASSIGNMENT / f"{fx.ASSIGNMENT}.ipynb").is_file()

    run(["nbgrader", "fetch_assignment", fx.ASSIGNMENT], student, pupil)
    path = student / fx.ASSIGNMENT / f"{fx.ASSIGNMENT}.ipynb"
    answered = nbformat.read(path, as_version=4)
    solution = {c.metadata["nbgrader"]["grade_id"]: c.source for c in fx.source_notebook().cells
                if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in answered.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solution and cell.cell_type == "code":
            cell.source = solution[grade_id]
    nbformat.write(answered, str(path))
    run(["nbgrader", "submit", fx.ASSIGNMENT], student, pupil)

    run(["nbgrader", "collect", fx.ASSIGNMENT], root, teacher)
    submitted = root / "submitted" / me / fx.ASSIGNMENT
    assert {"timestamp.txt", "submission_secret.txt"} <= {p.name for p in submitted.iterdir()}
    out = run(["autograder", "--root", str(root), "grade", str(root / "submitted"), "--jobs", "1", "--no-progress",
               *LIMITS, *isolation()], REPO, teacher, timeout=900)
    tests_points = fx.MAX_POINTS["test_add"] + fx.MAX_POINTS["test_softmax"]
    assert f"{tests_points:g} / {sum(fx.MAX_POINTS.values()):g}" in out, out
    feedback = root / "feedback" / me / fx.ASSIGNMENT
    for name in ("timestamp.txt", "submission_secret.txt"):
        assert (feedback / name).read_bytes() == (submitted / name).read_bytes(), name

    run(["nbgrader", "release_feedback", fx.ASSIGNMENT], root, teacher)
    run(["nbgrader", "fetch_feedback", fx.ASSIGNMENT], student, pupil)
    fetched = sorted((student / fx.ASSIGNMENT / "feedback").glob(f"*/{fx.ASSIGNMENT}.html"))
    assert len(fetched) == 1, fetched
    text = fetched[0].read_text()
    assert f"Score: {tests_points:.1f} / {sum(fx.MAX_POINTS.values()):.1f}" in text, text[:2000]
    for secret in (*fx.HIDDEN_MARKERS, "BEGIN HIDDEN TESTS"):
        assert secret not in text, f"the student's feedback shows {secret!r}"
