"""Builds a tiny nbgrader course on disk (tests/ must not hold .ipynb files)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ASSIGNMENT = "00_fixture"
HIDDEN_MARKERS = ("HIDDEN-ADD-SECRET", "HIDDEN-SOFTMAX-SECRET")
SOLUTION_MARKERS = ("return a + b", "e / e.sum(dim=-1, keepdim=True)", "ANSWER-SECRET")
MAX_POINTS = {"test_add": 2.0, "test_softmax": 3.0, "explain": 1.0}


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=0):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


SETUP = """import os
import torch
from transformer_course import grading
torch.manual_seed(0)"""

ADD = """def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION"""

TEST_ADD = """assert add(1, 2) == 3, "add(1, 2) should be 3"
grading.assert_close(add(torch.ones(2), torch.ones(2)), torch.full((2,), 2.0), "add(ones, ones)")
### BEGIN HIDDEN TESTS
assert add(-5, 5) == 0, "add(-5, 5) should be 0"  # HIDDEN-ADD-SECRET
### END HIDDEN TESTS"""

SOFTMAX = """def softmax(x):
    ### BEGIN SOLUTION
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
    ### END SOLUTION"""

TEST_SOFTMAX = """reference = lambda x: torch.softmax(x, dim=-1)
grading.check_function(softmax, reference, lambda g: (torch.randn(3, 4, generator=g),), name="softmax",
                       forbid=[torch.softmax, torch.nn.functional.softmax, torch.Tensor.softmax])
### BEGIN HIDDEN TESTS
grading.check_function(softmax, reference, lambda g: (10 * torch.randn(2, 5, 7, generator=g),),
                       name="softmax", seed=42)  # HIDDEN-SOFTMAX-SECRET
### END HIDDEN TESTS"""

EXPLAIN = """### BEGIN SOLUTION
Subtracting the maximum keeps exp from overflowing. ANSWER-SECRET
### END SOLUTION"""


def source_notebook():
    nb = new_notebook(cells=[
        new_markdown_cell("# Fixture assignment\nWrite `add` and `softmax`."),
        new_code_cell(SETUP, metadata=_meta("setup", locked=True)),
        new_code_cell(ADD, metadata=_meta("add", solution=True)),
        new_code_cell(TEST_ADD, metadata=_meta("test_add", grade=True, locked=True, points=2)),
        new_code_cell(SOFTMAX, metadata=_meta("softmax", solution=True)),
        new_code_cell(TEST_SOFTMAX, metadata=_meta("test_softmax", grade=True, locked=True, points=3)),
        new_markdown_cell("Why subtract the maximum before `exp`?"),
        new_markdown_cell(EXPLAIN, metadata=_meta("explain", grade=True, solution=True, points=1)),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def make_course(root: Path) -> Path:
    """Write solutions/00_fixture/00_fixture.ipynb under `root`; returns root."""
    folder = root / "solutions" / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), str(folder / f"{ASSIGNMENT}.ipynb"))
    return root
