"""Scores from trusted data only.

The executed notebook came out of a process that ran student code, so it is
evidence, not truth. For every grade cell in the *course* gradebook we find the
executed cell with that grade_id, require its source to be exactly the
canonical source, require the worker's seal verdict for it (the kernel proved
with the one-time key that the test ran to its end untampered, see
``protocol.py``), and then let nbgrader's own ``determine_grade`` decide from
canonical metadata and the outputs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade

from autograder.protocol import PREAMBLE_TAG, RAISED, grade_id


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


def score_notebook(canonical: dict[str, CanonicalCell], executed_json: str | None,
                   seals: dict | None = None) -> NotebookScore:
    """Points per grade cell. `seals` maps grade_id -> {"sealed": bool, "why": str} (from the worker)."""
    seals = seals or {}
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
        gid = grade_id(cell)
        if gid:
            by_id.setdefault(gid, []).append(cell)

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
            result.scores[name] = _score_test(canon, cell, seals.get(name), result.notes)
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


def _score_test(canon: CanonicalCell, cell, seal: dict | None, notes: list[str]) -> float:
    if cell.cell_type != "code" or cell.source != canon.source:
        notes.append(f"test cell '{canon.name}' was not the original test: 0 points")
        return 0.0
    judged = nbformat.v4.new_code_cell(canon.source)
    judged.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": canon.name,
                                   "points": canon.max_score, "locked": True, "schema_version": 3}
    judged.outputs = cell.get("outputs", [])
    score, _ = determine_grade(judged, None)
    if seal and seal.get("sealed"):
        return float(score or 0.0)
    why = (seal or {}).get("why") or "the test cell did not run to its end"
    if score or (seal and why != RAISED):   # a test that simply failed needs no note
        notes.append(f"test cell '{canon.name}' did not run to its end untampered ({why}): 0 points")
    return 0.0


def clean_for_instructor(executed_json: str):
    """The executed notebook minus the autograder's preamble cell."""
    nb = nbformat.reads(executed_json, as_version=4)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("autograder") != PREAMBLE_TAG]
    return nb
