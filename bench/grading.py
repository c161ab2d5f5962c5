"""Grading: seconds per submission with ``python -m autograder grade``, against a plain nbconvert run.

K students each submit the solution notebook of 01_rnn_recap (nbgrader's
``submitted/STUDENT/ASSIGNMENT/`` layout). The reference is ``jupyter nbconvert
--to notebook --execute`` of the same notebook with the environment the
grader gives its kernels (``NBGRADER_EXECUTION`` set, so the notebook runs its
short experiments; 1 BLAS thread; no progress bars), so the difference is the
grading machinery: a bubblewrap sandbox and a worker process per submission,
nbgrader autograde, the seal after every test cell, scoring against the
gradebook. Plain runs are interleaved with the grade runs (plain, grade --jobs 1,
plain, grade --jobs 1 --no-sandbox, plain, grade --jobs 2, plain), so the
sandbox's own cost is a same-run ratio too. Without bubblewrap on the machine
every grade run uses --no-sandbox, and the section says so.

Two costs are separated: *per submission* (the ``seconds`` grade reports for
each submission, i.e. its sandboxed autograde) and *per grade run* (registering
the assignment in the gradebook, feedback HTML, exports: paid once per command,
whatever the class size), estimated as the --jobs 1 wall time minus the sum of
its per-submission seconds.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, Section, Target, log, median

ASSIGNMENT = "01_rnn_recap"


def kernel_like_env(home: Path) -> dict:
    env = dict(os.environ, NBGRADER_EXECUTION="autograde", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", TQDM_DISABLE="1", MPLBACKEND="Agg", TC_DEVICE="cpu",
               PYTHONPATH=str(REPO / "lib"))
    return env


def plain_execute(notebook: Path, scratch: Path) -> float:
    out = scratch / "plain"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
           "--ExecutePreprocessor.timeout=600", "--output-dir", str(out), str(notebook)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=notebook.parent, env=kernel_like_env(scratch), capture_output=True, text=True,
                          timeout=900)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"nbconvert --execute {notebook.name} failed:\n{proc.stderr[-3000:]}")
    return seconds


def grade(submissions: Path, out: Path, jobs: int, sandbox: bool = True) -> tuple[float, list[float], str]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
           "--db-url", f"sqlite:///{out / 'gradebook.db'}", "--jobs", str(jobs), "--no-progress",
           *([] if sandbox else ["--no-sandbox"])]
    env = dict(os.environ, TC_DEVICE="cpu")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"autograder grade --jobs {jobs} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    with open(out / "exports" / "grading_report.csv") as f:
        rows = list(csv.DictReader(f))
    expected = "bubblewrap" if sandbox else "none (--no-sandbox)"
    if {r["sandbox"] for r in rows} != {expected}:
        raise RuntimeError(f"grade ran with sandbox {sorted({r['sandbox'] for r in rows})}, expected {expected}")
    points = ", ".join(sorted({f"{r['points']}/{r['max']}" for r in rows}))
    return wall, [float(r["seconds"]) for r in rows], points


def run(quick: bool = False) -> Section:
    section = Section("grading", f"4. Grading: python -m autograder grade on {ASSIGNMENT} submissions")
    notebook = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if not notebook.exists():
        section.notes.append(f"{notebook.relative_to(REPO)} does not exist yet: nothing measured.")
        return section
    sys.path.insert(0, str(REPO))
    from autograder.sandbox import sandbox_problem

    problem = sandbox_problem()
    sandbox = problem is None
    k = 1 if quick else 4
    scratch = Path(tempfile.mkdtemp(prefix="tc-bench-grading-"))
    loads = []
    try:
        subs = scratch / "submitted"
        for i in range(k):
            folder = subs / f"student{i + 1:02d}" / ASSIGNMENT
            folder.mkdir(parents=True)
            shutil.copy(notebook, folder / notebook.name)
        plain = []

        def plain_round(n):
            log(f"  grading: plain nbconvert --execute ({n}/4)")
            plain.append(plain_execute(notebook, scratch))
            loads.append(os.getloadavg()[0])

        plain_round(1)
        log(f"  grading: grade --jobs 1, {k} submissions{'' if sandbox else ' (no sandbox available)'}")
        wall1, secs1, points = grade(subs, scratch / "out-j1", jobs=1, sandbox=sandbox)
        plain_round(2)
        log(f"  grading: grade --jobs 1 --no-sandbox, {k} submissions")
        wall_ns, secs_ns, _ = grade(subs, scratch / "out-j1-ns", jobs=1, sandbox=False)
        plain_round(3)
        log(f"  grading: grade --jobs 2, {k} submissions")
        wall2, secs2, _ = grade(subs, scratch / "out-j2", jobs=2, sandbox=sandbox)
        plain_round(4)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    t_plain = median(plain)
    per_sub, per_sub_ns = median(secs1), median(secs_ns)
    fixed = max(0.0, wall1 - sum(secs1))
    overhead = per_sub / t_plain
    amortised = wall1 / k / t_plain
    speedup_wall = wall1 / wall2
    speedup_phase = (wall1 - fixed) / max(1e-9, wall2 - fixed)
    how = "in the bubblewrap sandbox" if sandbox else "WITHOUT the sandbox (bubblewrap unavailable)"
    section.table(
        f"{k} submissions of the solution notebook (every one scored {points}), graded {how}; plain = nbconvert "
        "--execute with the grader's kernel environment, median of 4 runs interleaved with the grade runs. "
        "Seconds are absolute (orientation); the ratios are the result.",
        ["measure", "seconds", "ratio to plain nbconvert"],
        [["plain nbconvert --execute (median of 4)", f"{t_plain:.1f}", "1.00"],
         ["grade --jobs 1: per submission (median of the report's seconds)", f"{per_sub:.1f}", f"{overhead:.2f}"],
         ["grade --jobs 1 --no-sandbox: per submission (median)", f"{per_sub_ns:.1f}", f"{per_sub_ns / t_plain:.2f}"],
         [f"grade --jobs 1: whole command / {k} submissions", f"{wall1 / k:.1f}", f"{amortised:.2f}"],
         ["grade: fixed cost per command (register assignment, feedback, exports)", f"{fixed:.1f}",
          f"{fixed / t_plain:.2f}"],
         [f"grade --jobs 2: whole command / {k} submissions", f"{wall2 / k:.1f}", f"{wall2 / k / t_plain:.2f}"],
         ["grade --jobs 2: per submission (median, 2 side by side)", f"{median(secs2):.1f}",
          f"{median(secs2) / t_plain:.2f}"]])
    section.table("The sandbox's own cost and parallel grading on this machine", ["", "ratio"],
                  [["per submission, sandbox / --no-sandbox (--jobs 1, same run)", f"{per_sub / per_sub_ns:.2f}"],
                   ["speed-up --jobs 1 -> --jobs 2, whole command", f"{speedup_wall:.2f}"],
                   ["speed-up --jobs 1 -> --jobs 2, grading phase (fixed cost subtracted)", f"{speedup_phase:.2f}"]])
    section.targets.append(Target("grading: per-submission time / plain nbconvert --execute", overhead, 1.3, "<=",
                                  note=f"{'sandboxed' if sandbox else 'NOT sandboxed'}; whole command incl. fixed "
                                       f"cost: {amortised:.2f}x at {k} submissions"))
    section.notes.append(f"Load average (1 min) after each plain run: {', '.join(f'{x:.1f}' for x in loads)} on "
                         f"{os.cpu_count()} cores.")
    if not sandbox:
        section.notes.append(f"The sandbox could not run here ({problem}); all grade runs used --no-sandbox.")
    section.notes.append(
        f"--jobs beyond the core count was not measured: this machine has {os.cpu_count()} cores and each "
        "kernel is pinned to 1 thread, so more jobs than cores only queue on the CPU.")
    section.data.update({"plain_s": t_plain, "per_submission_s": per_sub, "per_submission_no_sandbox_s": per_sub_ns,
                         "sandbox_over_no_sandbox": per_sub / per_sub_ns, "fixed_s": fixed, "overhead": overhead,
                         "amortised_overhead": amortised, "speedup_wall": speedup_wall, "sandbox": sandbox,
                         "speedup_phase": speedup_phase, "k": k, "wall_j1": wall1, "wall_j2": wall2,
                         "wall_j1_no_sandbox": wall_ns, "secs_j1": secs1, "secs_j2": secs2,
                         "secs_j1_no_sandbox": secs_ns, "plain": plain, "loads": loads})
    return section
