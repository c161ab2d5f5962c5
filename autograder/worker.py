"""The child process that autogrades one submission inside a throw-away workspace.

Started by `sandbox.py` with resource limits already applied. It reads its job
from stdin, runs stock nbgrader autograde against the workspace's own copy of
the assignment's gradebook (never the course gradebook), and sends the executed
notebook back through a pipe that the kernel does not inherit. Nothing it
reports is trusted for scores: the parent re-derives them (see scoring.py).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _marker_preprocessor(nonce: str):
    from nbgrader import utils
    from nbgrader.preprocessors import NbGraderPreprocessor
    from nbformat.v4 import new_code_cell

    class AddSealAndPreamble(NbGraderPreprocessor):
        """End every test cell with the grading seal; import grading before student code."""

        def preprocess(self, nb, resources):
            for cell in nb.cells:
                if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
                    grade_id = cell.metadata.nbgrader["grade_id"]
                    cell.source = cell.source + seal_line(nonce, grade_id)
            # Snapshot the comparisons before any cell the student could have
            # unlocked runs (scoring.py removes this cell again).
            preamble = new_code_cell(PREAMBLE, metadata={"autograder": "preamble"})
            nb.cells.insert(0, preamble)
            return nb, resources

    return AddSealAndPreamble


PREAMBLE = "import transformer_course.grading"


def seal_line(nonce: str, grade_id: str) -> str:
    return f"\n__import__('transformer_course.grading').grading._seal({nonce + ':' + grade_id!r})"


def main() -> int:
    result_fd = int(sys.argv[1])
    os.set_inheritable(result_fd, False)
    job = json.loads(sys.stdin.read())
    # The job (with the nonce) must not be left anywhere the kernel can read it.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)

    workspace = Path(job["workspace"])
    os.environ.clear()
    os.environ.update(job["kernel_env"])

    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    from nbgrader.apps import NbGraderAPI
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        OverwriteCells, OverwriteKernelspec)

    # The gradebook copy moves into memory shared only inside this process, so
    # the kernel finds no gradebook file to read or tamper with.
    import sqlite3
    memory_uri = f"file:gradebook-{job['nonce']}?mode=memory&cache=shared"
    keeper = sqlite3.connect(memory_uri, uri=True)
    disk_path = workspace / "gradebook.db"
    disk = sqlite3.connect(disk_path)
    disk.backup(keeper)
    disk.close()
    disk_path.unlink()

    config = PyFileConfigLoader(job["config_file"]).load_config()
    overrides = Config()
    overrides.CourseDirectory.root = str(workspace)
    overrides.CourseDirectory.source_directory = "source"
    overrides.CourseDirectory.db_url = f"sqlite:///{memory_uri}&uri=true"
    overrides.CourseDirectory.course_id = job["course_id"]
    overrides.Execute.timeout = job["cell_timeout"]
    overrides.Execute.startup_timeout = max(60, job["cell_timeout"])
    overrides.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
        _marker_preprocessor(job["nonce"]), CheckCellMetadata]
    config.merge(overrides)

    api = NbGraderAPI(config=config)
    outcome = api.autograde(job["assignment"], job["student"], force=True, create=True)
    executed = workspace / "autograded" / job["student"] / job["assignment"] / f"{job['notebook']}.ipynb"
    report = {"success": bool(outcome.get("success")), "log": outcome.get("log", "")[-20000:],
              "error": outcome.get("error") or "",
              "notebook": executed.read_text(encoding="utf-8") if executed.exists() else None}
    with os.fdopen(result_fd, "w", encoding="utf-8") as pipe:
        json.dump(report, pipe)
    keeper.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
