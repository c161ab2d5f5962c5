"""Grading many submissions: workspaces in parallel, scores and gradebook in the parent.

Only this (parent) process opens the course gradebook. Children get a copy of
one assignment's cells in their workspace; whatever they do to it is ignored.
"""
from __future__ import annotations

import csv
import shutil
import warnings
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import parse_utc
from tqdm import tqdm

from autograder import settings
from autograder.course import Course, generate
from autograder.sandbox import Limits, prepare_workspace, run_submission
from autograder.scoring import NotebookScore, canonical_cells, clean_for_instructor, score_notebook
from autograder.submissions import Submission

COURSE_ID = settings.course_id()   # TC_COURSE_ID, as in the nbgrader configuration
# nbgrader 0.9's gradebook code triggers SQLAlchemy 2 autoflush warnings that are harmless.
warnings.filterwarnings("ignore", message=".*not in session.*")
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024


@dataclass
class Outcome:
    submission: Submission
    score: NotebookScore
    seconds: float = 0.0
    executed: object = None            # cleaned notebook for autograded/ (None: none)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"                 # ok, failed, timeout, missing, invalid


def register_assignments(course: Course, assignments: list[str], db_url: str, scratch: Path) -> dict[str, Path]:
    """Put each assignment's cells in the course gradebook and in a per-assignment
    template gradebook (cells only) that workspaces get a copy of."""
    templates = {}
    for assignment in assignments:
        generate(course, assignment, scratch / "release", db_url)
        template = scratch / f"{assignment}.db"
        _copy_assignment(db_url, "sqlite:///" + str(template), assignment)
        templates[assignment] = template
    return templates


def _copy_assignment(src_url: str, dst_url: str, assignment: str) -> None:
    with Gradebook(src_url, COURSE_ID) as src, Gradebook(dst_url, COURSE_ID) as dst:
        dst.update_or_create_assignment(assignment)
        for nb in src.find_assignment(assignment).notebooks:
            dst.update_or_create_notebook(nb.name, assignment)
            for c in nb.grade_cells:
                dst.update_or_create_grade_cell(c.name, nb.name, assignment, max_score=c.max_score,
                                                cell_type=c.cell_type)
            for c in nb.solution_cells:
                dst.update_or_create_solution_cell(c.name, nb.name, assignment)
            for c in nb.task_cells:
                dst.update_or_create_task_cell(c.name, nb.name, assignment, max_score=c.max_score,
                                               cell_type=c.cell_type)
            for c in nb.source_cells:
                dst.update_or_create_source_cell(c.name, nb.name, assignment, cell_type=c.cell_type,
                                                 locked=c.locked, source=c.source, checksum=c.checksum)


def _grade_one(course: Course, sub: Submission, template: Path, canonical, limits: Limits) -> Outcome:
    start = time.monotonic()
    zero = NotebookScore({n: 0.0 for n, c in canonical.items() if c.max_score is not None},
                         {n: c.max_score for n, c in canonical.items() if c.max_score is not None})
    if sub.path is None:
        return Outcome(sub, zero, notes=list(sub.notes), status="missing")
    try:
        if sub.path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError("file too large")
        nbformat.validate(nbformat.reads(sub.path.read_text(encoding="utf-8"), as_version=4))
    except Exception as error:  # any parse problem means: not a notebook we can grade
        return Outcome(sub, zero, notes=sub.notes + [f"not a valid notebook ({type(error).__name__}): 0 points"],
                       status="invalid")
    workspace = prepare_workspace(template, sub.path, sub.assignment, sub.notebook_name, sub.student,
                                  course.release / sub.assignment)
    try:
        run = run_submission(workspace, sub.assignment, sub.notebook_name, sub.student, limits, COURSE_ID)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    score = score_notebook(canonical, run.notebook, run.nonce)
    executed = None
    if run.notebook is not None:
        try:
            executed = clean_for_instructor(run.notebook, canonical, run.nonce)
        except Exception:
            executed = None
    return Outcome(sub, score, run.seconds, executed, sub.notes + run.notes + score.notes, run.status)


def _record(db_url: str, outcome: Outcome, out_dir: Path | None) -> None:
    sub = outcome.submission
    exchange_files = _exchange_files(sub)
    with Gradebook(db_url, COURSE_ID) as gb:
        gb.update_or_create_student(sub.student)
        gb.update_or_create_submission(sub.assignment, sub.student, **_submitted_at(exchange_files))
        for grade_id, points in outcome.score.scores.items():
            grade = gb.find_grade(grade_id, sub.notebook_name, sub.assignment, sub.student)
            grade.auto_score = points
            grade.needs_manual_grade = points is None and grade.manual_score is None
        gb.db.commit()
    if out_dir is not None and outcome.executed is not None:
        dest = out_dir / "autograded" / sub.student / sub.assignment / f"{sub.notebook_name}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(outcome.executed, str(dest))
        for name, data in exchange_files.items():   # generate_feedback carries them to feedback/
            (dest.parent / name).write_bytes(data)


# What `nbgrader submit` puts beside a notebook: when it was submitted, and the secret
# `release_feedback` and the student's `fetch_feedback` both derive the feedback's name from.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def _exchange_files(sub: Submission) -> dict[str, bytes]:
    """The submission's exchange files when it came through nbgrader's collect
    (SUBMISSIONS/STUDENT/ASSIGNMENT/), read by the parent: small, never executed."""
    if sub.path is None or sub.path.parent.name != sub.assignment:
        return {}
    found = {}
    for name in EXCHANGE_FILES:
        path = sub.path.parent / name
        if path.is_file() and path.stat().st_size < 4096:
            found[name] = path.read_bytes()
    return found


def _submitted_at(exchange_files: dict[str, bytes]) -> dict:
    """The gradebook's submission time (nbgrader's late-submission check), when known."""
    try:
        return {"timestamp": parse_utc(exchange_files["timestamp.txt"].decode().strip())}
    except (KeyError, ValueError, UnicodeDecodeError, OverflowError):
        return {}


def grade_all(course: Course, subs: list[Submission], *, db_url: str, out_dir: Path | None,
              jobs: int, limits: Limits, progress: bool = True, register: bool = True) -> list[Outcome]:
    """Grade `subs`; `register=False` when the gradebook already holds the assignments."""
    scratch = Path(tempfile.mkdtemp(prefix="tc-templates-"))
    try:
        assignments = sorted({s.assignment for s in subs})
        if register:
            templates = register_assignments(course, assignments, db_url, scratch)
        else:
            templates = {}
            for a in assignments:
                templates[a] = scratch / f"{a}.db"
                _copy_assignment(db_url, "sqlite:///" + str(templates[a]), a)
        canon = {}
        for a in assignments:
            for nb in course.notebook_names(a):
                canon[(a, nb)] = canonical_cells(db_url, COURSE_ID, a, nb)
        outcomes = []
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(_grade_one, course, s, templates[s.assignment],
                                   canon[(s.assignment, s.notebook_name)], limits) for s in subs]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="submission", disable=not progress):
                outcome = future.result()
                _record(db_url, outcome, out_dir)   # the only writer of the course gradebook
                outcomes.append(outcome)
        return sorted(outcomes, key=lambda o: (o.submission.student, o.submission.assignment))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_feedback(course: Course, assignments: list[str], db_url: str, out_dir: Path) -> None:
    from autograder.course import nbgrader
    for assignment in assignments:
        if any((out_dir / "autograded").glob(f"*/{assignment}")):
            nbgrader(course, "generate_feedback", assignment, "--force", db_url=db_url, root=out_dir)


def write_exports(db_url: str, out_dir: Path, outcomes: list[Outcome]) -> tuple[Path, Path]:
    exports = out_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    grades_csv, report_csv = exports / "grades.csv", exports / "grading_report.csv"
    with Gradebook(db_url, COURSE_ID) as gb:
        assignments = sorted(a.name for a in gb.assignments)
        maxima = {a: gb.find_assignment(a).max_score for a in assignments}
        rows = []
        for student in sorted(s.id for s in gb.students):
            row, total, total_max = [student], 0.0, 0.0
            for a in assignments:
                try:
                    points = gb.find_submission(a, student).score
                except MissingEntry:
                    points = 0.0
                row += [f"{points:g}", f"{maxima[a]:g}"]
                total, total_max = total + points, total_max + maxima[a]
            rows.append(row + [f"{total:g}", f"{total_max:g}"])
    with open(grades_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student"] + [f"{a} {k}" for a in assignments for k in ("points", "max")]
                        + ["total points", "total max"])
        writer.writerows(rows)
    with open(report_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", "points", "max", "needs manual grading", "seconds", "notes"])
        for o in outcomes:
            writer.writerow([o.submission.student, o.submission.assignment, f"{o.score.points:g}",
                             f"{o.score.max_points:g}", any(v is None for v in o.score.scores.values()),
                             f"{o.seconds:.1f}", "; ".join(o.notes)])
    return grades_csv, report_csv
