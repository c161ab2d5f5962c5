"""Fine-tuning: notebook 10's six learners, the time each one takes and its held-out accuracy.

The learners, their recipe and their data live in the notebook
(``solutions/10_fine_tuning``): bag of words, a tiny BERT from scratch and
pretrained, MiniLM frozen, with its top half trained, and fully fine-tuned.
This benchmark reads the table the notebook prints (the cell tagged
``finetune-results``) from one full run: the run of the ``course`` benchmark
when it ran in the same ``python -m bench``, otherwise a run of its own
(``jupyter nbconvert --execute``, CPU, torch's default threads). Per learner:
accuracy on its training set and on the held-out test (all, with negation,
without), wall seconds and CPU seconds (all threads) of its training. The
spread over seeds and CPUs of the differences the notebook claims is in the
``claims`` section. ``--quick`` runs the notebook's shortened version
(``NBGRADER_EXECUTION``), as the autograder does.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, Section, load_average, log

NOTEBOOK = REPO / "solutions" / "10_fine_tuning" / "10_fine_tuning.ipynb"
TAG = "finetune-results"
COLUMNS = ["training set", "test: all", "negation", "no negation", "seconds", "CPU s"]
ROW = re.compile(r"^(?P<name>\S.*?)\s{2,}" + r"\s+".join([r"(-?[\d.]+|nan)"] * len(COLUMNS)) + r"\s*$")


def execute(out_dir: Path, shortened: bool, timeout: int = 900) -> tuple[Path | None, float, str]:
    env = dict(os.environ, TC_DEVICE=os.environ.get("TC_DEVICE", "cpu"), MPLBACKEND="Agg", TQDM_DISABLE="1",
               PYTHONPATH=os.pathsep.join([str(REPO / "lib"), os.environ.get("PYTHONPATH", "")]))
    env.pop("NBGRADER_EXECUTION", None)
    if shortened:
        env["NBGRADER_EXECUTION"] = "autograde"
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
           f"--ExecutePreprocessor.timeout={timeout}", "--output-dir", str(out_dir), str(NOTEBOOK)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=NOTEBOOK.parent, env=env, capture_output=True, text=True, timeout=timeout + 120)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start, f"killed after {timeout + 120} s"
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or ["?"]
        return None, seconds, f"failed: {last[0][:160]}"
    return out_dir / NOTEBOOK.name, seconds, "ok"


def results_table(executed: Path) -> list[dict]:
    """The rows of the results cell of an executed copy of the notebook."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    cells = [c for c in nb.cells if TAG in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{executed.name}: expected one cell tagged {TAG!r}, found {len(cells)}")
    text = "".join(o.get("text", "") for o in cells[0].get("outputs", []) if o.get("output_type") == "stream")
    rows = []
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            values = [float(v) for v in match.groups()[1:]]
            rows.append({"learner": match.group("name").strip(), **dict(zip(COLUMNS, values))})
    if not rows:
        raise ValueError(f"{executed.name}: no result rows in the {TAG!r} cell; it printed:\n{text[:500]}")
    return rows


def run(quick: bool = False, context: dict | None = None) -> Section:
    context = context or {}
    section = Section("finetune", "6. Fine-tuning: notebook 10's learners, time and held-out accuracy")
    executed = None if quick else (context.get("executed") or {}).get(NOTEBOOK.parent.name)
    source = "the course benchmark's run of the notebook"
    if executed is None:
        tmp = Path(tempfile.mkdtemp(prefix="tc-bench-finetune-"))
        load = load_average()[0]
        log(f"  finetune: executing {NOTEBOOK.relative_to(REPO)}{' (shortened)' if quick else ''}, load {load:.1f}")
        executed, seconds, status = execute(tmp, shortened=quick)
        if executed is None:
            raise RuntimeError(f"{NOTEBOOK.name}: {status}")
        source = f"a run of its own ({seconds:.0f} s{', shortened as under the autograder' if quick else ''})"
    rows = results_table(executed)
    section.table(f"From {source}: {os.cpu_count()} cores, torch's default threads (the tiny models run on one), "
                  "CPU. Accuracy on the 256 labelled training reviews and on the 600 held-out test reviews; "
                  "seconds of training (wall) and CPU seconds summed over threads. One seed: the ranges of the "
                  "claimed differences are in the Claims section.",
                  ["learner", *COLUMNS],
                  [[r["learner"], *(f"{r[c]:.3f}" if c not in ("seconds", "CPU s") else f"{r[c]:.1f}"
                                    for c in COLUMNS)] for r in rows])
    section.data["learners"] = rows
    total = sum(r["seconds"] for r in rows)
    section.notes.append(f"All six learners together: {total:.0f} s of training (wall) in this run; on a shared "
                         "machine the CPU seconds are the steadier measure of cost.")
    return section
