"""Feedback without hidden tests: an nbgrader preprocessor for generate_feedback.

nbgrader 0.9 keeps hidden tests in feedback. This removes the hidden block from
every cell's source and scrubs outputs that quote it (a traceback shows the
failing line, which may be a hidden one).
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
REDACTED = "(a hidden test failed here; its code is not shown)"
# Tracebacks are coloured; a hidden line is only recognisable without the codes.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def hidden_lines(source: str) -> list[str]:
    """Non-trivial lines inside hidden-test blocks (what must not leak)."""
    lines, inside = [BEGIN, END] if BEGIN in source else [], False
    for line in source.splitlines():
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside and len(line.strip()) > 3:
            lines.append(line.strip())
    return lines


def _scrub(text: str, secrets: list[str]) -> str:
    if not any(s in ANSI.sub("", text) for s in secrets):
        return text
    return "\n".join(REDACTED if any(s in ANSI.sub("", line) for s in secrets) else line
                     for line in text.split("\n"))


class StripHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from sources and from any output that quotes them."""

    def preprocess(self, nb, resources):
        clear = ClearHiddenTests()
        for cell in nb.cells:
            secrets = hidden_lines(cell.source)
            if not secrets:
                continue
            clear._remove_hidden_test_region(cell)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [_scrub(line, secrets) for line in output.get("traceback", [])]
                    output["evalue"] = _scrub(output.get("evalue", ""), secrets)
                elif output.get("output_type") == "stream":
                    output["text"] = _scrub(output.get("text", ""), secrets)
                else:
                    for key, value in output.get("data", {}).items():
                        if isinstance(value, str):
                            output["data"][key] = _scrub(value, secrets)
        return nb, resources
