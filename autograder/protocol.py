"""The grading protocol, spelled once: course id, gradebook URLs, nbgrader's
begin/end regions, grade ids, and the seal that proves a test cell ran.

The seal. The worker writes a random key to ``SEAL_KEY_FILE`` in the workspace
before the kernel starts; the first cell it runs (``preamble``) hands the path to
``transformer_course.grading._arm``, which reads the key and deletes the file
before any student code runs. After each test cell the worker sends, in the
same execute request but outside the cell's source, the user expression
``seal_expression(challenge)`` with a fresh random challenge; the kernel
evaluates it only when the cell raised nothing, and the genuine ``_seal``
answers ``seal_answer(key, challenge)`` only when it finds no tampering. So
neither the key nor the answer ever appears in a cell's source or output.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from autograder import settings

COURSE_ID = settings.course_id()   # TC_COURSE_ID (autograder/settings.py), as in the nbgrader configuration

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_REGION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)

SEAL_KEY_FILE = ".seal-key"
RAISED = "the test cell raised an error"   # the verdict for a test that failed in the ordinary way
SEAL_EXPRESSION = "tc_seal"          # the user_expressions key of the seal
PREAMBLE_TAG = "preamble"            # cell.metadata["autograder"] of the worker's first cell


class Status(StrEnum):
    """How grading a submission ended."""
    OK = "ok"                  # graded (whatever the score)
    FAILED = "failed"          # nbgrader or the worker could not finish: 0 points
    TIMEOUT = "timeout"        # the notebook wall-time limit: 0 points
    MISSING = "missing"        # nothing gradable was submitted
    INVALID = "invalid"        # not a notebook


def sqlite_url(path) -> str:
    """The SQLAlchemy URL of a SQLite gradebook file."""
    return "sqlite:///" + str(path)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    """An autograded test cell: a graded code cell that is not a solution."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


@dataclass
class Regions:
    inside: list[str]        # stripped lines longer than 3 characters inside begin/end
    outside: set[str]        # stripped lines outside every region


def regions(source: str, begin: str, end: str) -> Regions:
    """Split a cell's lines into those inside ``begin``/``end`` regions and the rest."""
    inside, outside, within = [], set(), False
    for line in source.splitlines():
        if begin in line:
            within = True
        elif end in line:
            within = False
        elif within:
            if len(line.strip()) > 3:
                inside.append(line.strip())
        else:
            outside.add(line.strip())
    return Regions(inside, outside)


def hidden_lines(source: str) -> list[str]:
    """What must not leak from a cell: its hidden-test lines and the markers around them."""
    if HIDDEN_BEGIN not in source:
        return []
    return [HIDDEN_BEGIN, HIDDEN_END] + regions(source, HIDDEN_BEGIN, HIDDEN_END).inside


def preamble(key_path: str, processes: int | None = None) -> str:
    """Source of the worker's first cell: limit the kernel's processes, arm the seal, before any student code.

    The process limit is the kernel's own (its children inherit it), not the worker's: a fork
    bomb that exhausts it leaves the worker able to finish and report."""
    limit = (f"import resource\nresource.setrlimit(resource.RLIMIT_NPROC, ({processes}, {processes}))\n"
             if processes else "")
    return f"{limit}import transformer_course.grading\ntransformer_course.grading._arm({key_path!r})"


def seal_expression(challenge: str) -> str:
    return f"__import__('transformer_course.grading', fromlist=['_seal'])._seal({challenge!r})"


def seal_answer(key: bytes, challenge: str) -> str:
    """What the genuine ``transformer_course.grading._seal(challenge)`` returns under ``key``."""
    return hmac.new(key, challenge.encode(), hashlib.sha256).hexdigest()


def seal_verdict(reply_value: dict | None, key: bytes, challenge: str) -> tuple[bool, str]:
    """Judge the kernel's answer to the seal expression: (sealed, why not)."""
    if not reply_value:
        return False, "the test cell did not run to its end"
    if reply_value.get("status") != "ok":
        reason = str(reply_value.get("evalue") or reply_value.get("ename") or "the seal failed")
        return False, reason[:500]
    text = str(reply_value.get("data", {}).get("text/plain", ""))
    if hmac.compare_digest(text.strip().strip("'\""), seal_answer(key, challenge)):
        return True, ""
    return False, "the grading seal gave a wrong answer (a replaced grading module?)"
