"""Claims: every notebook's experiment re-run over seeds and CPU configurations.

Each solution notebook ends its experiments with ``tc.claims.check(...)``
cells. This benchmark executes every notebook (or those named with
``--notebooks``) once per seed run and CPU configuration, with
``TC_SWEEP_RUN`` changing the experiments' seeds (``tc.claims.seed``) and
``TC_CLAIMS_FILE`` collecting what each check measured. A configuration sets
the vectorised kernels torch may use (``ATEN_CPU_CAPABILITY``) and the thread
count, so rounding differs between them as it does between students' machines.

Per notebook, the raw values go to ``bench/claims/NN_name.json`` (committed, so
a margin can always be traced to the sweep it came from); the section printed
and written to RESULTS.md gathers every notebook's file: per claim, the margin
the notebook asserts and the mean, min and max of the effect. A claim whose
min crosses its margin is flagged: redesign the experiment, do not loosen it.

Runs use the full experiments (``NBGRADER_EXECUTION`` unset) and the CPU.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import BENCH, REPO, Section, cpu_model, log
from .course import solution_notebooks

CLAIMS_DIR = BENCH / "claims"
SEEDS = 5
# (name, environment): other kernels and another thread count, so other rounding.
CONFIGS = {
    "default kernels, 1 thread": {"OMP_NUM_THREADS": "1"},
    "AVX2 kernels, 2 threads": {"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "2"},
}


def execute(notebook: Path, config: dict, run: int, timeout: int = 1200) -> dict:
    """Run `notebook` once; what its claims measured, its wall time and status."""
    with tempfile.TemporaryDirectory(prefix="tc-claims-") as tmp:
        log_file = Path(tmp) / "claims.jsonl"
        env = dict(os.environ, TC_DEVICE="cpu", MPLBACKEND="Agg", TQDM_DISABLE="1",
                   TC_SWEEP_RUN=str(run), TC_CLAIMS_FILE=str(log_file), TC_CLAIMS_RECORD_ONLY="1",
                   PYTHONPATH=os.pathsep.join([str(REPO / "lib"), os.environ.get("PYTHONPATH", "")]), **config)
        env.pop("NBGRADER_EXECUTION", None)
        if "ATEN_CPU_CAPABILITY" not in config:
            env.pop("ATEN_CPU_CAPABILITY", None)
        cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
               f"--ExecutePreprocessor.timeout={timeout}", "--output-dir", tmp, str(notebook)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=notebook.parent, env=env, capture_output=True, text=True,
                                  timeout=timeout + 120)
            status = "ok" if proc.returncode == 0 else "failed: " + (
                [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or ["?"])[0][:200]
        except subprocess.TimeoutExpired:
            status = f"killed after {timeout + 120} s"
        seconds = time.perf_counter() - start
        claims = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.exists() else []
    return {"run": run, "seconds": round(seconds, 1), "status": status,
            "claims": [{k: c[k] for k in ("claim", "value", "sense", "margin", "holds")} for c in claims]}


def sweep(notebook: Path, seeds: int, jobs: int) -> dict:
    jobs_list = [(name, env, run) for name, env in CONFIGS.items() for run in range(seeds)]
    log(f"  claims: {notebook.parent.name}: {len(jobs_list)} runs, {jobs} at a time")

    def one(job):
        name, env, run = job
        result = execute(notebook, env, run)
        log(f"    {notebook.parent.name} [{name}, run {run}] {result['status']} in {result['seconds']:.0f} s")
        return {"config": name, **result}

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(one, jobs_list))
    return {"notebook": notebook.parent.name, "measured": time.strftime("%Y-%m-%d %H:%M %Z"),
            "cpu": cpu_model(), "cores": os.cpu_count(), "seeds": seeds,
            "configs": {name: env for name, env in CONFIGS.items()}, "runs": runs}


def summarise(record: dict) -> list[dict]:
    """Per claim (in the notebook's order): margin, mean, min, max, number of runs, verdict."""
    order, values, margins = [], {}, {}
    for run in record["runs"]:
        for c in run["claims"]:
            if c["claim"] not in values:
                order.append(c["claim"])
                values[c["claim"]] = []
            values[c["claim"]].append(c["value"])
            margins[c["claim"]] = (c["sense"], c["margin"])
    rows = []
    failed_runs = sum(1 for run in record["runs"] if run["status"] != "ok")
    for claim in order:
        vals = values[claim]
        sense, margin = margins[claim]
        worst = min(vals) if sense == ">=" else max(vals)
        holds = (worst >= margin) if sense == ">=" else (worst <= margin)
        rows.append({"claim": claim, "sense": sense, "margin": margin, "n": len(vals),
                     "mean": statistics.fmean(vals), "min": min(vals), "max": max(vals),
                     "holds": holds and len(vals) == len(record["runs"]) and not failed_runs})
    return rows


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def run(quick: bool = False, context: dict | None = None) -> Section:
    context = context or {}
    section = Section("claims", "5. Claims: every experiment over seeds and CPU configurations")
    wanted = context.get("notebooks") or []
    notebooks = {nb.parent.name: nb for nb in solution_notebooks()}
    unknown = [n for n in wanted if n not in notebooks and not any(k.startswith(n) for k in notebooks)]
    if unknown:
        raise ValueError(f"--notebooks: no solution notebook {unknown}; there are {sorted(notebooks)}")
    chosen = [k for k in notebooks if not wanted or any(k.startswith(n) for n in wanted)]
    if context.get("no_run"):
        chosen = []
    if quick:
        chosen = chosen[:1]
    seeds = 1 if quick else int(context.get("seeds") or SEEDS)
    jobs = int(context.get("jobs") or 1)
    CLAIMS_DIR.mkdir(exist_ok=True)
    for name in chosen:
        record = sweep(notebooks[name], seeds, jobs)
        if not quick:
            (CLAIMS_DIR / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        context.setdefault("claims_records", {})[name] = record
    records = {p.stem: json.loads(p.read_text()) for p in sorted(CLAIMS_DIR.glob("*.json"))}
    records.update(context.get("claims_records", {}))
    rows, flagged, times = [], [], []
    for name in sorted(records):
        record = records[name]
        ok_times = [r["seconds"] for r in record["runs"] if r["status"] == "ok"]
        failures = [f"{r['config']} run {r['run']}: {r['status']}" for r in record["runs"] if r["status"] != "ok"]
        times.append([name, record["measured"], str(len(record["runs"])),
                      f"{min(ok_times):.0f}-{max(ok_times):.0f}" if ok_times else "-",
                      "; ".join(failures) or "all ok"])
        for s in summarise(record):
            verdict = "holds in every run" if s["holds"] else "**CROSSES ITS MARGIN**"
            if not s["holds"]:
                flagged.append(f"{name}: {s['claim']}")
            rows.append([name, s["claim"], f"{s['sense']} {_fmt(s['margin'])}", _fmt(s["mean"]),
                         _fmt(s["min"]), _fmt(s["max"]), str(s["n"]), verdict])
        section.data[name] = {"summary": summarise(record), "measured": record["measured"]}
    configs = "; ".join(f"{k} ({' '.join(f'{a}={b}' for a, b in v.items())})" for k, v in CONFIGS.items())
    section.table(f"Per claim: the margin the notebook asserts, and the effect over {SEEDS} seeds "
                  f"(`tc.claims.seed`) in each of {len(CONFIGS)} CPU configurations: {configs}.",
                  ["notebook", "claim", "margin", "mean", "min", "max", "runs", "verdict"], rows)
    section.table("Sweep runs per notebook (seconds per run: wall time of one full notebook execution, "
                  "runs side by side when the sweep ran with several jobs)",
                  ["notebook", "swept", "runs", "seconds per run", "status"], times)
    if flagged:
        section.notes.append("Claims whose worst run crosses the margin (redesign these experiments): "
                             + "; ".join(flagged))
    return section
