"""What an experiment claims, checked on every run, and swept over seeds by the benchmarks.

A notebook's experiment ends with a check cell that states its effect as a
number and the margin the effect must clear::

    tc.claims.check("attention minus fixed vector, exact match on the longest inputs (points)",
                    100 * (with_attention - without), at_least=20)

The margin is not a guess: ``make bench`` (``bench/claims.py``) runs every
notebook over several seeds and two CPU configurations (other vectorised
kernels, other thread counts, so other rounding) and records, per claim, the
mean, min and max of the effect in ``bench/RESULTS.md``. A margin sits below
the smallest effect seen there with room to spare; a claim whose smallest
effect crosses its margin is redesigned, not loosened.

Experiments take their seeds from :func:`seed`, so the sweep can change them
without editing the notebook, and evaluate on data the model never saw,
which :func:`disjoint` asserts and prints.

Environment (set by the sweep, not by students):

- ``TC_SWEEP_RUN``: run number ``r``; :func:`seed` returns ``base + 1000 * r``.
- ``TC_CLAIMS_FILE``: every check appends one JSON line to this file.
- ``TC_CLAIMS_RECORD_ONLY``: record and print, but do not raise, so one weak
  run does not hide the other claims of the notebook from the sweep.
- ``NBGRADER_EXECUTION``: the autograder's shortened runs are not what the
  margins were chosen for: claims are printed there, not asserted.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable

__all__ = ["seed", "check", "disjoint", "ClaimNotSupported"]


class ClaimNotSupported(AssertionError):
    """An experiment's effect did not clear the margin the notebook claims."""


def _sweep_run() -> int:
    raw = os.environ.get("TC_SWEEP_RUN", "0").strip() or "0"
    try:
        run = int(raw)
    except ValueError:
        raise ValueError(f"TC_SWEEP_RUN: expected a non-negative integer, got {raw!r}") from None
    if run < 0:
        raise ValueError(f"TC_SWEEP_RUN: expected a non-negative integer, got {run}")
    return run


def seed(base: int = 0) -> int:
    """The seed an experiment uses: `base` in a normal run, ``base + 1000 * r`` in run r of the sweep."""
    if not isinstance(base, int) or isinstance(base, bool) or base < 0:
        raise ValueError(f"base: expected a non-negative int, got {base!r}")
    return base + 1000 * _sweep_run()


def _shortened() -> bool:
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def _record(entry: dict) -> None:
    path = os.environ.get("TC_CLAIMS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def check(claim: str, value: float, *, at_least: float | None = None, at_most: float | None = None) -> float:
    """Assert that an experiment's measured effect `value` clears its margin; print both.

    Exactly one of `at_least` / `at_most` is the margin. Returns `value`.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim: expected a non-empty description, got {claim!r}")
    if (at_least is None) == (at_most is None):
        raise ValueError(f"check({claim!r}): give exactly one of at_least / at_most, got "
                         f"at_least={at_least!r}, at_most={at_most!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"value: expected a number for {claim!r}, got {type(value).__name__} {value!r}") from None
    margin, sense = (at_least, ">=") if at_least is not None else (at_most, "<=")
    holds = (not math.isnan(value)) and (value >= margin if sense == ">=" else value <= margin)
    _record({"claim": claim, "value": value, "sense": sense, "margin": margin, "holds": holds,
             "run": _sweep_run(), "shortened": _shortened()})
    wanted = f"{'at least' if sense == '>=' else 'at most'} {_fmt(margin)}"
    if _shortened():
        print(f"[shortened run, not checked] {claim}: {_fmt(value)} (full runs claim {wanted})")
        return value
    print(f"[{'holds' if holds else 'FAILS'}] {claim}: {_fmt(value)} (claimed: {wanted})")
    if not holds and not os.environ.get("TC_CLAIMS_RECORD_ONLY"):
        raise ClaimNotSupported(
            f"{claim}: this run measured {_fmt(value)}, the notebook claims {wanted}. The margin was chosen "
            "from a sweep over seeds and CPU configurations (bench/RESULTS.md); if you changed the "
            "experiment, that is the likely reason; otherwise this run is an outlier worth reporting.")
    return value


def disjoint(train: Iterable, held_out: Iterable, what: str = "examples") -> int:
    """Assert that no item of `held_out` occurs in `train`; print the count. Returns the held-out size.

    Items are compared exactly (strings, tuples of token ids, ...): the check
    catches verbatim repeats, which is what "never seen in training" needs first.
    """
    seen = set(_hashable(x) for x in train)
    held = [_hashable(x) for x in held_out]
    if not held:
        raise ValueError(f"held_out: expected at least one {what[:-1] if what.endswith('s') else what}, got none")
    overlap = sum(1 for x in held if x in seen)
    print(f"held out: {overlap} of {len(held)} evaluation {what} occur in the training data "
          f"({len(seen)} distinct training {what})")
    if overlap:
        raise AssertionError(f"{overlap} of {len(held)} evaluation {what} also occur in the training data: "
                             "an evaluation on them would measure memory, not generalisation")
    return len(held)


def _hashable(x):
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, list):
        return tuple(_hashable(v) for v in x)
    return x
