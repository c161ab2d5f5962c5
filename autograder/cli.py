"""Command line: python -m autograder {release,check,grade,demo}."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from autograder.course import REPO_ROOT, Course, CourseError, generate
from autograder.sandbox import Limits


def _limits_args(parser: argparse.ArgumentParser) -> None:
    d = Limits()
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                        help="submissions graded in parallel (default: number of cores)")
    parser.add_argument("--cell-timeout", type=int, default=d.cell_timeout,
                        help=f"seconds per cell before it is interrupted (default {d.cell_timeout})")
    parser.add_argument("--notebook-timeout", type=int, default=d.notebook_timeout,
                        help=f"seconds per submission before it is killed (default {d.notebook_timeout})")
    parser.add_argument("--memory-mb", type=int, default=d.memory_mb,
                        help=f"address-space limit per grading process in MiB (default {d.memory_mb})")
    parser.add_argument("--processes", type=int, default=d.processes,
                        help=f"processes and threads per sandbox (default {d.processes})")


def _limits(args) -> Limits:
    return Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                  memory_mb=args.memory_mb, processes=args.processes)


def release(course: Course, assignments: list[str], db_url: str) -> list[Path]:
    """`release`: regenerate course/ with stock nbgrader. Each release is generated into a
    scratch folder, then swapped in, so a failed run never leaves course/ half written."""
    written = []
    for assignment in assignments:
        scratch = Path(tempfile.mkdtemp(prefix="tc-release-"))
        try:
            fresh = generate(course, assignment, scratch, db_url)
            dest = course.release / assignment
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(fresh, dest)
            written.append(dest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0] + (
        "\nRelease, check and grade the course's nbgrader assignments. See autograder/README.md."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO_ROOT,
                        help="course root holding solutions/ and course/ (default: this repository)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate course/ from solutions/ (idempotent)")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--db-url", help="gradebook (default: sqlite gradebook.db at the course root)")

    p = sub.add_parser("check", help="prove assignments: release in sync, no leaks, full marks, zero for blank")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    _limits_args(p)

    p = sub.add_parser("grade", help="grade a folder of submissions")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                   help="nbgrader submitted/ layout (STUDENT/ASSIGNMENT/*.ipynb) or a folder of "
                        "STUDENT.ipynb / STUDENT.zip files as an LMS exports them")
    p.add_argument("--assignment", help="assignment of an LMS folder (default: guessed)")
    p.add_argument("--db-url", help="any SQLAlchemy URL nbgrader supports (default: sqlite gradebook.db)")
    p.add_argument("--out", type=Path, help="where autograded/, feedback/ and exports/ go (default: course root)")
    p.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run student code without the bubblewrap sandbox, as your own user (trusted classes only)")
    _limits_args(p)

    p = sub.add_parser("demo", help="grade three built-in students end to end")
    p.add_argument("--out", type=Path, help="where the demo writes (default: exports/demo)")
    _limits_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    course = Course(args.root.resolve())
    # nbgrader 0.9's gradebook code triggers SQLAlchemy 2 autoflush warnings that are harmless.
    warnings.filterwarnings("ignore", message=".*not in session.*")
    try:
        if args.command == "release":
            for path in release(course, course.resolve(args.assignments), args.db_url or course.default_db_url):
                print(f"released {path.relative_to(course.root)}")
            return 0
        if args.command == "check":
            from autograder.check import check
            return check(course, course.resolve(args.assignments), jobs=args.jobs, limits=_limits(args))
        if args.command == "grade":
            from autograder.grade import grade_command
            from autograder.sandbox import sandbox_problem
            problem = None if args.no_sandbox else sandbox_problem()
            if problem:
                raise CourseError(f"refusing to grade without the sandbox: {problem}. For a class whose code "
                                  "you trust, `--no-sandbox` grades without it.")
            return grade_command(course, args.submissions.resolve(), assignment=args.assignment,
                                 db_url=args.db_url or course.default_db_url,
                                 out_dir=(args.out or course.root).resolve(), jobs=args.jobs,
                                 limits=_limits(args), feedback=not args.no_feedback,
                                 progress=not args.no_progress, sandboxed=not args.no_sandbox)
        if args.command == "demo":
            from autograder.demo import demo
            return demo(course, out_dir=(args.out or course.root / "exports" / "demo").resolve(),
                        jobs=args.jobs, limits=_limits(args))
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
