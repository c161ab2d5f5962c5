"""`grade`: discover submissions, grade them in sandboxed workers in parallel, record
scores in the gradebook (parent only), export, and print a table.

Only this (parent) process opens the course gradebook. Each worker gets one
assignment's cells, its submission and the release's data files through its
job; it runs in a bubblewrap sandbox (``sandbox.py``) unless the instructor
chose ``--no-sandbox``. Before grading, the parent scans every submitted file
for tampering idioms (``scan.py``) for the instructor to review.
"""
from __future__ import annotations

import csv
import getpass
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import parse_utc
from tqdm import tqdm

from autograder.course import Course, CourseError, generate, nbgrader
from autograder.protocol import COURSE_ID, Status, sqlite_url
from autograder.sandbox import Limits, data_files, points_dir, run_submission, stage
from autograder.scan import Flag, scan_notebook
from autograder.scoring import NotebookScore, canonical_cells, clean_for_instructor, score_notebook
from autograder.submissions import Submission, discover

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
NO_SANDBOX = "none (--no-sandbox)"


@dataclass
class Outcome:
    submission: Submission
    score: NotebookScore
    seconds: float = 0.0
    executed: object = None            # cleaned notebook for autograded/ (None: none)
    notes: list[str] = field(default_factory=list)
    status: Status = Status.OK
    flags: list[Flag] = field(default_factory=list)   # static scan: for a human to review
    sandbox: str = "bubblewrap"        # how the submission ran: "bubblewrap" or "none (--no-sandbox)"


def register_assignments(course: Course, assignments: list[str], db_url: str, scratch: Path) -> dict[str, Path]:
    """Put each assignment's cells in the course gradebook and in a per-assignment
    template gradebook (cells only) that workspaces get a copy of."""
    templates = {}
    for assignment in assignments:
        generate(course, assignment, scratch / "release", db_url)
        template = scratch / f"{assignment}.db"
        _copy_assignment(db_url, sqlite_url(template), assignment)
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


def _grade_one(course: Course, sub: Submission, gradebook: bytes, canonical, files: dict, limits: Limits,
               staged: Path, sandboxed: bool) -> Outcome:
    zero = NotebookScore({n: 0.0 for n, c in canonical.items() if c.max_score is not None},
                         {n: c.max_score for n, c in canonical.items() if c.max_score is not None})
    how = "bubblewrap" if sandboxed else NO_SANDBOX
    if sub.path is None:
        return Outcome(sub, zero, notes=list(sub.notes), status=Status.MISSING, sandbox=how)
    try:
        if sub.path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError("file too large")
        text = sub.path.read_text(encoding="utf-8")
        submitted = nbformat.reads(text, as_version=4)
        nbformat.validate(submitted)
    except Exception as error:  # any parse problem means: not a notebook we can grade
        return Outcome(sub, zero, notes=sub.notes + [f"not a valid notebook ({type(error).__name__}): 0 points"],
                       status=Status.INVALID, sandbox=how)
    flags = scan_notebook(submitted, {n: c.source for n, c in canonical.items() if c.locked})
    run = run_submission(notebook_json=text, gradebook=gradebook, files=files, assignment=sub.assignment,
                         notebook_name=sub.notebook_name, student=sub.student, limits=limits, course_id=COURSE_ID,
                         staged=staged, sandboxed=sandboxed)
    score = score_notebook(canonical, run.notebook, run.seals)
    executed = None
    if run.notebook is not None:
        try:
            executed = clean_for_instructor(run.notebook)
        except Exception:
            executed = None
    return Outcome(sub, score, run.seconds, executed, sub.notes + run.notes + score.notes, run.status,
                   flags, how)


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
              jobs: int, limits: Limits, sandboxed: bool = True, progress: bool = True,
              register: bool = True) -> list[Outcome]:
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
                _copy_assignment(db_url, sqlite_url(templates[a]), a)
        staged = stage(scratch / "stage")
        points_dir(scratch)
        gradebooks = {a: templates[a].read_bytes() for a in assignments}
        files = {a: data_files(course.release / a) for a in assignments}
        canon = {}
        for a in assignments:
            for nb in course.notebook_names(a):
                canon[(a, nb)] = canonical_cells(db_url, COURSE_ID, a, nb)
        outcomes = []
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(_grade_one, course, s, gradebooks[s.assignment],
                                   canon[(s.assignment, s.notebook_name)], files[s.assignment], limits,
                                   staged, sandboxed) for s in subs]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="submission", disable=not progress):
                outcome = future.result()
                _record(db_url, outcome, out_dir)   # the only writer of the course gradebook
                outcomes.append(outcome)
        return sorted(outcomes, key=lambda o: (o.submission.student, o.submission.assignment))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_feedback(course: Course, assignments: list[str], db_url: str, out_dir: Path) -> None:
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
        writer.writerow(["student", "assignment", "points", "max", "needs manual grading", "seconds", "notes",
                         "sandbox", "review"])
        for o in outcomes:
            writer.writerow([o.submission.student, o.submission.assignment, f"{o.score.points:g}",
                             f"{o.score.max_points:g}", any(v is None for v in o.score.scores.values()),
                             f"{o.seconds:.1f}", "; ".join(o.notes), o.sandbox, "; ".join(map(str, o.flags))])
    return grades_csv, report_csv


def sandbox_banner(sandboxed: bool) -> str:
    if sandboxed:
        return ("sandbox: bubblewrap (own user, PID, network, IPC and mount namespaces; uid 65534; "
                "read-only system and Python; loopback only)")
    return (f"WARNING: --no-sandbox: student code runs as {getpass.getuser()} and can read and change "
            "whatever that user can (the gradebook, solutions/, other submissions). Trusted classes only.")


def grade_command(course: Course, folder: Path, *, assignment: str | None, db_url: str, out_dir: Path,
                  jobs: int, limits: Limits, feedback: bool = True, progress: bool = True,
                  sandboxed: bool = True) -> int:
    known = course.assignments()
    if assignment is not None and assignment not in known:
        raise CourseError(f"unknown assignment {assignment!r}; known: {', '.join(known) or 'none'}")
    notebooks = {a: course.notebook_names(a)[0] for a in known}
    subs = discover(folder, notebooks, assignment)
    if not subs:
        raise CourseError(f"no submissions found in {folder}")
    print(sandbox_banner(sandboxed))
    outcomes = grade_all(course, subs, db_url=db_url, out_dir=out_dir, jobs=jobs, limits=limits,
                         sandboxed=sandboxed, progress=progress)
    if feedback:
        write_feedback(course, sorted({s.assignment for s in subs}), db_url, out_dir)
    grades_csv, report_csv = write_exports(db_url, out_dir, outcomes)
    print_table(outcomes)
    print(f"\ngrades:   {grades_csv}\nreport:   {report_csv}")
    if feedback:
        print(f"feedback: {out_dir / 'feedback'}/STUDENT/ASSIGNMENT/*.html")
    print(f"gradebook: {db_url}")
    print(sandbox_banner(sandboxed))
    return 0


def print_table(outcomes) -> None:
    width = max([len(o.submission.student) for o in outcomes] + [7])
    print(f"\n{'student':<{width}}  {'assignment':<24} {'points':>10}  {'secs':>5}  notes")
    for o in outcomes:
        manual = "+manual" if any(v is None for v in o.score.scores.values()) else ""
        print(f"{o.submission.student:<{width}}  {o.submission.assignment:<24} "
              f"{o.score.points:>4g} / {o.score.max_points:<3g}{manual}  {o.seconds:>5.1f}  "
              f"{'; '.join(o.notes)[:160]}")
        if o.flags:
            print(f"{'':<{width}}  REVIEW {len(o.flags)} flag(s): {'; '.join(map(str, o.flags[:3]))[:200]}")
