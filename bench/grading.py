"""Grading: seconds per submission with ``python -m autograder grade``, against a plain nbconvert run.

Students each submit the solution notebook of 01_rnn_recap (nbgrader's
``submitted/STUDENT/ASSIGNMENT/`` layout). The reference is ``jupyter nbconvert
--to notebook --execute`` of the same notebook with the environment the
grader gives its kernels (``NBGRADER_EXECUTION`` set, so the notebook runs its
short experiments; 1 BLAS thread; no progress bars), so the difference is the
grading machinery: a bubblewrap sandbox and a worker process per submission,
nbgrader autograde, the seal after every test cell, scoring against the
gradebook.

A shared machine's load changes within minutes, so every grade run is judged
against the plain runs right before and after it: a round is plain, grade
--jobs 1 (sandboxed), plain, grade --jobs 1 --no-sandbox, plain, and each grade
run gives one ratio, its median per-submission seconds over the mean of the two
plain runs around it. The section quotes the median of the rounds' ratios and
their min-max. A last grade --jobs 2 run, between two plain runs, gives the
parallel scaling. Without bubblewrap on the machine every grade run uses
--no-sandbox, and the section says so.

Two costs are separated: *per submission* (the ``seconds`` grade reports for
each submission, i.e. its sandboxed autograde) and *per grade run* (registering
the assignment in the gradebook, feedback HTML, exports: paid once per command,
whatever the class size), estimated as the --jobs 1 wall time minus the sum of
its per-submission seconds. Parallel scaling is given twice: for the whole
command, and for the grading phase as throughput, jobs x (per-submission
seconds at --jobs 1) / (per-submission seconds at --jobs 2), which needs no
estimate of the fixed cost.
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

from .common import REPO, Section, Target, log, median, spread

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
    rounds, k = (1, 1) if quick else (3, 2)
    scratch = Path(tempfile.mkdtemp(prefix="tc-bench-grading-"))
    loads, plain = [], []
    runs: dict[str, list] = {"sandbox": [], "no-sandbox": []}   # (wall, per-submission secs, plain around)

    def plain_run():
        plain.append(plain_execute(notebook, scratch))
        loads.append(os.getloadavg()[0])
        return plain[-1]

    def submissions(n: int) -> Path:
        subs = scratch / f"submitted-{n}"
        for i in range(n):
            folder = subs / f"student{i + 1:02d}" / ASSIGNMENT
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(notebook, folder / notebook.name)
        return subs

    try:
        subs = submissions(k)
        before = plain_run()
        for r in range(rounds):
            for kind in ("sandbox", "no-sandbox"):
                log(f"  grading: round {r + 1}/{rounds}: grade --jobs 1 {kind}, {k} submissions")
                wall, secs, points = grade(subs, scratch / f"out-{kind}-{r}", jobs=1,
                                           sandbox=sandbox and kind == "sandbox")
                after = plain_run()
                runs[kind].append((wall, secs, (before + after) / 2))
                before = after
        subs2 = submissions(2 * k)
        log(f"  grading: grade --jobs 2, {2 * k} submissions")
        wall2, secs2, _ = grade(subs2, scratch / "out-j2", jobs=2, sandbox=sandbox)
        around2 = (before + plain_run()) / 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    ratio = {kind: [median(secs) / around for _, secs, around in runs[kind]] for kind in runs}
    own = [a / b for a, b in zip(ratio["sandbox"], ratio["no-sandbox"])]
    per_sub = median([median(secs) for _, secs, _ in runs["sandbox"]])
    fixed = median([wall - sum(secs) for wall, secs, _ in runs["sandbox"]])
    t_plain = median(plain)
    wall1, secs1, around1 = runs["sandbox"][-1]
    speedup_wall = (wall1 / k) / (wall2 / (2 * k))
    throughput = [2 * median(secs) / median(secs2) for _, secs, _ in runs["sandbox"]]
    how = "in the bubblewrap sandbox" if sandbox else "WITHOUT the sandbox (bubblewrap unavailable)"
    section.table(
        f"{k} submissions of the solution notebook per grade run (every one scored {points}), graded {how}; "
        f"{rounds} rounds, each grade run judged against the plain nbconvert --execute runs just before and after "
        "it (the grader's kernel environment). Ratios: median of the rounds (min-max); seconds are absolute "
        "medians, for orientation only.",
        ["measure", "seconds", "ratio to plain nbconvert"],
        [["plain nbconvert --execute", f"{t_plain:.1f}", "1.00"],
         ["grade --jobs 1: per submission (the report's seconds)", f"{per_sub:.1f}",
          f"{median(ratio['sandbox']):.2f} ({spread(ratio['sandbox'])})"],
         ["grade --jobs 1 --no-sandbox: per submission",
          f"{median([median(secs) for _, secs, _ in runs['no-sandbox']]):.1f}",
          f"{median(ratio['no-sandbox']):.2f} ({spread(ratio['no-sandbox'])})"],
         ["grade: fixed cost per command (register assignment, feedback, exports)", f"{fixed:.1f}",
          f"{fixed / t_plain:.2f}"],
         [f"grade --jobs 1: whole command / {k} submissions (last round)", f"{wall1 / k:.1f}",
          f"{wall1 / k / around1:.2f}"],
         [f"grade --jobs 2: whole command / {2 * k} submissions", f"{wall2 / (2 * k):.1f}",
          f"{wall2 / (2 * k) / around2:.2f}"],
         ["grade --jobs 2: per submission (2 side by side)", f"{median(secs2):.1f}",
          f"{median(secs2) / around2:.2f}"]])
    section.table("The sandbox's own cost and parallel grading on this machine", ["", "ratio"],
                  [["per submission, sandbox / --no-sandbox (same round)", f"{median(own):.2f} ({spread(own)})"],
                   ["speed-up --jobs 1 -> --jobs 2, whole command (per submission, fixed cost included)",
                    f"{speedup_wall:.2f}"],
                   ["speed-up --jobs 1 -> --jobs 2, grading throughput (2 x per-submission j1 / j2)",
                    f"{median(throughput):.2f} ({spread(throughput)})"]])
    section.targets.append(Target("grading: per-submission time / plain nbconvert --execute", median(ratio["sandbox"]),
                                  1.3, "<=", note=f"{'sandboxed' if sandbox else 'NOT sandboxed'}; rounds "
                                                  f"{spread(ratio['sandbox'])}"))
    section.notes.append(f"Load average (1 min) after each plain run: {', '.join(f'{x:.1f}' for x in loads)} on "
                         f"{os.cpu_count()} cores.")
    if not sandbox:
        section.notes.append(f"The sandbox could not run here ({problem}); all grade runs used --no-sandbox.")
    section.notes.append(
        f"--jobs beyond the core count was not measured: this machine has {os.cpu_count()} cores and each "
        "kernel is pinned to 1 thread, so more jobs than cores only queue on the CPU.")
    section.data.update({"plain": plain, "loads": loads, "sandbox": sandbox, "k": k, "rounds": rounds,
                         "ratio_sandbox": ratio["sandbox"], "ratio_no_sandbox": ratio["no-sandbox"],
                         "sandbox_over_no_sandbox": own, "per_submission_s": per_sub, "fixed_s": fixed,
                         "runs": {kind: [[w, s_, a] for w, s_, a in v] for kind, v in runs.items()},
                         "wall_j2": wall2, "secs_j2": secs2, "speedup_wall": speedup_wall,
                         "throughput": throughput})
    return section
