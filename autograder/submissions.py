"""Finding submissions: nbgrader's submitted/ layout, or an LMS export folder.

    SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb      (nbgrader)
    SUBMISSIONS/<student>.ipynb | <student>.zip              (LMS, one assignment:
    SUBMISSIONS/<student>_<assignment>.ipynb | .zip           --assignment, folder name,
                                                              or the notebook's name)
"""
from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import CourseError

SAFE_ID = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass
class Submission:
    student: str
    assignment: str
    notebook_name: str
    path: Path | None                  # None: nothing gradable was found
    notes: list[str] = field(default_factory=list)


def _student_id(raw: str) -> str:
    return SAFE_ID.sub("_", raw).strip("_.") or "unknown"


def _pick(files: list[Path], expected: str, notes: list[str]) -> Path | None:
    notebooks = [f for f in files if f.suffix == ".ipynb" and not f.name.startswith(".")
                 and ".ipynb_checkpoints" not in f.parts and "__MACOSX" not in f.parts]
    for f in notebooks:
        if f.stem == expected:
            return f
    if len(notebooks) == 1:
        notes.append(f"notebook was named '{notebooks[0].name}', expected '{expected}.ipynb'; graded it anyway")
        return notebooks[0]
    if notebooks:
        notes.append(f"no '{expected}.ipynb' among {', '.join(sorted(f.name for f in notebooks))}")
    else:
        notes.append(f"no notebook submitted (expected '{expected}.ipynb')")
    return None


def discover(folder: Path, notebooks: dict[str, str], assignment: str | None = None) -> list[Submission]:
    """`notebooks` maps assignment -> its notebook name."""
    if not folder.is_dir():
        raise CourseError(f"submissions folder not found: {folder}")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if entries and all(p.is_dir() for p in entries) and not (folder.name in notebooks or assignment):
        return _discover_nbgrader(entries, notebooks)
    return _discover_lms(entries, notebooks, assignment or (folder.name if folder.name in notebooks else None))


def _discover_nbgrader(students: list[Path], notebooks: dict[str, str]) -> list[Submission]:
    found = []
    for student_dir in students:
        student = _student_id(student_dir.name)
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            if assignment_dir.name not in notebooks:
                continue
            expected = notebooks[assignment_dir.name]
            notes: list[str] = []
            path = _pick(sorted(assignment_dir.rglob("*.ipynb")), expected, notes)
            found.append(Submission(student, assignment_dir.name, expected, path, notes))
    return found


def _discover_lms(entries: list[Path], notebooks: dict[str, str], assignment: str | None) -> list[Submission]:
    found = []
    unpack_root = Path(tempfile.mkdtemp(prefix="tc-lms-"))
    for entry in entries:
        if entry.is_dir() or entry.suffix not in (".ipynb", ".zip"):
            continue
        stem, target = entry.stem, assignment
        for name in notebooks:
            if stem.endswith("_" + name) or stem.endswith("-" + name):
                stem, target = stem[: -len(name) - 1], name
                break
        notes: list[str] = []
        files = [entry]
        if entry.suffix == ".zip":
            files = _unzip(entry, unpack_root / _student_id(stem), notes)
            if target is None:
                target = next((a for a, nb in notebooks.items() if any(f.stem == nb for f in files)), None)
        if target is None and len(notebooks) == 1:
            target = next(iter(notebooks))
        if target is None:
            raise CourseError(f"cannot tell which assignment {entry.name} is for; pass --assignment")
        expected = notebooks[target]
        # An LMS renames the file after the student, so a lone notebook is the submission.
        path = entry if entry.suffix == ".ipynb" else _pick(files, expected, notes)
        found.append(Submission(_student_id(stem), target, expected, path, notes))
    return found


def _unzip(archive: Path, dest: Path, notes: list[str]) -> list[Path]:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                # Refuse absolute paths, '..' and archive bombs.
                name = Path(info.filename)
                if name.is_absolute() or ".." in name.parts or info.file_size > 64 * 1024 * 1024:
                    notes.append(f"skipped suspicious archive member {info.filename!r}")
                    continue
                zf.extract(info, dest)
    except zipfile.BadZipFile:
        notes.append(f"{archive.name} is not a valid zip file")
        return []
    return sorted(p for p in dest.rglob("*") if p.is_file())
