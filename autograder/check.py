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
from autograder.protocol import HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END, regions
from autograder.grade import COURSE_ID, grade_all
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


def check_assignment(course: Course, assignment: str, limits: Limits, jobs: int) -> Report:
    report, start = Report(assignment), time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"tc-check-{assignment}-"))
    try:
        db_url = "sqlite:///" + str(scratch / "check.db")
        fresh = generate(course, assignment, scratch / "release", db_url)
        committed = course.release / assignment
        if not committed.is_dir():
            report.failures.append(f"(a) {committed.relative_to(course.root)} is missing: run `make release`")
        else:
            want, got = _tree(fresh), _tree(committed)
            differing = sorted(n for n in set(want) | set(got) if want.get(n) != got.get(n))
            if differing:
                report.failures.append(f"(a) course/{assignment} differs from a fresh release in "
                                       f"{', '.join(differing)}: run `make release` and commit")
            else:
                report.passed.append("(a) release in sync")
        problems = []
        for name in course.notebook_names(assignment):
            src = nbformat.read(str(course.solutions / assignment / f"{name}.ipynb"), as_version=4)
            rel = nbformat.read(str(fresh / f"{name}.ipynb"), as_version=4)
            problems += leaks(src, rel)
        report.failures += [f"(b) {p}" for p in problems]
        if not problems:
            report.passed.append("(b) no solutions or hidden tests in the release")

        subs = []
        for name in course.notebook_names(assignment):
            subs.append(Submission("check-solution", assignment, name, course.solutions / assignment / f"{name}.ipynb"))
            subs.append(Submission("check-release", assignment, name, fresh / f"{name}.ipynb"))
        outcomes = grade_all(course, subs, db_url=db_url, out_dir=None, jobs=jobs, limits=limits,
                             sandboxed=sandbox_problem() is None, progress=False, register=False)
        for outcome in outcomes:
            sub = outcome.submission
            canon = canonical_cells(db_url, COURSE_ID, assignment, sub.notebook_name)
            tests = [n for n, c in canon.items() if is_autograded_test(c)]
            with Gradebook(db_url, COURSE_ID) as gb:
                scores = {n: gb.find_grade(n, sub.notebook_name, assignment, sub.student).auto_score for n in tests}
            if sub.student == "check-solution":
                wrong = [f"{n} {scores[n]}/{canon[n].max_score:g}" for n in tests if scores[n] != canon[n].max_score]
                if wrong or outcome.status != "ok":
                    report.failures.append(f"(c) solution {sub.notebook_name}: not full marks on {', '.join(wrong) or '-'}"
                                           f" [{outcome.status}; {'; '.join(outcome.notes)[:400]}]")
                else:
                    report.passed.append(f"(c) solution gets full marks ({len(tests)} test cells, {outcome.seconds:.0f} s)")
            else:
                wrong = [f"{n} {scores[n]}" for n in tests if scores[n] != 0]
                if wrong or outcome.status != "ok":
                    report.failures.append(f"(d) release {sub.notebook_name}: non-zero on {', '.join(wrong) or '-'}"
                                           f" or did not run to the end [{outcome.status}; {'; '.join(outcome.notes)[:400]}]")
                else:
                    report.passed.append(f"(d) untouched release gets zero and runs to the end ({outcome.seconds:.0f} s)")
    except Exception as error:  # one broken assignment must not hide the others' reports
        report.failures.append(f"check crashed: {type(error).__name__}: {error}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
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
