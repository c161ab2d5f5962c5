"""Course execution: wall time of every solution notebook run top to bottom, and the total.

Each ``solutions/NN_name/NN_name.ipynb`` that exists is executed with
``jupyter nbconvert --to notebook --execute`` in its own folder, one after the
other, as a student's Restart-and-Run-All or CI's nbval run would (full
experiments: ``NBGRADER_EXECUTION`` unset; torch's default threads).
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, Section, Target, log

COURSE_NOTEBOOKS = 10
TARGET_SECONDS = 600


def solution_notebooks() -> list[Path]:
    folder = REPO / "solutions"
    return sorted(p for p in folder.glob("*/*.ipynb") if p.stem == p.parent.name) if folder.is_dir() else []


def execute(notebook: Path, out_dir: Path, timeout: int = 900) -> tuple[float, str]:
    env = dict(os.environ, TC_DEVICE=os.environ.get("TC_DEVICE", "cpu"), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(REPO / "lib"), os.environ.get("PYTHONPATH", "")]))
    env.pop("NBGRADER_EXECUTION", None)
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
           f"--ExecutePreprocessor.timeout={timeout}", "--output-dir", str(out_dir), str(notebook)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=notebook.parent, env=env, capture_output=True, text=True,
                              timeout=timeout + 120)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, f"killed after {timeout + 120} s"
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or ["?"]
        return seconds, f"failed: {last[0][:160]}"
    return seconds, "ok"


def run(quick: bool = False, context: dict | None = None) -> Section:
    section = Section("course", "3. Course execution: every solution notebook, top to bottom")
    existing = solution_notebooks()
    notebooks = existing[:1] if quick else existing
    out_dir = Path(tempfile.mkdtemp(prefix="tc-bench-course-"))
    atexit.register(shutil.rmtree, out_dir, True)
    rows, total, executed = [], 0.0, {}
    for nb in notebooks:
        log(f"  course: {nb.relative_to(REPO)}")
        seconds, status = execute(nb, out_dir)
        total += seconds
        rows.append([nb.parent.name, f"{seconds:.1f}", status])
        if status == "ok":
            executed[nb.parent.name] = out_dir / nb.name
        section.data[nb.parent.name] = {"seconds": seconds, "status": status}
    rows.append(["total", f"{total:.1f}", f"{len(existing)} of {COURSE_NOTEBOOKS} notebooks exist"
                 + (f"; --quick ran {len(notebooks)}" if quick else "")])
    section.table(f"jupyter nbconvert --execute, one notebook at a time, {os.cpu_count()} cores, torch default "
                  "threads. Seconds are wall time including kernel start-up.",
                  ["notebook", "seconds", "status"], rows)
    missing = COURSE_NOTEBOOKS - len(existing)
    note = f"{len(notebooks)} notebooks" + (f"; {missing} not written yet" if missing else "")
    section.targets.append(Target("course: all notebooks executed, total seconds", total, TARGET_SECONDS, "<=",
                                  unit=" s", note=note))
    if missing and notebooks and not quick:
        estimate = total / len(notebooks) * COURSE_NOTEBOOKS
        section.notes.append(f"Only {len(notebooks)} of {COURSE_NOTEBOOKS} notebooks exist; at their mean time "
                             f"all ten would take about {estimate:.0f} s.")
    section.data["total_seconds"] = total
    if context is not None:
        context["executed"] = executed
    return section
