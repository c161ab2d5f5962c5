"""Learning results: what the notebooks' experiments reach, with each notebook's seed and training time.

Read from the solution notebooks' printed output: the copies the ``course``
benchmark executed in this run when it ran, otherwise the outputs committed
in ``solutions/`` (kept current by nbval in ``make test``). Nothing is
retrained here, so the numbers are exactly what a student sees. Each headline
result names the line it came from; a result whose notebook does not exist
yet is listed as missing.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .common import REPO, Section
from .course import solution_notebooks

# (result, notebook folder, regular expression a printed line must match)
HEADLINES = [
    ("dates: exact match, RNN + attention", "02_seq2seq_attention", r"exact"),
    ("dates: exact match, transformer", "07_decoder_masking", r"exact"),
    ("GPT: validation loss", "09_gpt", r"validation loss"),
    ("fine-tuning: accuracy per method", "10_fine_tuning", r"^(learner|bag of words|from scratch|tiny BERT|MiniLM|"
                                                           r"pretrained)|accuracy"),
]
RESULT = re.compile(r"(accuracy|exact|loss|perplexity|nats|recall)", re.I)
NUMBER = re.compile(r"\d+\.\d+|\d+(\.\d+)?%")
TIME = re.compile(r"\bin (\d+(?:\.\d+)?) ?s\b")
SEED = re.compile(r"(?:seed_everything|manual_seed)\((\d+)\)|\bseed\s*=\s*(\d+)")


def printed_lines(nb) -> list[str]:
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += str(out.get("text", "")).splitlines()
            elif out.get("output_type") in ("execute_result", "display_data"):
                lines += str(out.get("data", {}).get("text/plain", "")).splitlines()
    return [line.rstrip() for line in lines if line.strip()]


def seeds(nb) -> list[str]:
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for a, b in SEED.findall(cell.source):
                if (a or b) not in found:
                    found.append(a or b)
    return found


def run(quick: bool = False, context: dict | None = None) -> Section:
    section = Section("learning", "5. Learning results (from the notebooks' printed output)")
    executed = (context or {}).get("executed", {})
    notebooks = {nb.parent.name: nb for nb in solution_notebooks()}
    source = {}
    rows, per_notebook = [], {}
    for name, path in sorted(notebooks.items()):
        fresh = name in executed
        nb = nbformat.read(str(executed[name] if fresh else path), as_version=4)
        lines = printed_lines(nb)
        source[name] = "executed in this run" if fresh else "committed outputs"
        times = [float(t) for line in lines for t in TIME.findall(line)]
        per_notebook[name] = {"lines": lines, "seeds": seeds(nb), "train_seconds": sum(times)}
        results = [line.strip() for line in lines if RESULT.search(line) and NUMBER.search(line)]
        section.data[name] = {"results": results, "seeds": per_notebook[name]["seeds"],
                              "train_seconds": sum(times), "source": source[name]}
        rows.append([name, ", ".join(per_notebook[name]["seeds"]) or "-",
                     f"{sum(times):.1f}" if times else "-", source[name],
                     "<br>".join(results[:12]) if results else "(no numeric result printed)"])
    headline_rows = []
    for label, name, pattern in HEADLINES:
        if name not in per_notebook:
            headline_rows.append([label, name, "-", "-", "missing: the notebook is not in the repository yet"])
            continue
        rx = re.compile(pattern, re.I)
        hits = [line.strip() for line in per_notebook[name]["lines"] if rx.search(line.strip())]
        info = per_notebook[name]
        headline_rows.append([label, name, ", ".join(info["seeds"]) or "-",
                              f"{info['train_seconds']:.1f}" if info["train_seconds"] else "-",
                              "<br>".join(hits[:10]) if hits else "not printed by the notebook"])
    section.table("Headline results. Seed: every seed the notebook's code sets; seconds: the training times the "
                  "notebook prints (its 'in N s' lines).",
                  ["result", "notebook", "seed(s)", "train s", "printed"], headline_rows)
    section.table("Every numeric learning result each notebook prints",
                  ["notebook", "seed(s)", "train s", "from", "results"], rows)
    return section
