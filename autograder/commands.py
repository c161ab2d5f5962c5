"""`grade`: discover, grade, record, export, and print a table."""
from __future__ import annotations

from pathlib import Path

import getpass

from autograder.course import Course, CourseError
from autograder.grade import grade_all, write_exports, write_feedback
from autograder.sandbox import Limits, sandbox_problem
from autograder.submissions import discover


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
