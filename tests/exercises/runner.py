"""Runs a solution notebook in this process and tries every variant of each exercise in place.

The notebook runs top to bottom as the autograder runs it (``NBGRADER_EXECUTION``
set, so experiments are shortened; tests never are). At each exercise's
solution cell the namespace is snapshotted, and every variant is executed in
its place, followed by the exercise's test cell: first the part students see,
then the hidden tests, exactly as the autograder would run the whole cell. The
namespace and the random generators are restored after each variant, and the
real solution then runs with its test, so the notebook goes on unchanged.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import torch

from .variants import Variant

REPO = Path(__file__).resolve().parents[2]
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)
DIAGNOSIS = re.compile(r"(Likely: .*|Your output matches a known mistake: .*)")


@dataclass
class Outcome:
    """What happened to one answer (a variant, or the solution itself)."""
    visible: str | None       # the visible tests' failure message, None if they passed
    full: str | None          # the failure message under visible + hidden tests, None if full marks

    @property
    def first_message(self) -> str | None:
        return self.visible or self.full

    @property
    def diagnoses(self) -> list[str]:
        return DIAGNOSIS.findall(self.first_message or "")


@dataclass
class Exercise:
    grade_id: str
    targets: list[str]        # names the solution cell defines
    solution: Outcome
    variants: dict[str, Outcome]


def split_test(source: str) -> tuple[str, str]:
    """(what students see, the hidden tests that follow it); hidden tests must end the cell."""
    match = HIDDEN.search(source)
    if not match:
        return source, ""
    if source[match.end():].strip():
        raise ValueError("hidden tests must come last in a test cell")
    return source[:match.start()], match.group(1)


def defined_names(source: str) -> list[str]:
    return [node.name for node in ast.parse(source).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


@contextlib.contextmanager
def _autograder_environment(folder: Path):
    saved_env = {k: os.environ.get(k) for k in ("NBGRADER_EXECUTION", "TQDM_DISABLE", "MPLBACKEND", "TC_DEVICE")}
    cwd = Path.cwd()
    os.environ.update(NBGRADER_EXECUTION="autograde", TQDM_DISABLE="1", MPLBACKEND="Agg", TC_DEVICE="cpu")
    import matplotlib
    matplotlib.use("Agg")
    os.chdir(folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.chdir(cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _rng_state():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state):
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])


def _run(source: str, ns: dict, label: str) -> str | None:
    """Execute `source` in `ns`; the exception's message if it raised, else None."""
    if not source.strip():
        return None
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(source, label, "exec"), ns)
    except Exception as error:  # a failing test is data here, not an error of the harness
        return f"{type(error).__name__}: {error}"
    finally:
        import matplotlib.pyplot as plt
        plt.close("all")
    return None


def _try(answer_source: str, bind: dict[str, str], extra: dict, test: tuple[str, str], ns: dict,
         label: str) -> Outcome:
    snapshot, rng = dict(ns), _rng_state()
    try:
        for name, module in extra.items():
            ns.setdefault(name, module)
        error = _run(answer_source, ns, f"<{label}>")
        if error:
            return Outcome(visible=f"the answer itself failed to run: {error}", full=error)
        for target, defined in bind.items():
            ns[target] = ns[defined]
        visible = _run(test[0], ns, f"<{label}: visible tests>")
        if visible:
            return Outcome(visible=visible, full=visible)
        return Outcome(visible=None, full=_run(test[1], ns, f"<{label}: hidden tests>"))
    finally:
        ns.clear()
        ns.update(snapshot)
        _set_rng_state(rng)


def run_notebook(notebook: str, variants: list[Variant]) -> dict[str, Exercise]:
    """Execute solutions/`notebook`, trying `variants` at their exercises; results by grade id."""
    path = REPO / "solutions" / notebook / f"{notebook}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in cells}
    ns: dict = {"__name__": "__main__"}
    exercises: dict[str, Exercise] = {}
    with _autograder_environment(path.parent):
        for index, cell in enumerate(cells):
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if meta.get("solution") and not meta.get("grade") and f"test_{grade_id}" in by_id:
                test = split_test(by_id[f"test_{grade_id}"].source)
                targets = defined_names(cell.source)
                outcomes = {}
                for v in (v for v in variants if v.exercise == grade_id):
                    wanted = [v.target] if v.target else targets
                    if len(wanted) != 1:
                        raise ValueError(f"{v.id}: the solution cell defines {targets}; say which one with target=")
                    outcomes[v.name] = _try(v.source, {wanted[0]: v.name}, v.extra_names, test, ns,
                                            f"{notebook} {grade_id} {v.kind} {v.name}")
                solution = _try(cell.source, {}, {}, test, ns, f"{notebook} {grade_id} solution")
                exercises[grade_id] = Exercise(grade_id, targets, solution, outcomes)
            error = _run(cell.source, ns, f"<{notebook} code cell {index}>")
            if error and not meta.get("grade"):
                raise RuntimeError(f"{notebook}: code cell {index} failed under the autograder's settings: {error}")
    return exercises
