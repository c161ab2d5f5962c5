"""Every exercise's tests: fair to correct answers, fatal to the bugs students make, honest in their messages.

For each notebook with a variants module (``nbNN_*.py`` here), the solution
notebook runs once under the autograder's settings and every variant is tried
at its exercise (see ``runner.py``). The assertions:

- the solution and every correct alternative get full marks, visible and hidden;
- every mutant loses the exercise's points under the full tests;
- at least three of every four mutants of an exercise fail the visible tests;
- a failure message names the mutant's own cause or none, never another; a
  mutant registered as a known mistake is named by the first failure the
  student sees;
- every graded exercise has at least two correct alternatives and four mutants.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest

from .runner import REPO, run_notebook
from .variants import REGISTRY

HERE = Path(__file__).resolve().parent
for module_path in sorted(HERE.glob("nb[0-9][0-9]_*.py")):
    importlib.import_module(f"{__package__}.{module_path.stem}")

NOTEBOOKS = sorted({v.notebook for v in REGISTRY})
MUTANTS = [v for v in REGISTRY if v.kind == "mutant"]
CORRECT = [v for v in REGISTRY if v.kind == "correct"]
_RESULTS: dict = {}


def results(notebook):
    if notebook not in _RESULTS:
        _RESULTS[notebook] = run_notebook(notebook, [v for v in REGISTRY if v.notebook == notebook])
    return _RESULTS[notebook]


def outcome(variant):
    exercises = results(variant.notebook)
    assert variant.exercise in exercises, (
        f"{variant.id}: {variant.notebook} has no exercise {variant.exercise!r} (a solution cell with a "
        f"test cell test_{variant.exercise}); it has {sorted(exercises)}")
    return exercises[variant.exercise].variants[variant.name]


def graded_exercises(notebook):
    import nbformat
    nb = nbformat.read(str(REPO / "solutions" / notebook / f"{notebook}.ipynb"), as_version=4)
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    return sorted(i for i in ids if i and f"test_{i}" in ids)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_exercise_has_two_alternatives_and_four_mutants(notebook):
    missing = []
    for exercise in graded_exercises(notebook):
        n_correct = sum(1 for v in CORRECT if v.notebook == notebook and v.exercise == exercise)
        n_mutant = sum(1 for v in MUTANTS if v.notebook == notebook and v.exercise == exercise)
        if n_correct < 2 or n_mutant < 4:
            missing.append(f"{exercise}: {n_correct} correct alternatives, {n_mutant} mutants")
    assert not missing, f"{notebook}: " + "; ".join(missing)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_solution_gets_full_marks(notebook):
    failing = {ex.grade_id: ex.solution.full for ex in results(notebook).values() if ex.solution.full}
    assert not failing, failing


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: v.id)
def test_correct_alternative_gets_full_marks(variant):
    result = outcome(variant)
    assert result.visible is None, f"the visible tests reject a correct answer:\n{result.visible}"
    assert result.full is None, f"the hidden tests reject a correct answer:\n{result.full}"


@pytest.mark.parametrize("variant", MUTANTS, ids=lambda v: v.id)
def test_mutant_loses_the_points(variant):
    assert outcome(variant).full is not None, f"full marks for a bug: {variant.bug}"


@pytest.mark.parametrize("variant", MUTANTS, ids=lambda v: v.id)
def test_message_names_its_own_cause_or_none(variant):
    result = outcome(variant)
    if result.full is None:
        pytest.skip("the mutant was not caught (test_mutant_loses_the_points fails)")
    wrong = [d for d in result.diagnoses
             if variant.cause is None or not any(c.lower() in d.lower() for c in variant.cause)]
    assert not wrong, (f"the message for '{variant.bug}' points elsewhere: {wrong}\n"
                       f"full message:\n{result.first_message}")
    if variant.names:
        assert result.visible and variant.names.lower() in result.visible.lower(), (
            f"the visible tests should name '{variant.names}' for '{variant.bug}'; they said:\n{result.visible}")


EXERCISES = sorted({(v.notebook, v.exercise) for v in MUTANTS})


@pytest.mark.parametrize("notebook, exercise", EXERCISES, ids=lambda x: x)
def test_visible_tests_catch_three_of_every_four_mutants(notebook, exercise):
    mutants = [v for v in MUTANTS if v.notebook == notebook and v.exercise == exercise]
    missed = [v.bug for v in mutants if outcome(v).visible is None]
    caught = len(mutants) - len(missed)
    assert caught >= math.ceil(0.75 * len(mutants)), (
        f"the visible tests catch {caught} of {len(mutants)} mutants; they pass: {missed}")


def summary_rows():
    """One row per notebook that ran: the counts the closing report quotes."""
    rows = []
    for notebook in sorted(_RESULTS):
        exercises = _RESULTS[notebook]
        mutants = [o for ex in exercises.values() for name, o in ex.variants.items()
                   if any(v.name == name and v.kind == "mutant" and v.notebook == notebook for v in MUTANTS)]
        correct = [o for ex in exercises.values() for name, o in ex.variants.items()
                   if any(v.name == name and v.kind == "correct" and v.notebook == notebook for v in CORRECT)]
        rows.append((notebook, len(exercises), len(mutants), sum(o.full is not None for o in mutants),
                     sum(o.visible is not None for o in mutants), len(correct),
                     sum(o.full is None for o in correct)))
    return rows
