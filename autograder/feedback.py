"""Feedback without hidden tests: an nbgrader preprocessor for generate_feedback.

nbgrader 0.9 keeps hidden tests in feedback. This removes the hidden block from
every cell's source and scrubs every output that quotes a hidden line: a
traceback shows the failing line, which may be a hidden one, and a submission
that captured a test cell's code while it ran may print it from any cell.
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

from autograder.protocol import hidden_lines

REDACTED = "(a hidden test failed here; its code is not shown)"
MIN_QUOTE = 12
# Tracebacks are coloured; a hidden line is only recognisable without the codes.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _scrub(text: str, secrets: list[str]) -> str:
    if not any(s in ANSI.sub("", text) for s in secrets):
        return text
    return "\n".join(REDACTED if any(s in ANSI.sub("", line) for s in secrets) else line
                     for line in text.split("\n"))


class StripHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from sources and from any output that quotes them."""

    def preprocess(self, nb, resources):
        clear = ClearHiddenTests()
        # Any cell may quote any hidden line; short ones ("pass") only count in their own cell.
        anywhere = {line for cell in nb.cells for line in hidden_lines(cell.source) if len(line) >= MIN_QUOTE}
        for cell in nb.cells:
            own = hidden_lines(cell.source)
            if own:
                clear._remove_hidden_test_region(cell)
            secrets = sorted(anywhere | set(own))
            if not secrets:
                continue
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
