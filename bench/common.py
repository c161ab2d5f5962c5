"""What every benchmark shares: timing by interleaved ratios, the machine's description, results.

A shared or noisy machine makes absolute times meaningless, so every claim is a
*ratio* against a reference measured in the same process moments earlier: the
candidate and the reference run alternately (A B A B ...), each round gives one
ratio, and the median of the rounds is quoted together with its spread.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values) -> str:
    """``min-max`` of a list, as the honest error bar of a median of a few rounds."""
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def time_once(fn: Callable[[], object], number: int = 1) -> float:
    """Seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, number: int = 1, warmup: int = 1
                ) -> dict[str, list[float]]:
    """Time each function once per round, alternating within the round; seconds per call per round.

    The order is rotated every round so neither side always runs first (caches,
    turbo, a neighbour's burst of load).
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times[name].append(time_once(fns[name], number))
    return times


def ratios(times: dict[str, list[float]], num: str, den: str) -> list[float]:
    """Per-round ratio ``num / den`` (both measured in the same round)."""
    return [a / b for a, b in zip(times[num], times[den])]


def profile_ops(step: Callable[[], object], repeats: int) -> tuple[list, float]:
    """Profile `repeats` calls of `step` (after one warm-up call) on the CPU.

    Returns the profiler's per-op averages sorted by self CPU time, and their total.
    """
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return events, sum(e.self_cpu_time_total for e in events) or 1


def op_table(events: list, total: float, repeats: int, rows: int, digits: int = 2) -> list[list[str]]:
    """Rows of [op, calls per step, self ms per step, share of the total] for the top `rows` ops."""
    return [[e.key, str(e.count // repeats), f"{e.self_cpu_time_total / repeats / 1000:.{digits}f}",
             f"{e.self_cpu_time_total / total:.0%}"] for e in events[:rows]]


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    try:
        info["memory"] = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    return info


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out + (" (+ uncommitted changes)" if dirty else "") if out else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class Target:
    """A claim with a threshold: ``value`` compared against ``threshold`` (``<=`` or ``>=``)."""
    name: str
    value: float
    threshold: float
    op: str  # "<=" or ">="
    unit: str = "x"
    note: str = ""

    @property
    def met(self) -> bool:
        return self.value <= self.threshold if self.op == "<=" else self.value >= self.threshold

    def row(self) -> list[str]:
        fmt = (lambda v: f"{v:.0%}") if self.unit == "%" else (lambda v: f"{v:.2f}{self.unit}")
        return [self.name, fmt(self.value), f"{self.op} {fmt(self.threshold)}",
                "met" if self.met else "MISSED", self.note]


@dataclass
class Section:
    """One benchmark's results: tables (header + rows), targets, and prose notes for RESULTS.md."""
    name: str
    title: str
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_before: tuple[float, float, float] = (float("nan"),) * 3
    started: str = ""  # local time the benchmark started
    data: dict = field(default_factory=dict)  # machine-readable numbers for results.json

    def table(self, caption: str, header: list[str], rows: list[list]) -> None:
        self.tables.append((caption, header, [[str(c) for c in row] for row in rows]))


def log(*args) -> None:
    """Progress to stderr, so stdout is just the final tables."""
    print(*args, file=sys.stderr, flush=True)
