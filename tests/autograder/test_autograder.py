"""The autograder end to end: check on every real assignment, and one `grade` run
over adversarial submissions built here on a tiny fixture assignment."""
from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

sys.path.insert(0, str(Path(__file__).parent))
import fixture_course as fx  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE_LIMITS = ["--cell-timeout", "10", "--notebook-timeout", "180", "--memory-mb", "3072"]


def run_autograder(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "lib")]))
    proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc


def real_assignments():
    folder = REPO / "solutions"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if folder.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("assignment", real_assignments() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no assignment under solutions/ yet"))])
def test_check_passes_for_every_assignment(assignment):
    proc = run_autograder("check", assignment, "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------
# Adversarial submissions on the fixture assignment.
# --------------------------------------------------------------------------

def cell(nb, grade_id):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def solution():
    return fx.source_notebook()


def with_add(source):
    nb = solution()
    cell(nb, "add").source = source
    return nb


SNOOP = '''import pathlib
found = []
for start in [pathlib.Path.cwd(), *[pathlib.Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]:
    for anc in [start, *start.parents]:
        found += [str(x) for x in anc.glob("solutions/*/*.ipynb")] + [str(x) for x in anc.glob("gradebook.db")]
        found += [str(x) for x in anc.glob("*/gradebook.db")] if anc == pathlib.Path.cwd() else []
for f in found:
    if f.endswith("gradebook.db"):
        open(f, "wb").write(b"garbage")
print("SNOOP-FOUND", sorted(set(found)))
def add(a, b):
    return a + b'''

SWALLOW = '''def _swallow(shell, etype, evalue, tb, tb_offset=None):
    return None
get_ipython().set_custom_exc((BaseException,), _swallow)
import sys
sys.excepthook = lambda *args: None
def add(a, b):
    return a - b'''

WRAP = '''def _wrap(lines):
    body = ["    " + line if line.endswith("\\n") else "    " + line + "\\n" for line in lines]
    return ["try:\\n", *body, "    pass\\n", "except BaseException:\\n", "    pass\\n"]
get_ipython().input_transformers_post.append(_wrap)
def add(a, b):
    return a - b'''

PATCH = '''import numpy
torch.allclose = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
def add(a, b):
    return a + b'''


def adversarial_students():
    """student -> (notebook or raw bytes or None, expected {grade_id: points} or total)."""
    s = {}
    s["good"] = (solution(), {"test_add": 2, "test_softmax": 3})
    s["loop"] = (with_add("def add(a, b):\n    while True:\n        pass"), {"test_add": 0, "test_softmax": 3})
    s["memhog"] = (with_add("def add(a, b):\n    big = torch.ones(8 * 1024**3, dtype=torch.uint8)\n    return a + b"),
                   {"test_add": 0, "test_softmax": 3})
    nb = solution()
    cell(nb, "softmax").source = "os._exit(0)\n" + cell(nb, "softmax").source
    s["exits"] = (nb, {"test_add": 0, "test_softmax": 0})
    s["syntax"] = (with_add("def add(a, b) return a + b"), {"test_add": 0, "test_softmax": 3})
    nb = solution()
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "test_softmax"]
    s["deleted"] = (nb, {"test_add": 2, "test_softmax": 0})
    nb = with_add("def add(a, b):\n    return a * b")
    cell(nb, "test_add").source = "pass"
    s["edited_test"] = (nb, {"test_add": 0, "test_softmax": 3})
    nb = with_add("def add(a, b):\n    return a * b")
    cell(nb, "test_add").source = "pass"
    del cell(nb, "test_add").metadata["nbgrader"]       # disguised as an ordinary cell
    s["unmarked_test"] = (nb, {"test_add": 0, "test_softmax": 3})
    nb = solution()
    cell(nb, "setup").source = fx.SETUP + "\ntorch.allclose = lambda *a, **k: True"
    cell(nb, "add").source = "def add(a, b):\n    return a * b"
    s["edited_locked"] = (nb, {"test_add": 0, "test_softmax": 3})
    s["monkeypatch"] = (with_add(PATCH), {"test_add": 0, "test_softmax": 0})
    nb = solution()
    cell(nb, "softmax").source = "_sm = torch.nn.functional.softmax\ndef softmax(x):\n    return _sm(x, dim=-1)"
    s["reference"] = (nb, {"test_add": 2, "test_softmax": 3 * 0})
    s["corrupt"] = (b'{"cells": [ this is not json', {"test_add": 0, "test_softmax": 0})
    s["missing"] = (None, {"test_add": 0, "test_softmax": 0})
    s["wrongname"] = (solution(), {"test_add": 2, "test_softmax": 3})
    s["chatty"] = (with_add("for i in range(40000):\n    print('spam ' * 25)\ndef add(a, b):\n    return a + b"),
                   {"test_add": 2, "test_softmax": 3})
    s["snoop"] = (with_add(SNOOP), {"test_add": 2, "test_softmax": 3})
    s["swallow"] = (with_add(SWALLOW), {"test_add": 0, "test_softmax": 3})
    s["wrap"] = (with_add(WRAP), {"test_add": 0, "test_softmax": 3})
    return s


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = fx.make_course(tmp_path_factory.mktemp("course"))
    proc = run_autograder("--root", str(root), "release")
    assert proc.returncode == 0, proc.stderr
    subs = tmp_path_factory.mktemp("submitted")
    students = adversarial_students()
    for student, (content, _) in students.items():
        folder = subs / student / fx.ASSIGNMENT
        folder.mkdir(parents=True)
        name = "my_homework.ipynb" if student == "wrongname" else f"{fx.ASSIGNMENT}.ipynb"
        if content is None:
            (folder / "notes.txt").write_text("forgot the notebook")
        elif isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            nbformat.write(content, str(folder / name))
    out = tmp_path_factory.mktemp("out")
    db_url = f"sqlite:///{out / 'gradebook.db'}"
    proc = run_autograder("--root", str(root), "grade", str(subs), "--out", str(out), "--db-url", db_url,
                          "--jobs", "2", *FIXTURE_LIMITS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"root": root, "out": out, "db_url": db_url, "students": students, "stdout": proc.stdout}


@pytest.mark.slow
def test_each_adversarial_submission_gets_its_expected_scores(graded):
    wrong = {}
    with Gradebook(graded["db_url"], "transformers") as gb:
        for student, (_, expected) in graded["students"].items():
            got = {g: gb.find_grade(g, fx.ASSIGNMENT, fx.ASSIGNMENT, student).auto_score for g in expected}
            if got != {g: float(v) for g, v in expected.items()}:
                wrong[student] = (got, expected)
    assert not wrong, f"{wrong}\n{graded['stdout']}"


@pytest.mark.slow
def test_report_explains_failures(graded):
    with open(graded["out"] / "exports" / "grading_report.csv") as f:
        notes = {row["student"]: row["notes"] for row in csv.DictReader(f)}
    assert "kernel died" in notes["exits"]
    assert "not a valid notebook" in notes["corrupt"]
    assert "no notebook submitted" in notes["missing"]
    assert "my_homework.ipynb" in notes["wrongname"]
    assert "missing from the submission" in notes["deleted"]
    assert "did not run to its end" in notes["wrap"]


@pytest.mark.slow
def test_grades_csv_has_student_by_assignment_points_and_max(graded):
    with open(graded["out"] / "exports" / "grades.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(graded["students"])
    assert rows["good"][f"{fx.ASSIGNMENT} points"] == "5" and rows["good"][f"{fx.ASSIGNMENT} max"] == "6"
    assert rows["loop"][f"{fx.ASSIGNMENT} points"] == "3"


def executed(graded, student):
    return (graded["out"] / "autograded" / student / fx.ASSIGNMENT / f"{fx.ASSIGNMENT}.ipynb").read_text()


@pytest.mark.slow
def test_workspace_holds_no_gradebook_or_solutions_and_course_gradebook_is_intact(graded):
    assert "SNOOP-FOUND []" in executed(graded, "snoop")
    with Gradebook(graded["db_url"], "transformers") as gb:
        assert len(gb.students) == len(graded["students"])


@pytest.mark.slow
def test_output_is_limited(graded):
    assert len(executed(graded, "chatty")) < 200_000


@pytest.mark.slow
def test_feedback_and_release_contain_no_hidden_tests_or_solutions(graded):
    pages = list((graded["out"] / "feedback").rglob("*.html"))
    assert len(pages) >= 10
    texts = [p.read_text() for p in pages] + [
        (graded["root"] / "course" / fx.ASSIGNMENT / f"{fx.ASSIGNMENT}.ipynb").read_text()]
    for text in texts:
        for secret in fx.HIDDEN_MARKERS + ("BEGIN HIDDEN TESTS", "tc-pass"):
            assert secret not in text
    release = texts[-1]
    for secret in fx.SOLUTION_MARKERS:
        assert secret not in release


@pytest.mark.slow
def test_lms_folder_of_zip_and_ipynb(tmp_path, graded):
    lms = tmp_path / "lms"
    lms.mkdir()
    with zipfile.ZipFile(lms / "carol.zip", "w") as zf:
        zf.writestr(f"{fx.ASSIGNMENT}.ipynb", nbformat.writes(solution()))
        zf.writestr("../escape.txt", "nope")
    nbformat.write(nbformat.reads(nbformat.writes(solution()), as_version=4), str(lms / f"dave_{fx.ASSIGNMENT}.ipynb"))
    db_url = f"sqlite:///{tmp_path / 'lms.db'}"
    proc = run_autograder("--root", str(graded["root"]), "grade", str(lms), "--out", str(tmp_path / "out"),
                          "--db-url", db_url, "--jobs", "2", "--no-feedback", *FIXTURE_LIMITS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Gradebook(db_url, "transformers") as gb:
        assert gb.find_submission(fx.ASSIGNMENT, "carol").score == 5
        assert gb.find_submission(fx.ASSIGNMENT, "dave").score == 5
    assert not (tmp_path / "escape.txt").exists()


def test_cli_help_and_clear_errors(tmp_path):
    assert "release" in run_autograder("--help").stdout
    proc = run_autograder("--root", str(tmp_path), "check")
    assert proc.returncode == 2 and "no assignments found" in proc.stderr
    proc = run_autograder("--root", str(tmp_path), "grade", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "not found" in proc.stderr
