"""Scores from trusted data only.

The executed notebook came out of a process that ran student code, so it is
evidence, not truth. For every grade cell in the *course* gradebook we find the
executed cell with that grade_id, require its source to be exactly the
canonical source plus the seal line the worker appended, require the seal's
pass marker in its output (so a swallowed exception earns nothing), and then
let nbgrader's own `determine_grade` decide from canonical metadata and the
outputs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade

from autograder.worker import seal_line


@dataclass
class CanonicalCell:
    name: str
    cell_type: str
    source: str
    checksum: str | None
    locked: bool
    max_score: float | None = None      # None: not a grade cell
    solution: bool = False


@dataclass
class NotebookScore:
    scores: dict[str, float | None]     # grade_id -> points (None: needs manual grading)
    max_scores: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(v for v in self.scores.values() if v is not None)

    @property
    def max_points(self) -> float:
        return sum(self.max_scores.values())


def canonical_cells(db_url: str, course_id: str, assignment: str, notebook: str) -> dict[str, CanonicalCell]:
    with Gradebook(db_url, course_id) as gb:
        nb = gb.find_notebook(notebook, assignment)
        cells = {c.name: CanonicalCell(c.name, c.cell_type, c.source, c.checksum, c.locked)
                 for c in nb.source_cells}
        for g in nb.grade_cells:
            cells[g.name].max_score = float(g.max_score)
        for s in nb.solution_cells:
            cells[s.name].solution = True
    return cells


def is_autograded_test(cell: CanonicalCell) -> bool:
    return cell.max_score is not None and cell.cell_type == "code" and not cell.solution


def pass_marker(nonce: str, grade_id: str) -> str:
    return f"[tc-pass {nonce}:{grade_id}]"


def score_notebook(canonical: dict[str, CanonicalCell], executed_json: str | None, nonce: str) -> NotebookScore:
    max_scores = {n: c.max_score for n, c in canonical.items() if c.max_score is not None}
    zero = NotebookScore({n: 0.0 for n in max_scores}, max_scores)
    if executed_json is None:
        return zero
    try:
        nb = nbformat.reads(executed_json, as_version=4)
    except Exception:
        zero.notes.append("the executed notebook could not be read")
        return zero
    by_id: dict[str, list] = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            by_id.setdefault(grade_id, []).append(cell)

    result = NotebookScore({}, max_scores)
    for name, canon in canonical.items():
        found = by_id.get(name, [])
        if canon.locked and canon.max_score is None:
            if not found or found[0].source != canon.source:
                result.notes.append(f"locked cell '{name}' was deleted or changed")
            continue
        if canon.max_score is None:
            continue
        if not found:
            result.scores[name] = 0.0
            result.notes.append(f"cell '{name}' is missing from the submission (deleted?): 0 points")
            continue
        cell = found[0]
        if is_autograded_test(canon):
            result.scores[name] = _score_test(canon, cell, nonce, result.notes)
        else:
            judged = copy.deepcopy(cell)
            judged.cell_type = canon.cell_type
            judged.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": name,
                                           "points": canon.max_score, "checksum": canon.checksum,
                                           "locked": False, "schema_version": 3, "cell_type": canon.cell_type}
            if canon.cell_type == "code":
                judged.setdefault("outputs", [])
            score, _ = determine_grade(judged, None)
            result.scores[name] = score
    return result


def _score_test(canon: CanonicalCell, cell, nonce: str, notes: list[str]) -> float:
    if cell.cell_type != "code" or cell.source != canon.source + seal_line(nonce, canon.name):
        notes.append(f"test cell '{canon.name}' was not the original test: 0 points")
        return 0.0
    marker = pass_marker(nonce, canon.name)
    outputs = strip_markers(cell.get("outputs", []), nonce)
    sealed = any(o.get("output_type") == "stream" and o.get("name") == "stdout" and marker in o.get("text", "")
                 for o in cell.get("outputs", []))
    judged = nbformat.v4.new_code_cell(canon.source)
    judged.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": canon.name,
                                   "points": canon.max_score, "locked": True, "schema_version": 3}
    judged.outputs = outputs
    score, _ = determine_grade(judged, None)
    if not sealed and score:
        notes.append(f"test cell '{canon.name}' did not run to its end "
                     "(an exception was swallowed, or output was suppressed): 0 points")
        return 0.0
    return float(score or 0.0)


def strip_markers(outputs: list, nonce: str) -> list:
    """Outputs without the seal's pass markers (and without streams left empty)."""
    kept = []
    prefix = f"[tc-pass {nonce}:"
    for output in outputs:
        if output.get("output_type") == "stream" and prefix in output.get("text", ""):
            output = copy.deepcopy(output)
            output["text"] = "\n".join(l for l in output["text"].split("\n") if prefix not in l)
            if not output["text"].strip():
                continue
        kept.append(output)
    return kept


def clean_for_instructor(executed_json: str, canonical: dict[str, CanonicalCell], nonce: str):
    """The executed notebook minus the autograder's preamble cell and seal lines."""
    nb = nbformat.reads(executed_json, as_version=4)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("autograder") != "preamble"]
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in canonical and cell.cell_type == "code":
            suffix = seal_line(nonce, grade_id)
            if cell.source.endswith(suffix):
                cell.source = cell.source[: -len(suffix)]
            cell.outputs = strip_markers(cell.outputs, nonce)
    return nb
