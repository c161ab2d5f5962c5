"""The autograder end to end: check on every real assignment, and one `grade` run over
adversarial submissions built here on a tiny fixture assignment, graded together with
honest classmates, in the sandbox (bubblewrap) when this machine has it.

The attacks of ``attacks.py`` know the real paths of the course, the gradebook, the
exports, the repository and the Python environment, a loopback port where this test
listens, and a tag; after grading (and a few seconds for would-be daemons) the tests
check the host: nothing written, read, reached or left running.
"""
from __future__ import annotations

import ast
import csv
import os
import secrets
import site
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook

import attacks
import fixture_course as fx

REPO = Path(__file__).resolve().parents[2]
# Generous for a busy machine (the suite shares its cores); `loop` costs one cell timeout.
FIXTURE_LIMITS = ["--cell-timeout", "30", "--notebook-timeout", "300", "--memory-mb", "3072",
                  "--processes", "200"]
# Attacks on the operating system: graded only in the sandbox (without it they would succeed).
SANDBOX_ONLY = {"daemon", "proc_snoop", "reader", "writer", "network", "forkbomb"}


def run_autograder(*args, timeout=1200):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "lib")]))
    proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc


def sandbox_args(sandbox: bool) -> list[str]:
    return [] if sandbox else ["--no-sandbox"]


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


def with_cells(add, softmax=None):
    nb = solution()
    cell(nb, "add").source = add
    if softmax is not None:
        cell(nb, "softmax").source = softmax
    return nb


def adversarial_students(ctx: dict, sandbox: bool):
    """student -> (notebook or raw bytes or None, expected {grade_id: points})."""
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
    # The transformer rewrites every later cell, the right softmax test included: tampered, so 0.
    s["wrap"] = (with_add(WRAP), {"test_add": 0, "test_softmax": 0})

    # Seal forgery (all need no sandbox to be stopped: the seal and the scan stop them).
    s["lastline"] = (with_add(attacks.LAST_LINE + "def add(a, b):\n    return a * b\n"),
                     {"test_add": 0, "test_softmax": 0})
    s["asthook"] = (with_add(attacks.AST_HOOK + "def add(a, b):\n    return a * b\n"),
                    {"test_add": 0, "test_softmax": 0})
    s["fakegrading"] = (with_cells(attacks.FAKE_GRADING + attacks.SLY_ADD, attacks.WRONG_SOFTMAX),
                        {"test_add": 0, "test_softmax": 0})
    s["refpatch"] = (with_cells(attacks.RIGHT_ADD, attacks.REFERENCE_PATCH), {"test_add": 2, "test_softmax": 0})
    s["leak"] = (with_cells(attacks.LEAK + attacks.RIGHT_ADD, attacks.LEAK_SOFTMAX),
                 {"test_add": 0, "test_softmax": 0})

    # The operating system: each attacker's work is right, so anything but 5 means the attack hurt grading.
    s["daemon"] = (with_add(attacks.DAEMON.format(**ctx) + "def add(a, b):\n    return a * b\n"),
                   {"test_add": 0, "test_softmax": 3})
    s["proc_snoop"] = (with_add(attacks.PROC_SNOOP.format(**ctx) + attacks.RIGHT_ADD),
                       {"test_add": 2, "test_softmax": 3})
    s["reader"] = (with_add(attacks.READER.format(**ctx) + attacks.RIGHT_ADD), {"test_add": 2, "test_softmax": 3})
    s["writer"] = (with_add(attacks.WRITER.format(**ctx) + attacks.RIGHT_ADD), {"test_add": 2, "test_softmax": 3})
    s["network"] = (with_add(attacks.NETWORK.format(**ctx) + attacks.RIGHT_ADD), {"test_add": 2, "test_softmax": 3})
    s["forkbomb"] = (with_add(attacks.FORK_BOMB.format(**ctx) + attacks.RIGHT_ADD),
                     {"test_add": 2, "test_softmax": 3})
    if not sandbox:
        s = {k: v for k, v in s.items() if k not in SANDBOX_ONLY}
    return s


class Listener:
    """A TCP server on the grading machine's loopback that records who reached it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(100) or b"(connected)")
                except OSError:
                    self.received.append(b"(connected)")

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


def attack_context(root: Path, subs: Path, out: Path, scratch: Path, port: int) -> dict:
    tag = secrets.token_hex(6)
    secret = scratch / "instructor" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text(f"INSTRUCTOR-SECRET-{tag}")
    solution_nb = root / "solutions" / fx.ASSIGNMENT / f"{fx.ASSIGNMENT}.ipynb"
    return {
        "tag": tag, "short": tag[:6], "port": port, "out": str(out), "db": str(out / "gradebook.db"),
        "root_rel": str(root).lstrip("/"), "out_rel": str(out).lstrip("/"), "solution": str(solution_nb),
        "tmp_root": tempfile.gettempdir(), "secret": str(secret), "home": str(Path.home()),
        "classmate": str(subs / "good" / fx.ASSIGNMENT / f"{fx.ASSIGNMENT}.ipynb"),
        "host_tmp": f"/tmp/tc-attack-{tag}", "home_file": str(Path.home() / f".tc-attack-{tag}"),
        "repo_file": str(REPO / f"tc-attack-{tag}"), "course_file": str(root / "solutions" / f"tc-attack-{tag}"),
        "pth": str(Path(site.getsitepackages()[0]) / f"tc_attack_{tag}.pth"), "pth_mark": f"/tmp/tc-pth-{tag}",
        "lib_file": str(REPO / "lib" / "transformer_course" / "__init__.py"),
    }


def snapshot(out: Path, db_url: str) -> dict:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as con:
        scores = con.execute("select id, auto_score, manual_score from grade order by id").fetchall()
    return {"grades.csv": (out / "exports" / "grades.csv").read_bytes(),
            "grading_report.csv": (out / "exports" / "grading_report.csv").read_bytes(), "scores": scores}


def tagged_processes(tag: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        text = " ".join(proc.info.get("cmdline") or []) + " " + (proc.info.get("name") or "")
        if tag in text:
            found.append(f"{proc.pid}: {text[:120]}")
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory, sandbox):
    root = fx.make_course(tmp_path_factory.mktemp("course"))
    proc = run_autograder("--root", str(root), "release")
    assert proc.returncode == 0, proc.stderr
    subs = tmp_path_factory.mktemp("submitted")
    out = tmp_path_factory.mktemp("out")
    listener = Listener()
    ctx = attack_context(root, subs, out, tmp_path_factory.mktemp("scratch"), listener.port)
    lib_before = Path(ctx["lib_file"]).read_bytes()
    students = adversarial_students(ctx, sandbox)
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
    db_url = f"sqlite:///{out / 'gradebook.db'}"
    try:
        proc = run_autograder("--root", str(root), "grade", str(subs), "--out", str(out), "--db-url", db_url,
                              "--jobs", "2", *FIXTURE_LIMITS, *sandbox_args(sandbox))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        right_after = snapshot(out, db_url)
        time.sleep(6)   # a daemon that outlived grading would strike now
        later = snapshot(out, db_url)
    finally:
        listener.stop()
        written = {}
        for key in ("host_tmp", "home_file", "repo_file", "course_file", "pth", "pth_mark"):
            path = Path(ctx[key])
            if path.exists():
                written[key] = path.read_text(errors="replace")[:200]
                path.unlink()
        if Path(ctx["lib_file"]).read_bytes() != lib_before:
            written["lib_file"] = "changed"
            Path(ctx["lib_file"]).write_bytes(lib_before)
    return {"root": root, "out": out, "db_url": db_url, "students": students, "stdout": proc.stdout,
            "ctx": ctx, "listener": listener, "written": written, "right_after": right_after, "later": later,
            "sandbox": sandbox}


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
def test_report_says_how_it_graded(graded):
    with open(graded["out"] / "exports" / "grading_report.csv") as f:
        rows = list(csv.DictReader(f))
    expected = "bubblewrap" if graded["sandbox"] else "none (--no-sandbox)"
    assert {row["sandbox"] for row in rows} == {expected}
    assert ("sandbox: bubblewrap" if graded["sandbox"] else "WARNING: --no-sandbox") in graded["stdout"]


@pytest.mark.slow
def test_static_scan_flags_tampering_for_review(graded):
    with open(graded["out"] / "exports" / "grading_report.csv") as f:
        review = {row["student"]: row["review"] for row in csv.DictReader(f)}
    expected = {"wrap": "input transformer", "swallow": "custom exception handler", "lastline": "input transformer",
                "asthook": "AST transformer", "fakegrading": "sys.modules", "refpatch": "replaces torch.softmax",
                "leak": "event callback", "monkeypatch": "replaces torch.allclose", "daemon": "starts processes",
                "forkbomb": "starts processes", "network": "network", "proc_snoop": "/proc",
                "reader": "mentions", "writer": "mentions"}
    missing = {s: (w, review[s]) for s, w in expected.items() if s in review and w not in review[s]}
    assert not missing, missing
    for honest in ("good", "wrongname", "loop", "syntax"):
        assert review[honest] == "", (honest, review[honest])
    assert "REVIEW" in graded["stdout"]


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
    assert "input transformer" in notes["lastline"]
    assert "grading seal gave a wrong answer" in notes["fakegrading"]
    assert "notebook code replaced torch.softmax" in notes["refpatch"]


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
        for secret in fx.HIDDEN_MARKERS + ("BEGIN HIDDEN TESTS",):
            assert secret not in text
    release = texts[-1]
    for secret in fx.SOLUTION_MARKERS:
        assert secret not in release


# --------------------------------------------------------------------------
# The operating system: what the sandbox must stop (checked on the host, after grading).
# --------------------------------------------------------------------------

def printed(graded, student, grade_id="add") -> str:
    nb = nbformat.reads(executed(graded, student), as_version=4)
    return "".join(o.get("text", "") for o in cell(nb, grade_id).outputs if o.get("output_type") == "stream")


def output_of(graded, student, marker):
    lines = [line for line in printed(graded, student).splitlines() if line.startswith(marker)]
    assert lines, f"{student} printed no {marker!r}:\n{printed(graded, student)[:3000]}"
    return lines[-1]


@pytest.mark.slow
def test_no_daemon_outlives_grading_and_nothing_changes_after(graded, needs_sandbox):
    assert tagged_processes("TC-DAEMON-" + graded["ctx"]["tag"]) == []
    assert not (graded["out"] / "daemon-was-here").exists()
    assert graded["right_after"] == graded["later"]
    with open(graded["out"] / "exports" / "grades.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert rows["good"][f"{fx.ASSIGNMENT} points"] == "5" and rows["daemon"][f"{fx.ASSIGNMENT} points"] == "3"


@pytest.mark.slow
def test_proc_shows_neither_the_grader_nor_other_workspaces(graded, needs_sandbox):
    assert output_of(graded, "proc_snoop", "PROC-SNOOP") == "PROC-SNOOP []"


@pytest.mark.slow
def test_files_outside_the_workspace_cannot_be_read(graded, needs_sandbox):
    assert output_of(graded, "reader", "READER") == "READER []"
    text = printed(graded, "reader")
    assert "INSTRUCTOR-SECRET" not in text and "ANSWER-SECRET" not in text and "BEGIN SOLUTION" not in text


@pytest.mark.slow
def test_nothing_outside_the_workspace_can_be_written(graded, needs_sandbox):
    assert graded["written"] == {}
    # only the sandbox's own, private /tmp took a write (a checkout under /tmp, as in a CI clone,
    # puts the repository's path there too: inside the sandbox that path is in the private tmpfs,
    # and `written` above proves the host's file untouched)
    line = output_of(graded, "writer", "WRITER")
    assert line.startswith("WRITER [")
    wrote = ast.literal_eval(line.removeprefix("WRITER "))
    assert [path for path in wrote if not path.startswith("/tmp/")] == [], line


@pytest.mark.slow
def test_a_loopback_service_of_the_grading_machine_is_unreachable(graded, needs_sandbox):
    assert graded["listener"].received == []
    assert output_of(graded, "network", "NETWORK") == "NETWORK []"


@pytest.mark.slow
def test_a_fork_bomb_is_bounded_and_dies_with_its_sandbox(graded, needs_sandbox):
    seen = int(output_of(graded, "forkbomb", "BOMB-PROCESSES").split()[1])
    assert 10 < seen <= 200, seen
    assert tagged_processes("tcbomb" + graded["ctx"]["short"]) == []


@pytest.mark.slow
def test_leaked_hidden_tests_are_scrubbed_from_feedback(graded):
    # the attack worked inside the kernel: its own executed notebook quotes test_add's hidden test ...
    assert "HIDDEN-ADD-SECRET" in printed(graded, "leak", "softmax")
    # ... and its feedback does not (test_feedback_and_release_contain_no_hidden_tests_or_solutions checks all)
    page = next((graded["out"] / "feedback" / "leak").rglob("*.html")).read_text()
    assert "HIDDEN-ADD-SECRET" not in page and "a hidden test failed here" in page


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
                          "--db-url", db_url, "--jobs", "2", "--no-feedback", *FIXTURE_LIMITS,
                          *sandbox_args(graded["sandbox"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Gradebook(db_url, "transformers") as gb:
        assert gb.find_submission(fx.ASSIGNMENT, "carol").score == 5
        assert gb.find_submission(fx.ASSIGNMENT, "dave").score == 5
    assert not (tmp_path / "escape.txt").exists()


def test_cli_help_and_clear_errors(tmp_path, sandbox):
    assert "release" in run_autograder("--help").stdout
    assert "--no-sandbox" in run_autograder("grade", "--help").stdout
    proc = run_autograder("--root", str(tmp_path), "check")
    assert proc.returncode == 2 and "no assignments found" in proc.stderr
    proc = run_autograder("--root", str(tmp_path), "grade", str(tmp_path / "nowhere"), *sandbox_args(sandbox))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_grade_refuses_to_run_without_the_sandbox(tmp_path):
    """With no bwrap on PATH, `grade` names the package to install and the way out for trusted classes."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent),
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "lib")]))
    proc = subprocess.run([sys.executable, "-m", "autograder", "--root", str(tmp_path), "grade", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "refusing to grade without the sandbox" in proc.stderr and "bubblewrap" in proc.stderr
    assert "--no-sandbox" in proc.stderr
