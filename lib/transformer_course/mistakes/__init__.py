"""The wrong answers students most often write, so that a failing test can name the mistake.

One module per notebook (``tc.mistakes.rnn_recap``, ``tc.mistakes.gpt``, ...);
in each, one dict per exercise, named after the exercise, mapping an
explanation (what is wrong and what to do instead, in a student's terms) to a
function with the exercise's signature that makes exactly that mistake. Test
cells pass them to ``grading.check_function(..., mistakes=...)`` or
``grading.assert_close(..., mistakes=...)``: when a student's output matches
one of them, the message names it instead of guessing.

These are teaching material, not references: never import them outside tests.
"""
import importlib


def __getattr__(name):
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name == f"{__name__}.{name}":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        raise
