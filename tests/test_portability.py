"""What students run (the notebooks and the library) must work on Windows and macOS too.

The scan reads the library's modules and the code cells of every solution
notebook and fails on what only works on a POSIX system: shell escapes and
shell commands, POSIX-only modules, absolute POSIX paths, and text files
opened without an encoding (Windows' default is not UTF-8).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSIX_MODULES = {"resource", "fcntl", "pwd", "grp", "termios", "pty", "posix", "tty", "crypt"}
POSIX_CALLS = {("os", "fork"), ("os", "system"), ("os", "getuid"), ("os", "geteuid"), ("os", "setsid"),
               ("os", "killpg"), ("os", "getpgid"), ("signal", "SIGKILL"), ("os", "mkfifo"), ("os", "chown")}
POSIX_PATH = re.compile(r"^/(tmp|usr|dev|proc|etc|home|var|opt|bin|root)(/|$)|^~/")
TEXT_OPENERS = {"read_text", "write_text"}


def _sources():
    for path in sorted((ROOT / "lib").rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                yield f"{path.relative_to(ROOT).as_posix()} code cell {i}", "".join(cell["source"])


SOURCES = list(_sources())


def problems(source: str) -> list[str]:
    found, python = [], []
    for line in source.splitlines():
        if re.match(r"\s*(!|%%?(bash|sh|system|script)\b|%sx\b)", line):
            found.append(f"shell escape: {line.strip()!r}")
        # IPython's ! and % lines are not Python: keep the line count, drop the line.
        python.append("" if re.match(r"\s*[!%]", line) else line)
    tree = ast.parse("\n".join(python))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"POSIX-only module {a.name}" for a in node.names if a.name.split(".")[0] in POSIX_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_MODULES:
            found.append(f"POSIX-only module {node.module}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (node.value.id, node.attr) in POSIX_CALLS:
            found.append(f"POSIX-only {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "subprocess":
            found.append("a subprocess (shell commands differ between systems)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and POSIX_PATH.match(node.value):
            found.append(f"absolute POSIX path {node.value!r}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            keywords = {k.arg for k in node.keywords}
            binary = any(isinstance(a, ast.Constant) and isinstance(a.value, str) and "b" in a.value
                         for a in node.args[1:2]) or any(
                k.arg == "mode" and isinstance(k.value, ast.Constant) and "b" in str(k.value.value)
                for k in node.keywords)
            if (name in TEXT_OPENERS or (name == "open" and not binary)) and "encoding" not in keywords:
                found.append(f"text file opened without encoding= ({name}): Windows' default is not UTF-8")
    return found


@pytest.mark.parametrize("where, source", SOURCES, ids=[w for w, _ in SOURCES])
def test_runs_on_any_system(where, source):
    assert not problems(source), f"{where}: " + "; ".join(problems(source))


@pytest.mark.parametrize("snippet, complaint", [
    ("!pip install torch", "shell escape"),
    ("%%bash\nls", "shell escape"),
    ("import resource", "POSIX-only module"),
    ("import os\nos.system('ls')", "os.system"),
    ("import subprocess\nsubprocess.run(['ls'])", "subprocess"),
    ("p = '/tmp/data.txt'", "absolute POSIX path"),
    ("open('notes.txt').read()", "without encoding"),
    ("from pathlib import Path\nPath('a').read_text()", "without encoding"),
])
def test_the_scan_catches_each_kind(snippet, complaint):
    assert any(complaint in p for p in problems(snippet)), problems(snippet)


def test_the_scan_accepts_portable_code():
    ok = ("from pathlib import Path\nimport tempfile\nd = Path(tempfile.gettempdir()) / 'x.txt'\n"
          "d.write_text('hi', encoding='utf-8')\nopen(d, 'rb').read()\nopen(d, encoding='utf-8').read()\n"
          "ratio = 3 / 4\n")
    assert problems(ok) == []
