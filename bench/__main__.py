"""python -m bench [BENCHMARK ...] [--quick] [--no-write]: run benchmarks, print tables, write bench/RESULTS.md.

Benchmarks, in the order they run: attention, gpt, ddp, grading, course, claims, finetune.
``course`` times every solution notebook top to bottom; ``claims`` re-runs every
notebook over seeds and CPU configurations and reports each experiment's effect
against the margin its notebook asserts (``--notebooks`` limits it to some
notebooks, ``--no-run`` only gathers the stored sweeps in bench/claims/); ``finetune``
reports notebook 10's learners (time and held-out accuracy), from the course run when there was one.
``--quick`` runs tiny versions to check the code, and writes nothing.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from .common import Section, git_commit, load_average, log, machine
from .report import print_section, store, write_markdown

BENCHMARKS = ["attention", "gpt", "ddp", "grading", "course", "claims", "finetune"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="*", choices=[[]] + BENCHMARKS, metavar="BENCHMARK",
                        help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny settings, to test the benchmarks; writes nothing")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1)),
                        help="torch threads for the in-process benchmarks (default 1, or $BENCH_THREADS): "
                             "one thread keeps ratios stable on a shared machine; the ddp benchmark uses all cores")
    parser.add_argument("--notebooks", nargs="+", default=[], metavar="NN",
                        help="claims: sweep only these notebooks (a prefix such as 02 is enough)")
    parser.add_argument("--seeds", type=int, default=None, help="claims: seed runs per CPU configuration (default 5)")
    parser.add_argument("--jobs", type=int, default=1, help="claims: notebook runs side by side (default 1)")
    parser.add_argument("--no-run", action="store_true",
                        help="claims: run nothing, gather the sweeps stored in bench/claims/")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if b in args.benchmarks] or BENCHMARKS
    os.environ.setdefault("TC_DEVICE", "cpu")  # CPU numbers; the GPU part needs a lent GPU (see RESULTS.md)

    import torch
    torch.set_num_threads(args.threads)
    start, load_start = time.perf_counter(), load_average()
    info = machine()
    log(f"bench: {', '.join(chosen)} on {info['cpu']} ({info['cores']} cores, torch {info['torch']}), "
        f"load {load_start[0]:.2f}")
    sections = []
    context = {"notebooks": args.notebooks, "seeds": args.seeds, "jobs": args.jobs, "no_run": args.no_run}
    for name in chosen:
        module = importlib.import_module(f"bench.{name.replace('-', '_')}")
        load = load_average()
        t0 = time.perf_counter()
        log(f"[{name}] starting (load {load[0]:.2f})")
        try:
            section = module.run(quick=args.quick, context=context) \
                if "context" in module.run.__code__.co_varnames else module.run(quick=args.quick)
        except Exception as error:  # one broken benchmark must not lose the others' results
            import traceback
            traceback.print_exc()
            section = Section(name, f"{name} (failed)")
            section.notes.append(f"the benchmark failed in this run: {type(error).__name__}: {str(error)[-500:]}")
        section.seconds, section.load_before = time.perf_counter() - t0, load
        section.started = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(time.time() - section.seconds))
        log(f"[{name}] done in {section.seconds:.0f} s")
        print_section(section)
        sections.append(section)
    total = time.perf_counter() - start
    load_end = load_average()
    print(f"\nbench: {len(sections)} benchmark(s) in {total / 60:.1f} min; load average "
          f"{load_start[0]:.2f} before, {load_end[0]:.2f} after")
    if args.quick or args.no_write:
        return 0
    run_info = dict(info)
    run_info.update({
        "commit": git_commit(),
        "last run": f"{', '.join(chosen)} in {total / 60:.1f} min",
        "load average (1 min) at start / end": f"{load_start[0]:.2f} / {load_end[0]:.2f}",
    })
    if max(load_start[0], load_end[0]) > 3:
        run_info["note"] = ("the machine was shared with other work during this run (load above 3 on "
                            f"{info['cores']} cores); ratios are measured in the same process and interleaved, "
                            "but they are noisier and absolute times are inflated")
    stored = store(sections, info, BENCHMARKS)
    path = write_markdown(stored, run_info)
    print(f"wrote {path.relative_to(path.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
