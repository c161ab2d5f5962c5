"""`release`: regenerate course/ from solutions/ with stock nbgrader."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autograder.course import Course, generate


def release(course: Course, assignments: list[str], db_url: str) -> list[Path]:
    """Generate each release into a scratch folder, then swap it in, so a failed
    run never leaves course/ half written."""
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
