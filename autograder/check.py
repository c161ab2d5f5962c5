"""`check`: prove each assignment right before students see it.

(a) committed course/ equals a fresh release byte for byte; (b) the release has
no solution code and no hidden tests; (c) the solution notebook gets full marks
on every autograded test cell; (d) the untouched release gets zero on every
autograded test cell and runs to the end. Scores come from the gradebook.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.course import Course, generate
from autograder.grade import grade_all
from autograder.protocol import (COURSE_ID, HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END, Status,
                                 regions, sqlite_url)
from autograder.sandbox import Limits, sandbox_problem
from autograder.scoring import canonical_cells, is_autograded_test
from autograder.submissions import Submission

@dataclass
class Report:
    assignment: str
    failures: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leaks(source_nb, release_nb) -> list[str]:
    """Solution and hidden-test lines of the source notebook that appear in its release."""
    problems = []
    release_text = "\n".join(c.source for c in release_nb.cells)
    for marker in (SOLUTION_BEGIN, HIDDEN_BEGIN):
        if marker in release_text:
            problems.append(f"release still contains '{marker}'")
    for cell in release_nb.cells:
        if cell.cell_type == "code" and cell.get("outputs"):
            problems.append(f"release cell {cell.get('id')} has outputs")
            break
    outside_both = set()    # lines outside every region may appear in the release
    secret = []
    for cell in source_nb.cells:
        solution = regions(cell.source, SOLUTION_BEGIN, SOLUTION_END)
        hidden = regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)
        outside_both |= solution.outside & hidden.outside
        secret += [(line, what) for found, what in ((solution, "solution"), (hidden, "hidden test"))
                   for line in found.inside if not line.startswith("#")]
    release_lines = {line.strip() for line in release_text.splitlines()}
    for line, what in secret:
        if line not in outside_both and line in release_lines:
            problems.append(f"{what} line leaked into the release: {line[:80]!r}")
    return problems


def prove_in_sync(course: Course, assignment: str, fresh: Path) -> tuple[bool, str]:
    """(a) the committed course/ equals a fresh release byte for byte."""
    committed = course.release / assignment
    if not committed.is_dir():
        return False, f"(a) {committed.relative_to(course.root)} is missing: run `make release`"
    want, got = _tree(fresh), _tree(committed)
    differing = sorted(n for n in set(want) | set(got) if want.get(n) != got.get(n))
    if differing:
        return False, (f"(a) course/{assignment} differs from a fresh release in {', '.join(differing)}: "
                       "run `make release` and commit")
    return True, "(a) release in sync"


def prove_no_leaks(course: Course, assignment: str, fresh: Path) -> list[tuple[bool, str]]:
    """(b) the release holds no solution line and no hidden-test line."""
    problems = []
    for name in course.notebook_names(assignment):
        source = nbformat.read(str(course.solutions / assignment / f"{name}.ipynb"), as_version=4)
        problems += leaks(source, nbformat.read(str(fresh / f"{name}.ipynb"), as_version=4))
    return [(False, f"(b) {p}") for p in problems] or [(True, "(b) no solutions or hidden tests in the release")]


def _test_scores(db_url: str, outcome) -> tuple[dict, dict]:
    sub = outcome.submission
    canon = canonical_cells(db_url, COURSE_ID, sub.assignment, sub.notebook_name)
    tests = {n: c for n, c in canon.items() if is_autograded_test(c)}
    with Gradebook(db_url, COURSE_ID) as gb:
        scores = {n: gb.find_grade(n, sub.notebook_name, sub.assignment, sub.student).auto_score for n in tests}
    return tests, scores


def _why(outcome) -> str:
    return f"[{outcome.status}; {'; '.join(outcome.notes)[:400]}]"


def prove_full_marks(db_url: str, outcome) -> tuple[bool, str]:
    """(c) the solution notebook earns full marks on every autograded test cell."""
    tests, scores = _test_scores(db_url, outcome)
    wrong = [f"{n} {scores[n]}/{c.max_score:g}" for n, c in tests.items() if scores[n] != c.max_score]
    if wrong or outcome.status != Status.OK:
        return False, (f"(c) solution {outcome.submission.notebook_name}: not full marks on "
                       f"{', '.join(wrong) or '-'} {_why(outcome)}")
    return True, f"(c) solution gets full marks ({len(tests)} test cells, {outcome.seconds:.0f} s)"


def prove_zero(db_url: str, outcome) -> tuple[bool, str]:
    """(d) the untouched release earns zero on every autograded test cell and runs to the end."""
    tests, scores = _test_scores(db_url, outcome)
    wrong = [f"{n} {scores[n]}" for n in tests if scores[n] != 0]
    if wrong or outcome.status != Status.OK:
        return False, (f"(d) release {outcome.submission.notebook_name}: non-zero on {', '.join(wrong) or '-'} "
                       f"or did not run to the end {_why(outcome)}")
    return True, f"(d) untouched release gets zero and runs to the end ({outcome.seconds:.0f} s)"


def check_assignment(course: Course, assignment: str, limits: Limits, jobs: int) -> Report:
    report, start = Report(assignment), time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"tc-check-{assignment}-"))
    proofs: list[tuple[bool, str]] = []
    try:
        db_url = sqlite_url(scratch / "check.db")
        fresh = generate(course, assignment, scratch / "release", db_url)
        proofs.append(prove_in_sync(course, assignment, fresh))
        proofs += prove_no_leaks(course, assignment, fresh)
        subs = []
        for name in course.notebook_names(assignment):
            subs.append(Submission("check-solution", assignment, name, course.solutions / assignment / f"{name}.ipynb"))
            subs.append(Submission("check-release", assignment, name, fresh / f"{name}.ipynb"))
        # (c) and (d) share one grading run
        for outcome in grade_all(course, subs, db_url=db_url, out_dir=None, jobs=jobs, limits=limits,
                                 sandboxed=sandbox_problem() is None, progress=False, register=False):
            prove = prove_full_marks if outcome.submission.student == "check-solution" else prove_zero
            proofs.append(prove(db_url, outcome))
    except Exception as error:  # one broken assignment must not hide the others' reports
        proofs.append((False, f"check crashed: {type(error).__name__}: {error}"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.passed = [message for ok, message in proofs if ok]
    report.failures = [message for ok, message in proofs if not ok]
    report.seconds = time.monotonic() - start
    return report


def check(course: Course, assignments: list[str], *, jobs: int, limits: Limits) -> int:
    outer = max(1, min(jobs, len(assignments)))
    inner = max(1, min(2, jobs // outer))
    print(f"checking {len(assignments)} assignment(s), {outer} at a time")
    if sandbox_problem():  # solutions/ and the release are the course's own, trusted code
        print(f"note: checking without the sandbox: {sandbox_problem()}")
    with ThreadPoolExecutor(max_workers=outer) as pool:
        reports = list(pool.map(lambda a: check_assignment(course, a, limits, inner), assignments))
    failed = 0
    for r in reports:
        status = "FAIL" if r.failures else "ok"
        failed += bool(r.failures)
        print(f"\n[{status}] {r.assignment} ({r.seconds:.0f} s)")
        for line in r.passed:
            print(f"   ok   {line}")
        for line in r.failures:
            print(f"   FAIL {line}")
    print(f"\n{len(reports) - failed} of {len(reports)} assignment(s) passed")
    return 1 if failed else 0
