"""Alternative answers to the exercises, right and wrong, as students write them.

Each ``nbNN_*.py`` module in this folder names its notebook (``NOTEBOOK =
"01_rnn_recap"``) and holds, per exercise (the grade id of the solution cell):

- ``@correct(exercise)``: a correct implementation written differently from the
  solution (another formula, another API, another float32 order of
  operations). It must get full marks from the visible and the hidden tests.
- ``@mutant(exercise, bug=..., cause=..., names=...)``: a plausible wrong
  implementation, a student's bug rather than a random edit. It must lose the
  exercise's points under the full tests; across an exercise, at least three
  of every four mutants must already fail the visible tests. Its failure
  message may name a cause only if the cause is its own: every "Likely:" and
  "known mistake" line must contain one of the `cause` phrases (no such line
  at all when `cause` is None). With `names`, the first failure the student
  sees (the visible tests) must contain that phrase.

The decorated function or class is executed in the notebook's namespace right
where the solution cell stands, under the name the solution cell defines, so
it may use everything the notebook imported or defined before that cell.
"""
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from dataclasses import dataclass, field

REGISTRY: list[Variant] = []


@dataclass
class Variant:
    notebook: str
    exercise: str
    kind: str                       # "correct" or "mutant"
    name: str                       # the function's or class's name in the variants module
    source: str                     # its source, without decorators
    bug: str = ""                   # for a mutant: what is wrong, in a student's terms
    cause: tuple[str, ...] | None = None
    names: str | None = None
    target: str | None = None       # the notebook name to bind it to (default: what the solution defines)
    extra_names: dict = field(default_factory=dict)  # modules the variants module imported

    @property
    def id(self) -> str:
        return f"{self.notebook[:2]}-{self.exercise}-{self.name}"


def _source_without_decorators(obj) -> str:
    source = textwrap.dedent(inspect.getsource(obj))
    node = ast.parse(source).body[0]
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1:node.end_lineno]) + "\n"


def _register(obj, exercise, kind, **kw):
    module = sys.modules[obj.__module__]
    notebook = getattr(module, "NOTEBOOK", None)
    if not notebook:
        raise ValueError(f"{module.__name__}: set NOTEBOOK = 'NN_name' before defining variants")
    modules = {k: v for k, v in vars(module).items() if inspect.ismodule(v)}
    REGISTRY.append(Variant(notebook, exercise, kind, obj.__name__, _source_without_decorators(obj),
                            extra_names=modules, **kw))
    return obj


def correct(exercise: str, *, target: str | None = None):
    """Register a correct alternative answer to `exercise`."""
    return lambda obj: _register(obj, exercise, "correct", target=target)


def mutant(exercise: str, *, bug: str, cause: str | tuple[str, ...] | None = None, names: str | None = None,
           target: str | None = None):
    """Register a wrong answer to `exercise` (see the module docstring for `cause` and `names`)."""
    if not bug:
        raise ValueError("bug: describe the mistake this mutant makes")
    causes = (cause,) if isinstance(cause, str) else (tuple(cause) if cause else None)
    return lambda obj: _register(obj, exercise, "mutant", bug=bug, cause=causes, names=names, target=target)
