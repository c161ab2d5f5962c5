"""Tables for the terminal and bench/RESULTS.md, from bench/results.json.

results.json keeps the latest run of every benchmark (with the time and load it
ran under), so ``python -m bench attention`` refreshes one section of
RESULTS.md and leaves the others as they were measured.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from .common import BENCH, Section, Target

RESULTS_JSON = BENCH / "results.json"
RESULTS_MD = BENCH / "RESULTS.md"


def text_table(header: list[str], rows: list[list[str]]) -> str:
    rows = [[str(c).replace("<br>", " / ") for c in row] for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def section_to_json(section: Section, machine: dict, when: str) -> dict:
    d = dataclasses.asdict(section)
    d.update(machine=machine, measured=when)
    return d


def section_from_json(d: dict) -> tuple[Section, dict, str]:
    d = dict(d)
    machine, when = d.pop("machine", {}), d.pop("measured", "?")
    d["targets"] = [Target(**t) for t in d.get("targets", [])]
    d["tables"] = [tuple(t) for t in d.get("tables", [])]
    d["load_before"] = tuple(d.get("load_before", (float("nan"),) * 3))
    return Section(**d), machine, when


def print_section(section: Section) -> None:
    print(f"\n== {section.title}  ({section.seconds:.0f} s, load before {section.load_before[0]:.1f})")
    for caption, header, rows in section.tables:
        print(f"\n{caption}\n{text_table(header, rows)}")
    if section.targets:
        print("\n" + text_table(["target", "measured", "wanted", "", "note"], [t.row() for t in section.targets]))
    for note in section.notes:
        print(f"- {note}")


def load_stored() -> dict:
    if RESULTS_JSON.exists():
        try:
            return json.loads(RESULTS_JSON.read_text())
        except json.JSONDecodeError:
            pass
    return {}


def store(sections: list[Section], machine: dict, order: list[str]) -> dict:
    stored = load_stored()
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    for s in sections:
        stored[s.name] = section_to_json(s, machine, when)
    stored = {name: stored[name] for name in order if name in stored}
    RESULTS_JSON.write_text(json.dumps(stored, indent=1, default=str) + "\n")
    return stored


def write_markdown(stored: dict, run_info: dict) -> Path:
    lines = ["# Benchmark results", "",
             "Written by `make bench` (`python -m bench`); do not edit by hand. Every timing is a ratio "
             "against a reference measured in the same process, the two run alternately, and the median "
             "of the rounds is quoted (min-max in brackets). Absolute times are given for orientation only.", ""]
    lines += ["## Machine", "", md_table(["", ""], [[k, v] for k, v in run_info.items()]), ""]
    all_targets = []
    for d in stored.values():
        section, machine, when = section_from_json(d)
        all_targets += [(section, t) for t in section.targets]
    if all_targets:
        lines += ["## Targets", "",
                  md_table(["target", "measured", "wanted", "", "note"], [t.row() for _, t in all_targets]), ""]
    for d in stored.values():
        section, machine, when = section_from_json(d)
        load = section.load_before
        lines += [f"## {section.title}", "",
                  f"Measured {section.started or when} in {section.seconds:.0f} s; load average before it: "
                  f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) on "
                  f"{machine.get('cores', '?')} cores."
                  + (" **The machine was shared (load above 3): absolute times are inflated and ratios "
                     "are noisier than on an idle machine.**" if load[0] > 3 else ""), ""]
        for caption, header, rows in section.tables:
            lines += [caption, "", md_table(header, rows), ""]
        if section.targets:
            lines += [md_table(["target", "measured", "wanted", "", "note"], [t.row() for t in section.targets]), ""]
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    RESULTS_MD.write_text("\n".join(lines).rstrip() + "\n")
    return RESULTS_MD
