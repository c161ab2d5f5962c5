"""The process that autogrades one submission: nbgrader autograde and its kernel.

Started by ``sandbox.py``, normally inside a bubblewrap sandbox whose only
writable places are this workspace and a private ``/tmp``. It reads its job
(the submitted notebook, the assignment's gradebook entries, the release's data
files) from stdin, builds the workspace, runs stock nbgrader autograde against a
gradebook held in this process's memory, and sends the executed notebook and the
seal verdicts back through a pipe the kernel does not inherit. This process
holds the seal key, so it makes itself non-dumpable first: the kernel (same uid,
same PID namespace) cannot read its memory, environment or file descriptors.
Nothing it reports is trusted for scores beyond the seal verdicts (see
``scoring.py``).
"""
from __future__ import annotations

import base64
import copy
import ctypes
import json
import os
import secrets
import sqlite3
import sys
from pathlib import Path

from autograder import protocol

PR_SET_DUMPABLE = 4
PREAMBLE_TIMEOUT = 300               # seconds for the worker's first cell (the notebook limit still applies)


def _not_dumpable() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def build_workspace(job: dict) -> Path:
    workspace = Path(job["workspace"])
    assignment, student = job["assignment"], job["student"]
    submitted = workspace / "submitted" / student / assignment
    submitted.mkdir(parents=True, exist_ok=True)
    (submitted / f"{job['notebook']}.ipynb").write_text(job["notebook_json"], encoding="utf-8")
    source = workspace / "source" / assignment
    source.mkdir(parents=True, exist_ok=True)
    for relative, data in job["data_files"].items():
        target = source / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
    for folder in ("home", "home/runtime", "home/.ipython", "home/mpl", "home/data"):
        (workspace / folder).mkdir(parents=True, exist_ok=True)
    return workspace


def _preprocessors(key: bytes, key_path: Path, processes: int | None, seals: dict, captured: list):
    from nbformat.v4 import new_code_cell, new_output
    from nbgrader.preprocessors import Execute, NbGraderPreprocessor

    class AddPreamble(NbGraderPreprocessor):
        """First cell: arm the seal before any student code runs."""

        def preprocess(self, nb, resources):
            nb.cells.insert(0, new_code_cell(protocol.preamble(str(key_path), processes),
                                             metadata={"autograder": protocol.PREAMBLE_TAG}))
            return nb, resources

    class SealedExecute(Execute):
        """nbgrader's Execute that asks for the seal after every test cell, out of band."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._cell, self._challenges = None, {}
            self.on_cell_execute = self._before_execute     # nbclient's hook, right before kc.execute
            self.timeout_func = self._timeout

        def _timeout(self, cell):
            """The preamble imports torch, slow on a busy machine: interrupting it mid-import would
            break every later import, so it gets the kernel's start-up time, not a cell's."""
            if cell.get("metadata", {}).get("autograder") == protocol.PREAMBLE_TAG:
                return max(self.timeout or 0, PREAMBLE_TIMEOUT)
            return self.timeout

        def _before_execute(self, cell, cell_index):
            if not getattr(self.kc, "_sealed", False):
                plain = self.kc.execute

                def execute(code, *args, **kwargs):
                    if self._cell is not None and protocol.is_test_cell(self._cell):
                        challenge = secrets.token_hex(16)
                        self._challenges[protocol.grade_id(self._cell)] = challenge
                        kwargs["user_expressions"] = {protocol.SEAL_EXPRESSION: protocol.seal_expression(challenge)}
                    return plain(code, *args, **kwargs)

                self.kc.execute, self.kc._sealed = execute, True
            self._cell = cell

        def on_cell_executed(self, **kwargs):
            super().on_cell_executed(**kwargs)
            self._cell = None
            cell, content = kwargs["cell"], kwargs["execute_reply"]["content"]
            gid = protocol.grade_id(cell)
            if not protocol.is_test_cell(cell) or gid not in self._challenges or gid in seals:
                return
            if content.get("status") != "ok":
                timed_out = content.get("ename") == "CellTimeoutError"
                seals[gid] = {"sealed": False, "why": "the test cell timed out" if timed_out else protocol.RAISED}
                return
            value = (content.get("user_expressions") or {}).get(protocol.SEAL_EXPRESSION)
            sealed, why = protocol.seal_verdict(value, key, self._challenges[gid])
            seals[gid] = {"sealed": sealed, "why": why}
            if not sealed:  # show the student and the instructor why the test earns nothing
                cell.outputs.append(new_output("error", ename="TamperingError", evalue=why,
                                               traceback=[f"TamperingError: {why}"]))

    class Capture(NbGraderPreprocessor):
        """Keep the executed notebook in memory: files in the workspace are the kernel's to change."""

        def preprocess(self, nb, resources):
            captured.append(copy.deepcopy(nb))
            return nb, resources

    return AddPreamble, SealedExecute, Capture


def main() -> int:
    _not_dumpable()
    result_fd = int(sys.argv[1])
    os.set_inheritable(result_fd, False)
    job = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)

    workspace = build_workspace(job)
    os.chdir(workspace)
    os.environ.clear()
    os.environ.update(job["kernel_env"])

    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.apps import NbGraderAPI
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                        SaveAutoGrades)

    # The gradebook lives in memory shared only inside this process: no file for the kernel.
    memory_uri = f"file:gradebook-{secrets.token_hex(8)}?mode=memory&cache=shared"
    keeper = sqlite3.connect(memory_uri, uri=True)
    staged = workspace / "gradebook.db"
    staged.write_bytes(base64.b64decode(job["gradebook"]))
    disk = sqlite3.connect(staged)
    disk.backup(keeper)
    disk.close()
    staged.unlink()

    key, key_path = secrets.token_bytes(32), workspace / protocol.SEAL_KEY_FILE
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    seals: dict = {}
    captured: list = []
    add_preamble, sealed_execute, capture = _preprocessors(key, key_path, job.get("processes"), seals, captured)

    config = PyFileConfigLoader(job["config_file"]).load_config()
    overrides = Config()
    overrides.CourseDirectory.root = str(workspace)
    overrides.CourseDirectory.source_directory = "source"
    overrides.CourseDirectory.db_url = f"sqlite:///{memory_uri}&uri=true"
    overrides.CourseDirectory.course_id = job["course_id"]
    overrides.Execute.timeout = job["cell_timeout"]
    overrides.Execute.startup_timeout = max(60, job["cell_timeout"])
    # nbclient waits 4 s for a cell's last output after its reply, then fails the whole notebook;
    # a busy grading machine (jobs side by side) can take longer than that.
    overrides.Execute.iopub_timeout = 30
    overrides.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, add_preamble, CheckCellMetadata]
    overrides.Autograde.autograde_preprocessors = [
        sealed_execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata, capture]
    config.merge(overrides)

    api = NbGraderAPI(config=config)
    outcome = api.autograde(job["assignment"], job["student"], force=True, create=True)
    if key_path.exists():
        key_path.unlink()
    import nbformat
    report = {"success": bool(outcome.get("success")), "log": outcome.get("log", "")[-20000:],
              "error": outcome.get("error") or "", "seals": seals,
              "notebook": nbformat.writes(captured[-1]) if captured else None}
    with os.fdopen(result_fd, "w", encoding="utf-8") as pipe:
        json.dump(report, pipe)
    keeper.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
