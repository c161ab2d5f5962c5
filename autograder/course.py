"""Where a course lives on disk, and running stock nbgrader commands on it."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.protocol import sqlite_url

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
CONFIG_FILE = PACKAGE_DIR / "nbgrader_config.py"
LIB_DIR = REPO_ROOT / "lib"


class CourseError(Exception):
    """A problem the user can fix; printed without a traceback."""


@dataclass(frozen=True)
class Course:
    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def release(self) -> Path:
        return self.root / "course"

    @property
    def default_db_url(self) -> str:
        return sqlite_url(self.root / "gradebook.db")

    def assignments(self) -> list[str]:
        if not self.solutions.is_dir():
            return []
        return sorted(p.name for p in self.solutions.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))

    def resolve(self, names: list[str] | None) -> list[str]:
        known = self.assignments()
        if not names:
            if not known:
                raise CourseError(f"no assignments found under {self.solutions} "
                                  "(expected solutions/NN_name/NN_name.ipynb)")
            return known
        unknown = [n for n in names if n.rstrip("/").split("/")[-1] not in known]
        if unknown:
            raise CourseError(f"unknown assignment(s): {', '.join(unknown)}; "
                              f"known: {', '.join(known) or 'none'}")
        return [n.rstrip("/").split("/")[-1] for n in names]

    def notebook_names(self, assignment: str) -> list[str]:
        return sorted(p.stem for p in (self.solutions / assignment).glob("*.ipynb"))


def nbgrader(course: Course, *args: str, db_url: str, release_dir: Path | None = None,
             root: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a stock nbgrader command with the course config and explicit paths."""
    cmd = [sys.executable, "-m", "nbgrader", *args,
           f"--CourseDirectory.root={root or course.root}",
           f"--CourseDirectory.source_directory={course.solutions}",
           f"--CourseDirectory.db_url={db_url}"]
    if release_dir is not None:
        cmd.append(f"--CourseDirectory.release_directory={release_dir}")
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(PACKAGE_DIR),
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(LIB_DIR)]))
    # cwd without an nbgrader_config.py: only the course config applies.
    cwd = root or course.root
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise CourseError(f"`nbgrader {' '.join(args)}` failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def generate(course: Course, assignment: str, release_dir: Path, db_url: str) -> Path:
    """nbgrader generate_assignment into `release_dir`; returns the assignment folder."""
    release_dir.mkdir(parents=True, exist_ok=True)
    nbgrader(course, "generate_assignment", assignment, "--force", db_url=db_url, release_dir=release_dir)
    # The course configuration's preprocessors clean the release (autograder/cleaning.py),
    # so this is byte for byte what stock nbgrader and the formgrader write.
    return release_dir / assignment


def read_notebook(path: Path):
    return nbformat.read(str(path), as_version=nbformat.NO_CONVERT)

