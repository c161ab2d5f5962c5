"""One release, whichever command makes it: the cleaning step of `generate_assignment`.

The course's nbgrader configuration appends `CleanRelease` to nbgrader's own
`GenerateAssignment.preprocessors`, so stock ``nbgrader generate_assignment``, the
formgrader's Generate button and ``python -m autograder release`` (which runs the
stock command) all write the same bytes to ``course/``.

nbgrader clears outputs and execution counts but keeps the metadata that running
the solution notebook left behind: the saved state of every ipywidgets progress bar
(about a thousand lines per notebook, describing widgets whose outputs are gone) and
per-cell execution timestamps (which change each time the instructor re-runs the
solution). Neither belongs in what students get.
"""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

# Notebook metadata a release keeps; everything else (widgets, editor state) goes.
NOTEBOOK_KEEP = ("kernelspec", "language_info", "nbgrader", "title", "authors")
# Cell metadata written by running a notebook (nbclient, jupyterlab-execute-time).
CELL_DROP = ("execution", "ExecuteTime")


class CleanRelease(NbGraderPreprocessor):
    """Drop run-time metadata from the student version (last step of generate_assignment)."""

    def preprocess(self, nb, resources):
        for key in [k for k in nb.metadata if k not in NOTEBOOK_KEEP]:
            del nb.metadata[key]
        for cell in nb.cells:
            for key in CELL_DROP:
                cell.metadata.pop(key, None)
            if cell.cell_type == "code":
                cell.execution_count = None
        return nb, resources


def generate_assignment_preprocessors() -> list:
    """nbgrader's own GenerateAssignment preprocessors, in its order, then `CleanRelease`."""
    from nbgrader.converters import GenerateAssignment
    return list(GenerateAssignment.class_traits()["preprocessors"].default()) + [CleanRelease]
