"""Training past one device: the train module's DDP path under torchrun, 2 CPU processes vs 1.

Same model and global batch: one process with 2 threads and the whole batch,
against ``torchrun --nproc_per_node=2`` with 1 thread and half the batch each
(gloo all-reduce of the gradients after every backward). The two are run
alternately, a few times each; the speed-up is the median of the per-pair
ratios of tokens/s (both processes counted). A machine with 2 cores cannot
win much here: the same cores do the same FLOPs, and DDP adds the all-reduce
and a second Python process; the point is that the path runs and what it costs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import REPO, Section, log, median, spread
from .gpt import BATCH, CONFIG, QUICK_BATCH, QUICK_CONFIG

WORKER = Path(__file__).with_name("ddp_worker.py")


def launch(procs: int, threads: int, batch: int, steps: int, config: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="tc-bench-ddp-") as tmp:
        out = Path(tmp) / "result.json"
        args = [str(out), str(threads), str(batch), str(steps), json.dumps(config)]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), TC_DEVICE="cpu",
                   PYTHONPATH=os.pathsep.join([str(REPO / "lib"), os.environ.get("PYTHONPATH", "")]))
        for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(key, None)
        if procs == 1:
            cmd = [sys.executable, str(WORKER), *args]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
                   str(WORKER), *args]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{' '.join(cmd[:6])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


def run(quick: bool = False) -> Section:
    section = Section("ddp", "Scale: DDP training on 2 CPU processes (torchrun) vs 1 process")
    config, batch = (QUICK_CONFIG, QUICK_BATCH) if quick else (CONFIG, BATCH)
    repeats, steps = (1, 3) if quick else (3, 8)
    cores = os.cpu_count() or 1
    one, single, double = [], [], []
    for r in range(repeats):
        log(f"  ddp: round {r + 1}/{repeats}")
        one.append(launch(1, 1, batch, steps, config))
        single.append(launch(1, min(2, cores), batch, steps, config))
        double.append(launch(2, 1, batch // 2, steps, config))
    speedup = [d["tokens_per_sec"] / s["tokens_per_sec"] for s, d in zip(single, double)]
    vs_one = [d["tokens_per_sec"] / s["tokens_per_sec"] for s, d in zip(one, double)]
    threads_vs_one = [d["tokens_per_sec"] / s["tokens_per_sec"] for s, d in zip(one, single)]
    tok0 = median([s["tokens_per_sec"] for s in one])
    tok1 = median([s["tokens_per_sec"] for s in single])
    tok2 = median([d["tokens_per_sec"] for d in double])
    section.table(
        f"GPT {config}, global batch {batch} x {config['block_size']} tokens, {steps} timed steps per run after "
        f"2 warm-up steps, {repeats} rounds of the three runs in turn; tokens/s counts all processes. Speed-ups "
        "are medians of per-round ratios.",
        ["setup", "tokens/s (median)", "vs 1 process, 1 thread", "vs 1 process, 2 threads"],
        [[f"1 process, 1 thread, batch {batch}", f"{tok0:,.0f}", "1.00", "-"],
         [f"1 process, {min(2, cores)} threads, batch {batch}", f"{tok1:,.0f}",
          f"{median(threads_vs_one):.2f} ({spread(threads_vs_one)})", "1.00"],
         [f"torchrun 2 processes (gloo), 1 thread each, batch {batch // 2} each", f"{tok2:,.0f}",
          f"{median(vs_one):.2f} ({spread(vs_one)})", f"{median(speedup):.2f} ({spread(speedup)})"]])
    collapse = median(threads_vs_one) < 0.8
    section.notes.append(
        f"Against one single-threaded process (one worker's worth of compute) 2 DDP processes reach "
        f"{median(vs_one):.2f}x of its tokens/s; the ideal on 2 idle cores is 2.00x. What is lost goes to the "
        "gloo all-reduce of every gradient after each backward, a second interpreter, and the cores' other load.")
    if collapse:
        section.notes.append(
            f"One process with {min(2, cores)} threads ran at {median(threads_vs_one):.2f}x of one thread: "
            "with more runnable threads than free cores, torch's OpenMP threads wait for each other at every op "
            "whenever the OS deschedules one, so intra-op threading collapses on a busy machine while separate "
            f"processes do not. That is why DDP shows {median(speedup):.2f}x against it here; on an idle machine "
            "the two-thread process is the stronger baseline.")
    else:
        section.notes.append(
            f"Against one process using both cores with {min(2, cores)} threads DDP reaches {median(speedup):.2f}x. "
            "On one machine both split the same cores; DDP pays off with one process per GPU or per machine, "
            "where each process brings its own compute.")
    section.data.update({"speedup vs 1 process 2 threads": median(speedup), "speedup vs 1 process 1 thread":
                         median(vs_one), "tokens_per_sec": {"1p1t": tok0, "1p2t": tok1, "2p1t": tok2}})
    return section
