"""The README's Python example must run as written."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip(), "the example printed nothing"


def test_readme_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"^make (\w+)", (ROOT / "README.md").read_text(), flags=re.M)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), \
            f"README mentions `make {target}`, the Makefile has no such target"
